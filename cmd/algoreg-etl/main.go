// Command algoreg-etl keeps the Algoreg compliance platform in step with a
// company's customer database: it reads the customers that changed in a
// PostgreSQL source, sends them to the Algoreg "Save customers" API, and
// records what it did in state tables.
//
// Usage:
//
//	algoreg-etl <command> [flags]
//
// Commands:
//
//	migrate   create or upgrade the state schema
//	run       run one job once (or --verify it, or check it --offline)
//	backfill  re-send a range of a job's rows, without moving its watermark
//	retry     retry the rows of a job's open record errors
//	serve     run the jobs on their schedules; serve /metrics, /healthz, /readyz
//	reconcile compare a job's whole query with what the API accepted
//	report    report runs, one run, record errors or one customer; --html for auditors
//	prune     delete the record history of runs older than history_days
//	sandbox   serve a local stand-in of the Algoreg API
//	demo      set up the example database and sandbox, and run the example job
//
// Exit codes:
//
//	0  success: every row read was sent or skipped
//	1  failure: the run or command failed (see its message and the run row)
//	2  usage or configuration error: nothing was run
//	3  the job is being run by another process: nothing was run
//	4  interrupted: the run stopped on a signal after checkpointing
//	5  the run finished, but some records were invalid or refused by the
//	   API; they are recorded as record errors
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "time/tzdata" // zone names load on hosts without a time zone database

	"golang.org/x/term"
)

// Exit codes, documented on the package and in the README.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitLocked      = 3
	exitInterrupted = 4
	exitRecordErrs  = 5
)

// A command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	usage   string // arguments after the command's name
	example string
	run     func(ctx context.Context, app *app, fs *flag.FlagSet, args []string) int
	flags   func(fs *flag.FlagSet) // declares the command's own flags
}

// app holds what every command shares.
type app struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	configPath     string
}

var commands = []*command{migrateCmd, runCmd, backfillCmd, retryCmd, serveCmd, reconcileCmd, reportCmd, pruneCmd, sandboxCmd, demoCmd}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the CLI with args (without the program name) and returns the
// exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	var cmd *command
	for _, c := range commands {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "algoreg-etl: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}

	a := &app{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("algoreg-etl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.configPath, "config", os.Getenv("ALGOREG_ETL_CONFIG"), "config file (default $ALGOREG_ETL_CONFIG)")
	logFormat := fs.String("log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: algoreg-etl %s %s\n\n%s\n\nFlags:\n", cmd.name, cmd.usage, cmd.summary)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nExample:\n  %s\n", strings.ReplaceAll(cmd.example, "\n", "\n  "))
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(stderr, "algoreg-etl: %v\n", err)
		return exitUsage
	}
	a.logger = logger
	return cmd.run(ctx, a, fs, fs.Args())
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: algoreg-etl <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'algoreg-etl <command> -h' for a command's flags and an example.")
}

// newLogger returns a logger writing to w in the given format.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text, json or auto", format)
}

// fail reports err and returns the exit code that fits it.
func (a *app) fail(err error, code int) int {
	fmt.Fprintf(a.stderr, "algoreg-etl: %v\n", err)
	return code
}
