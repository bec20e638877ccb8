package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/algoreg/algoreg-etl/appname"
	"github.com/algoreg/algoreg-etl/configs"
)

// This file builds the command tree on spf13/cobra and pflag: GNU flags
// anywhere on the line, help, completion, and usage errors in one line.
//
// A command is a method of app returning its *cobra.Command, added in
// rootCmd. It sets Use ("name ARG"), Short, Long, an Example of lines run
// as written by the examples test, Args (wantArgs), and a Run that sets
// a.code; its flags are local variables; exits lists its exit codes for
// the help. A wrong argument found in Run is reported with a.badArg (one
// line, a hint, exit 2); a config is loaded with a.loadConfig and the
// parts of it the command uses.

// A usageError is a wrong command, argument or flag: it is reported in one
// line with a hint, and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// Exit codes and what they mean, for the help.
var exitMeanings = map[int]string{
	exitOK:          "success: every row read was sent or skipped, or its record errors are none that the job's exit_on_errors reports",
	exitFailed:      "failure: the run or command failed (the message and the run row say why)",
	exitUsage:       "usage or configuration error: nothing was run",
	exitLocked:      "the job is being run by another process: nothing was run",
	exitInterrupted: "interrupted by a signal, after checkpointing",
	exitRecordErrs: "finished with record errors that the job's exit_on_errors reports: new (the default) reports " +
		"errors of a row and reason that had no open error before the run, any every error, never none; " +
		"all are in record_errors",
	exitAuth: "the API refused the credentials (the message names the user, never the key): the run stopped; a refused login is never tried again",
}

// Exit codes a command may return, set with exits.
const exitsKey = "exit-codes"

// exits records on cmd the exit codes it may return, for its help.
func exits(cmd *cobra.Command, codes ...int) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	var s []string
	for _, c := range codes {
		s = append(s, fmt.Sprint(c))
	}
	cmd.Annotations[exitsKey] = strings.Join(s, " ")
	return cmd
}

// Exit codes of the commands that run a job, and of the others.
var (
	runExits   = []int{exitOK, exitFailed, exitUsage, exitLocked, exitInterrupted, exitRecordErrs, exitAuth}
	plainExits = []int{exitOK, exitFailed, exitUsage}
)

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "algoreg-etl",
		Short: "Keep Algoreg in step with a PostgreSQL customer database",
		Long: "algoreg-etl reads the customers that changed in a PostgreSQL source database, " +
			"sends them to the Algoreg \"Save customers\" API in concurrent chunks, and records " +
			"watermarks, runs and per-record errors in state tables.\n\n" +
			"Flags may come before or after a command's arguments. The config file is given " +
			"with --config or $ALGOREG_ETL_CONFIG.",
		Example: "algoreg-etl migrate\n" +
			"algoreg-etl run customers\n" +
			"algoreg-etl help report",
		SilenceErrors:      true,
		SilenceUsage:       true,
		DisableSuggestions: true, // usage gives them, in one line
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			// No command: the help, as a usage error.
			a.help(a.stderr, cmd)
			a.code = exitUsage
			return nil
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			a.cmd = cmd
			// Its sessions are named algoreg-etl/report, ...; a run names
			// them after its job and run, serve after its instance.
			cmd.SetContext(appname.With(cmd.Context(), appname.Of(cmd.Name())))
			if !cmd.Flags().Changed("config") {
				a.configPath = os.Getenv("ALGOREG_ETL_CONFIG")
			}
			logger, err := newLogger(a.stderr, a.logFormat, a.logLevel)
			if err != nil {
				return &usageError{err.Error()}
			}
			a.logger = logger
			return nil
		},
	}
	exits(root, runExits...)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { a.help(cmd.OutOrStdout(), cmd) })
	root.SetUsageFunc(func(cmd *cobra.Command) error { a.help(cmd.OutOrStderr(), cmd); return nil })

	pf := root.PersistentFlags()
	pf.StringVarP(&a.configPath, "config", "c", "", "the config `FILE` (default $ALGOREG_ETL_CONFIG)")
	pf.StringVar(&a.logFormat, "log-format", "auto", "`FORMAT` of the logs: text, json, or auto (text on a terminal, JSON otherwise)")
	pf.StringVar(&a.logLevel, "log-level", "info", "`LEVEL` of the logs: debug, info, warn or error")
	root.MarkPersistentFlagFilename("config", "yaml", "yml")
	completeValues(root, "log-format", "text", "json", "auto")
	completeValues(root, "log-level", "debug", "info", "warn", "error")

	root.AddCommand(a.migrateCmd(), a.runCmd(), a.backfillCmd(), a.retryCmd(), a.serveCmd(), a.reconcileCmd(),
		a.reportCmd(), a.pruneCmd(), a.releaseCmd(), a.checkCmd(), a.sandboxCmd(), a.demoCmd(), a.versionCmd())
	root.SetHelpCommand(a.helpCmd())
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			a.decorateCompletion(c)
		}
	}
	return root
}

// helpCmd is `help [COMMAND]`: the same page as `COMMAND --help`.
func (a *app) helpCmd() *cobra.Command {
	return exits(&cobra.Command{
		Use:     "help [COMMAND]",
		Short:   "Show the help of a command",
		Long:    "Show the help of a command: the same page as COMMAND --help.",
		Example: "algoreg-etl help run\nalgoreg-etl help report",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			var names []cobra.Completion
			for _, c := range cmd.Root().Commands() {
				if c.IsAvailableCommand() && strings.HasPrefix(c.Name(), toComplete) {
					names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil {
				return err
			}
			if len(rest) > 0 && target.HasAvailableSubCommands() {
				return unknownCommand(target, rest[0])
			}
			target.InitDefaultHelpFlag() // as --help shows it
			a.help(a.stdout, target)
			return nil
		},
	}, plainExits...)
}

// decorateCompletion words cobra's completion commands like every other
// command: a description, examples and exit codes.
func (a *app) decorateCompletion(c *cobra.Command) {
	c.Short = "Write a shell completion script (bash, zsh or fish)"
	c.Long = "Write the completion script of a shell to standard output. With it loaded, Tab " +
		"completes the commands, the flags, the jobs of the config file, and the values of " +
		"--format, --risk-scan, --log-format and --log-level."
	c.Example = "source <(algoreg-etl completion bash)\n" +
		"algoreg-etl completion zsh > _algoreg-etl\n" +
		"algoreg-etl completion fish > algoreg-etl.fish"
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return unknownCommand(cmd, args[0])
		}
		return nil
	}
	c.Run = func(cmd *cobra.Command, args []string) {
		a.code = a.badArg("missing the shell: bash, zsh or fish")
	}
	exits(c, plainExits...)
	for _, sub := range c.Commands() {
		switch sub.Name() {
		case "bash":
			sub.Short = "Write the bash completion script"
			sub.Long = "Write the bash completion script to standard output. It needs the " +
				"bash-completion package. The example loads it in the current shell; to load it in " +
				"every new one, save it as /etc/bash_completion.d/algoreg-etl or " +
				"~/.local/share/bash-completion/completions/algoreg-etl."
			sub.Example = "source <(algoreg-etl completion bash)"
		case "zsh":
			sub.Short = "Write the zsh completion script"
			sub.Long = "Write the zsh completion script to standard output. Save it as _algoreg-etl " +
				"in a folder of $fpath, with completion enabled (autoload -U compinit; compinit in " +
				"~/.zshrc), and start a new shell."
			sub.Example = "algoreg-etl completion zsh > _algoreg-etl"
		case "fish":
			sub.Short = "Write the fish completion script"
			sub.Long = "Write the fish completion script to standard output. Save it as " +
				"~/.config/fish/completions/algoreg-etl.fish, or load it in the current shell with " +
				"algoreg-etl completion fish | source."
			sub.Example = "algoreg-etl completion fish > algoreg-etl.fish"
		default:
			sub.Hidden = true // PowerShell: not tested here
		}
		exits(sub, plainExits...)
	}
}

// completeValues completes the flag name of cmd with values.
func completeValues(cmd *cobra.Command, name string, values ...string) {
	cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// wantArgs returns a check of a command's arguments: exactly the named
// ones.
func wantArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return usageErrorf("unexpected argument %q", args[len(names)])
		}
		if len(args) < len(names) {
			return usageErrorf("missing %s", names[len(args)])
		}
		return nil
	}
}

// unknownCommand is the error of a command name that cmd does not have.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return &usageError{msg}
}

// usage reports err, a wrong command, argument or flag of cmd, in one line,
// then a hint, and returns exitUsage.
func (a *app) usage(cmd *cobra.Command, err error) int {
	var ue *usageError
	if !errors.As(err, &ue) {
		// cobra's own errors: an unknown command of the root.
		var name, path string
		if n, _ := fmt.Sscanf(err.Error(), "unknown command %q for %q", &name, &path); n == 2 {
			err = unknownCommand(cmd, name)
		}
	}
	fmt.Fprintf(a.stderr, "algoreg-etl: %v\n", err)
	path := "algoreg-etl"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	fmt.Fprintf(a.stderr, "Run '%s --help' for usage.\n", path)
	return exitUsage
}

// flagError turns pflag's errors into one line that names the flag, with
// a suggestion for a misspelt one.
func flagError(cmd *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
		syntax   *pflag.InvalidSyntaxError
	)
	switch {
	case errors.As(err, &notExist):
		if short := notExist.GetSpecifiedShortnames(); short != "" {
			return usageErrorf("unknown flag -%s in -%s", notExist.GetSpecifiedName(), short)
		}
		name := notExist.GetSpecifiedName()
		var names []string
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		msg := "unknown flag --" + name
		if s := suggest(name, names); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
		return &usageError{msg}
	case errors.As(err, &noValue):
		f := noValue.GetFlag()
		_, usage := pflag.UnquoteUsage(f)
		return usageErrorf("--%s needs a value: %s", f.Name, usage)
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		return usageErrorf("--%s %q: want %s", f.Name, invalid.GetValue(), describeFlagType(f.Value.Type()))
	case errors.As(err, &syntax):
		return usageErrorf("bad flag syntax %s", syntax.GetSpecifiedFlag())
	}
	return &usageError{err.Error()}
}

// describeFlagType names what a flag of pflag type t takes.
func describeFlagType(t string) string {
	switch t {
	case "int", "int64", "uint", "uint64":
		return "a whole number"
	case "duration":
		return "a duration such as 90s, 5m or 1h"
	case "bool":
		return "true or false"
	}
	return "a " + t
}

// suggest returns the name of names closest to s, or "" when none is
// close: at most two edits away (one for a word of four letters or
// fewer), or starting with s.
func suggest(s string, names []string) string {
	best, bestD := "", 0
	for _, n := range names {
		d := editDistance(s, n)
		limit := 2
		if len(s) <= 4 {
			limit = 1
		}
		if (d <= limit || (len(s) >= 3 && strings.HasPrefix(n, s))) && (best == "" || d < bestD) {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// helpWidth is the width help text is wrapped to: the terminal's, up to
// 100 columns, or 80 off a terminal.
func helpWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			return min(cols, 100)
		}
	}
	return 80
}

// help writes cmd's help page to w: its description, usage, subcommands,
// examples, flags and exit codes, wrapped to the terminal.
func (a *app) help(w io.Writer, cmd *cobra.Command) {
	width := helpWidth(w)
	var b strings.Builder
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	b.WriteString(wrap(desc, width, ""))
	b.WriteString("\n\nUsage:\n")
	if cmd.Runnable() && (cmd.HasParent() || !cmd.HasAvailableSubCommands()) {
		b.WriteString("  " + cmd.UseLine() + "\n")
	}
	if cmd.HasAvailableSubCommands() {
		b.WriteString("  " + cmd.CommandPath() + " COMMAND [ARGS] [flags]\n")
		b.WriteString("\nCommands:\n")
		subs := cmd.Commands()
		pad := 0
		for _, c := range subs {
			pad = max(pad, len(c.Name()))
		}
		for _, c := range subs {
			if c.IsAvailableCommand() || c.Name() == "help" {
				b.WriteString(hang(fmt.Sprintf("  %-*s  ", pad, c.Name()), c.Short, width))
			}
		}
	}
	if cmd.HasExample() {
		b.WriteString("\nExamples:\n")
		for _, line := range strings.Split(strings.TrimSpace(cmd.Example), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	if cmd.HasAvailableLocalFlags() {
		b.WriteString("\nFlags:\n" + flagUsages(cmd.LocalFlags(), width))
	}
	if cmd.HasAvailableInheritedFlags() {
		b.WriteString("\nGlobal flags:\n" + flagUsages(cmd.InheritedFlags(), width))
	}
	if codes := cmd.Annotations[exitsKey]; codes != "" {
		b.WriteString("\nExit codes:\n")
		for _, c := range strings.Fields(codes) {
			var code int
			fmt.Sscan(c, &code)
			meaning := exitMeanings[code]
			switch {
			case code != exitOK:
			case !cmd.HasParent():
				meaning = "success (for a run: every row read was sent or skipped, or its record errors are none that the job's exit_on_errors reports)"
			case !isRunCommand(cmd):
				meaning = "success"
			}
			b.WriteString(hang(fmt.Sprintf("  %d  ", code), meaning, width))
		}
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(&b, "\nRun '%s help COMMAND' or '%s COMMAND --help' for a command's flags and examples.\n",
			cmd.CommandPath(), cmd.CommandPath())
	}
	io.WriteString(w, b.String())
}

// flagUsages lists the flags of fs, one per line, their descriptions
// wrapped to width in a column:
//
//	-n, --dry-run        send nothing: ...
//	    --since string   only what happened since: ...
func flagUsages(fs *pflag.FlagSet, width int) string {
	type line struct{ left, text string }
	var lines []line
	pad := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && varname != "" {
			left += " " + varname
		}
		switch f.DefValue {
		case "", "0", "false", "0s", "[]":
		default:
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				usage += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		lines = append(lines, line{left, usage})
		pad = max(pad, len(left))
	})
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(hang(fmt.Sprintf("%-*s   ", pad, l.left), l.text, width))
	}
	return b.String()
}

// isRunCommand reports whether cmd runs a job (its exit 0 means every row
// was sent or skipped).
func isRunCommand(cmd *cobra.Command) bool {
	codes := strings.Fields(cmd.Annotations[exitsKey])
	return len(codes) == len(runExits)
}

// hang writes text after prefix, wrapped to width, its next lines
// indented under the text's start.
func hang(prefix, text string, width int) string {
	indent := strings.Repeat(" ", len(prefix))
	body := wrap(text, width, indent)
	return prefix + strings.TrimPrefix(body, indent) + "\n"
}

// wrap fills the paragraphs of text (separated by blank lines) to width,
// each line starting with indent. A paragraph whose lines start with white
// space is kept as it is (a code sample); one whose lines start with "- "
// is a list, each item wrapped under its text.
func wrap(text string, width int, indent string) string {
	var paras []string
	for _, p := range strings.Split(strings.TrimSpace(text), "\n\n") {
		lines := strings.Split(strings.Trim(p, "\n"), "\n")
		switch {
		case strings.HasPrefix(lines[0], " ") || strings.HasPrefix(lines[0], "\t"):
			for i, l := range lines {
				lines[i] = strings.TrimRight(indent+l, " ")
			}
			paras = append(paras, strings.Join(lines, "\n"))
		case strings.HasPrefix(lines[0], "- "):
			var items []string
			for _, l := range lines {
				if strings.HasPrefix(l, "- ") || len(items) == 0 {
					items = append(items, l)
				} else {
					items[len(items)-1] += " " + l
				}
			}
			for i, it := range items {
				items[i] = strings.TrimSuffix(hang(indent+"- ", strings.TrimPrefix(it, "- "), width), "\n")
			}
			paras = append(paras, strings.Join(items, "\n"))
		default:
			paras = append(paras, fill(strings.Fields(p), width, indent))
		}
	}
	return strings.Join(paras, "\n\n")
}

// fill lays words out in lines of at most width columns (a longer word
// stands alone), each starting with indent.
func fill(words []string, width int, indent string) string {
	var b strings.Builder
	col := 0
	for _, w := range words {
		n := len([]rune(w))
		switch {
		case col == 0:
			b.WriteString(indent + w)
			col = len(indent) + n
		case col+1+n > width:
			b.WriteString("\n" + indent + w)
			col = len(indent) + n
		default:
			b.WriteString(" " + w)
			col += 1 + n
		}
	}
	return b.String()
}

// completeJob completes a JOB argument with the jobs of the config file, when
// it can be read.
func (a *app) completeJob(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	path := a.configPath
	if path == "" {
		path = os.Getenv("ALGOREG_ETL_CONFIG")
	}
	names := configJobNames(path)
	sort.Strings(names)
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, toComplete) {
			out = append(out, n)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// configJobNames returns the names of the jobs of the config file at path;
// none when it cannot be read.
func configJobNames(path string) []string {
	if path == "" {
		return nil
	}
	cfg, err := configs.LoadFor(path, 0) // the jobs alone
	if err != nil {
		return nil
	}
	var names []string
	for _, j := range cfg.Jobs {
		names = append(names, j.Name)
	}
	return names
}
