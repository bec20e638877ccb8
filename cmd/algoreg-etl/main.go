// Command algoreg-etl keeps the Algoreg compliance platform in step with a
// company's customer database: it reads the customers that changed in a
// PostgreSQL source, sends them to the Algoreg "Save customers" API, and
// records what it did in state tables.
//
// Usage:
//
//	algoreg-etl COMMAND [ARGS] [flags]
//
// Flags may come before or after the arguments. `algoreg-etl help` lists
// the commands, `algoreg-etl help COMMAND` (or `COMMAND --help`) shows a
// command's flags, examples and exit codes, and `algoreg-etl completion
// bash|zsh|fish` writes a shell completion script.
//
// Exit codes:
//
//	0  success (for a run: every row read was sent or skipped, or its record
//	   errors are none that the job's exit_on_errors reports)
//	1  failure: the run or command failed (see its message and the run row)
//	2  usage or configuration error: nothing was run
//	3  the job is being run by another process: nothing was run
//	4  interrupted: the run stopped on a signal after checkpointing
//	5  finished with record errors that the job's exit_on_errors reports:
//	   new (the default) reports errors of a row and reason that had no
//	   open error before the run, any every error, never none; all are in
//	   record_errors
//	6  the API refused the credentials (a login, or a call answered 401
//	   or 403 that no fresh token mends): the run stopped; a refused login
//	   is never tried again; check algoreg.username and its key
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	_ "time/tzdata" // zone names load on hosts without a time zone database

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/algoreg/algoreg-etl/pipeline"
)

// Exit codes, documented on the package, in every command's help and in
// the README.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitLocked      = 3
	exitInterrupted = 4
	exitRecordErrs  = 5
	exitAuth        = 6
)

// app holds what every command shares.
type app struct {
	stdout, stderr io.Writer
	logger         *slog.Logger
	configPath     string
	logFormat      string
	logLevel       string

	cmd  *cobra.Command // the command being run
	code int            // its exit code
}

func main() {
	pipeline.TuneGC()
	// The demo prints commands that name the binary as it was started
	// (bin/algoreg-etl), unless `go run` built it in a temporary folder.
	if p := os.Args[0]; strings.Contains(p, string(os.PathSeparator)) && !strings.Contains(p, "go-build") {
		programName = p
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the CLI with args (without the program name) and returns the
// exit code. Each call builds its own command tree: nothing is kept
// between calls.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	root := a.rootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		return a.usage(cmd, err)
	}
	return a.code
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
	if code == exitUsage && errors.As(err, new(*usageError)) {
		return a.usage(a.cmd, err)
	}
	fmt.Fprintf(a.stderr, "algoreg-etl: %v\n", err)
	return code
}

// badArg reports a wrong argument or flag value of the running command, in
// one line and a hint, and returns exitUsage.
func (a *app) badArg(format string, args ...any) int {
	return a.usage(a.cmd, usageErrorf(format, args...))
}
