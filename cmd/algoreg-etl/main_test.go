package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// cli runs Main and returns its exit code and outputs.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// deployment writes a config file for a fresh source database (with the
// example seed) and a sandbox API, and returns its path. jobKeys are more
// YAML lines of the job, each indented by four spaces; "{sql}" in them
// stands for the folder of the example queries.
func deployment(t *testing.T, jobKeys ...string) (string, *sqltest.DB, *algoregtest.Server) {
	t.Helper()
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	api := algoregtest.NewServer(t)
	dir, err := filepath.Abs(filepath.Join("..", "..", "sql", "example"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SOURCE_DSN", db.URL)
	t.Setenv("TEST_ALGOREG_TOKEN", api.Token)
	cfg := fmt.Sprintf(`source:
  dsn: ${TEST_SOURCE_DSN}
algoreg:
  url: %s
  token: ${TEST_ALGOREG_TOKEN}
jobs:
  - name: customers
    customers_query: %s
    chunk_size: 7
    account_types: {person: N, company: F}
    safety_lag: 0s
`, api.URL, filepath.Join(dir, "customers.sql"))
	for _, k := range jobKeys {
		cfg += "    " + strings.ReplaceAll(k, "{sql}", dir) + "\n"
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, db, api
}

// commandPaths lists every command of the CLI, subcommands included, as
// the words that name it ("completion bash").
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	root := (&app{stdout: io.Discard, stderr: io.Discard}).rootCmd()
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() && sub.Name() != "help" {
				continue
			}
			p := append(slices.Clone(path), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk(root, nil)
	return paths
}

// Every command's help has a description, a usage line, an example of the
// command, its flags and its exit codes; `help CMD` shows the same page
// as `CMD --help`.
func TestHelpOfEveryCommand(t *testing.T) {
	paths := commandPaths(t)
	if len(paths) < 14 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range append([][]string{{}}, paths...) {
		name := strings.Join(append([]string{"algoreg-etl"}, p...), " ")
		code, help, stderr := cli(t, append(slices.Clone(p), "--help")...)
		if code != exitOK || stderr != "" {
			t.Errorf("%s --help: exit %d, stderr %s", name, code, stderr)
			continue
		}
		_, examples, _ := strings.Cut(help, "\nExamples:\n")
		examples, _, _ = strings.Cut(examples, "\n\n")
		if !strings.Contains(examples, name) && !(len(p) == 0 && strings.Contains(examples, "algoreg-etl ")) {
			t.Errorf("%s --help has no example of the command:\n%s", name, help)
		}
		for _, want := range []string{"\nUsage:\n  algoreg-etl", "\nExit codes:\n  0  success", "\n  2  usage or configuration error"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s --help lacks %q:\n%s", name, want, help)
			}
		}
		for _, line := range strings.Split(help, "\n") {
			// Wrapped to 80 columns, but for the usage line and an example.
			if len([]rune(line)) > 80 && !strings.HasPrefix(line, "  algoreg-etl") && !strings.Contains(line, "Run '") {
				t.Errorf("%s --help: a line of %d columns: %q", name, len([]rune(line)), line)
			}
		}
		code, viaHelp, _ := cli(t, append([]string{"help"}, p...)...)
		if code != exitOK || viaHelp != help {
			t.Errorf("help %s: exit %d, and not the page of %s --help:\n%s", strings.Join(p, " "), code, name, viaHelp)
		}
	}
	// With no command, the help goes to standard error, as a usage error.
	if code, out, stderr := cli(t); code != exitUsage || out != "" || !strings.Contains(stderr, "Commands:") {
		t.Errorf("no command: exit %d, stdout %q, stderr:\n%s", code, out, stderr)
	}
}

// A wrong command, argument or flag is said in one line, with a hint, and
// exits 2 before anything is read.
func TestUsageErrorsInOneLine(t *testing.T) {
	t.Setenv("ALGOREG_ETL_CONFIG", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"nonsense"}, `unknown command "nonsense"`},
		{[]string{"rn", "customers"}, `unknown command "rn" (did you mean run?)`},
		{[]string{"reconcile", "customers", "--dryrun"}, "unknown flag --dryrun (did you mean --dry-run?)"},
		{[]string{"run", "a", "b"}, `unexpected argument "b"`},
		{[]string{"run"}, "missing JOB"},
		{[]string{"run", "-x", "customers"}, "unknown flag -x in -x"},
		{[]string{"backfill", "customers", "--since"}, "--since needs a value: first updated_at to send, T: YYYY-MM-DD (UTC) or RFC 3339"},
		{[]string{"prune", "--batch", "many"}, `--batch "many": want a whole number`},
		{[]string{"prune", "--batch", "0", "-c", "x.yaml"}, `--batch 0: must be 1 or more`},
		{[]string{"report", "nonsense"}, `unknown report "nonsense"`},
		{[]string{"report", "erors"}, `unknown report "erors" (did you mean errors?)`},
		{[]string{"report", "run"}, "missing ID"},
		{[]string{"report", "runs", "--format", "xml"}, `--format "xml": want table, csv or json`},
		{[]string{"run", "customers", "--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"run", "customers"}, "no config file: pass --config or set ALGOREG_ETL_CONFIG"},
		{[]string{"help", "nonsense"}, `unknown command "nonsense"`},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh"`},
		{[]string{"completion"}, "missing the shell: bash, zsh or fish"},
	} {
		code, out, stderr := cli(t, tt.args...)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != exitUsage || out != "" || len(lines) != 2 || lines[0] != "algoreg-etl: "+tt.want || !strings.HasPrefix(lines[1], "Run 'algoreg-etl") {
			t.Errorf("%v: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and the line %q then a hint", tt.args, code, out, stderr, "algoreg-etl: "+tt.want)
		}
	}
}

// Flags go before or after a command's arguments, in long or short form.
func TestFlagsAnywhere(t *testing.T) {
	path, _, _ := deployment(t)
	cli(t, "migrate", "--config", path)
	for _, args := range [][]string{
		{"reconcile", "--config", path, "--dry-run", "customers"},
		{"reconcile", "customers", "--dry-run", "--config", path},
		{"reconcile", "customers", "-n", "-c", path},
		{"--config", path, "reconcile", "-n", "customers"},
		{"reconcile", "--config=" + path, "customers", "--dry-run=true"},
	} {
		code, out, stderr := cli(t, args...)
		if code != exitRecordErrs || !strings.Contains(out, "(dry run)") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
}

func TestConfigErrorsStopBeforeConnecting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(path, []byte("source:\n  dsn: postgres://nowhere.invalid/x\nalgoreg:\n  url: http://127.0.0.1:1\n  token: t\njobs:\n  - name: customers\n    customers_query: missing.sql\n    chunksize: 5\n"), 0o600)
	code, _, stderr := cli(t, "run", "--config", path, "customers")
	if code != exitUsage || !strings.Contains(stderr, "bad.yaml:9") || !strings.Contains(stderr, "missing.sql") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if code, _, stderr := cli(t, "run", "customers"); code != exitUsage || !strings.Contains(stderr, "ALGOREG_ETL_CONFIG") {
		t.Errorf("no config: exit %d, stderr %s", code, stderr)
	}
}

func TestRunExitCodes(t *testing.T) {
	path, db, api := deployment(t)
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK || !strings.Contains(out, "applied") {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, _ := cli(t, "migrate", "--config", path); code != exitOK || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: exit %d\n%s", code, out)
	}

	// The seed holds invalid rows: the run finishes with record errors.
	code, out, stderr := cli(t, "run", "--config", path, "--log-format", "json", "customers")
	if code != exitRecordErrs || !strings.Contains(out, "partial") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, stderr)
	}
	if strings.Contains(stderr, api.Token) {
		t.Error("the token appears in the logs")
	}
	if !strings.Contains(stderr, `"job":"customers"`) || !strings.Contains(stderr, `"run_id":`) {
		t.Errorf("log lines lack job and run_id:\n%s", stderr)
	}
	var clients int
	db.Get(&clients, `SELECT count(*) FROM clients`)
	if got := len(api.Customers()); got == 0 || got >= clients {
		t.Errorf("sandbox holds %d of %d clients", got, clients)
	}

	// Unchanged, nothing is sent; the invalid rows are retried and fail
	// again for the same reasons: the run is partial, but nothing new
	// failed, so (exit_on_errors: new, the default) it exits 0.
	calls := api.Requests()
	if code, out, stderr := cli(t, "run", "--config", path, "customers"); code != exitOK || api.Requests() != calls || !strings.Contains(out, "partial") {
		t.Errorf("unchanged run: exit %d, %d calls\n%s%s", code, api.Requests()-calls, out, stderr)
	}
	// A row that newly fails exits 5 again.
	if _, err := db.Exec(`UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-0001'`); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "run", "--config", path, "customers"); code != exitRecordErrs {
		t.Errorf("run with a new invalid row: exit %d\n%s%s", code, out, stderr)
	}

	// Another process holds the job's lock.
	st, err := state.Open(context.Background(), db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lock, err := st.TryLock(context.Background(), "customers")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	code, _, stderr = cli(t, "run", "--config", path, "customers")
	if code != exitLocked || !strings.Contains(stderr, "another process") {
		t.Errorf("locked: exit %d, stderr:\n%s", code, stderr)
	}
}

// exit_on_errors chooses when a run that finished with record errors
// exits 5.
func TestExitOnErrors(t *testing.T) {
	for _, tt := range []struct {
		policy       string
		first, again int // exit codes of the first run and of a second, unchanged one
	}{
		{"new", exitRecordErrs, exitOK},
		{"any", exitRecordErrs, exitRecordErrs},
		{"never", exitOK, exitOK},
	} {
		path, _, _ := deployment(t, "exit_on_errors: "+tt.policy)
		if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
			t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
		}
		for i, want := range []int{tt.first, tt.again} {
			code, out, stderr := cli(t, "run", "--config", path, "customers")
			if code != want || !strings.Contains(out, "partial") {
				t.Errorf("exit_on_errors: %s, run %d: exit %d, want %d\n%s%s", tt.policy, i+1, code, want, out, stderr)
			}
		}
	}
}

// The demo sets up its own database and a sandbox from any folder, runs
// the example job twice, reports what was sent and what failed, and prints
// commands that work as printed. Two demos at once do not collide, and
// neither touches a database it did not create.
func TestDemo(t *testing.T) {
	server := sqltest.ServerURL(t)
	// A neighbour: a database named as a demo's, made by this test.
	neighbour := sqltest.NewDB(t)
	if _, err := neighbour.Exec(`CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // any folder: not the repository's

	type result struct {
		code        int
		out, stderr string
	}
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			var out, stderr bytes.Buffer
			code := Main(context.Background(), []string{"demo", "--database", server}, &out, &stderr)
			results[i] = result{code, out.String(), stderr.String()}
		})
	}
	wg.Wait()
	var names []string
	for _, r := range results {
		names = append(names, dropDemoDatabases(t, server, r.out)...)
		if r.code != exitOK {
			t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.out, r.stderr)
		}
	}
	if len(names) != 2 {
		t.Fatalf("two demos made the databases %v, want two of their own", names)
	}
	var kept int
	if err := neighbour.Get(&kept, `SELECT count(*) FROM keep_me`); err != nil || kept != 1 {
		t.Errorf("the neighbour database after the demos: %d rows, %v", kept, err)
	}

	out := results[0].out
	for _, want := range []string{"Customers the sandbox holds (49)", "Relations the sandbox holds (5)", "date_in_future",
		"Second run, with nothing changed", "sent                0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
	// The commands it prints at its end, run as printed, from another
	// folder.
	_, tail, ok := strings.Cut(out, "Look at it again:\n\n")
	tail, _, _ = strings.Cut(tail, "\n\n")
	if !ok || !strings.Contains(tail, "report runs") || !strings.Contains(tail, "report --html") {
		t.Fatalf("the demo prints no commands to look at what it did:\n%s", out)
	}
	script := "set -e\n" + tail
	code, got, stderr := newShell(t, t.TempDir()).run(t, script)
	if code != exitOK {
		t.Fatalf("the demo's commands:\n%s\nexit %d\n%s%s", script, code, got, stderr)
	}
	for _, want := range []string{"RUN ", "date_in_future", "History:", "wrote "} {
		if !strings.Contains(got, want) {
			t.Errorf("the demo's commands:\n%s\nprint no %q:\n%s", script, want, got)
		}
	}
}

// migrate, report and prune need only the state database: no API URL or
// token, no source password, no SQL file. A run needs them all.
func TestStateCommandsNeedOnlyTheState(t *testing.T) {
	path, _, _ := deployment(t)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The same deployment as an auditor's host has it: the state's DSN, and
	// variables for the rest that are not set there.
	text := strings.Replace(string(cfg), "source:\n  dsn: ${TEST_SOURCE_DSN}\n", "source:\n  dsn: ${UNSET_SOURCE_DSN}\nstate:\n  dsn: ${TEST_SOURCE_DSN}\n", 1)
	text = strings.Replace(text, "token: ${TEST_ALGOREG_TOKEN}", "token: ${UNSET_ALGOREG_TOKEN}", 1)
	text = strings.Replace(text, "customers_query: ", "customers_query: missing/", 1)
	auditor := filepath.Join(t.TempDir(), "auditor.yaml")
	if err := os.WriteFile(auditor, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"migrate"},
		{"report", "runs"},
		{"report", "errors", "--open"},
		{"report", "--html", filepath.Join(t.TempDir(), "audit.html")},
		{"prune", "--dry-run"},
	} {
		if code, out, stderr := cli(t, append(args, "--config", auditor)...); code != exitOK {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
	code, _, stderr := cli(t, "run", "customers", "--config", auditor)
	for _, want := range []string{"source.dsn", "UNSET_SOURCE_DSN", "algoreg.token", "UNSET_ALGOREG_TOKEN", "customers_query"} {
		if code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("run with the auditor's config: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}

// Tab completes the commands, the jobs of the config and flag values; the
// bash script loads and registers itself.
func TestCompletion(t *testing.T) {
	path, _, _ := deployment(t)
	t.Setenv("ALGOREG_ETL_CONFIG", path)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"rec"}, []string{"reconcile"}},
		{[]string{"run", ""}, []string{"customers"}},
		{[]string{"backfill", "cu"}, []string{"customers"}},
		{[]string{"report", ""}, []string{"runs", "run", "errors", "customer"}},
		{[]string{"report", "runs", "--format", ""}, []string{"table", "csv", "json"}},
		{[]string{"run", "customers", "--risk-scan", ""}, []string{"auto", "on", "off"}},
		{[]string{"reconcile", "customers", "--dr"}, []string{"--dry-run"}},
		{[]string{"help", "rep"}, []string{"report"}},
	} {
		code, out, stderr := cli(t, append([]string{"__completeNoDesc"}, tt.args...)...)
		var got []string
		for _, l := range strings.Split(out, "\n") {
			if l != "" && !strings.HasPrefix(l, ":") {
				got = append(got, l)
			}
		}
		if code != exitOK || !slices.Equal(got, tt.want) {
			t.Errorf("complete %q: exit %d, got %q, want %q\n%s", tt.args, code, got, tt.want, stderr)
		}
	}
	code, out, stderr := newShell(t, t.TempDir()).run(t, "source <(algoreg-etl completion bash) && complete -p algoreg-etl")
	if code != 0 || !strings.Contains(out, "algoreg-etl") {
		t.Errorf("bash completion: exit %d\n%s%s", code, out, stderr)
	}
}

// A run stopped by a signal says which, on its run row and on standard
// error, and exits 4.
func TestSignalNamedInTheInterruptedRun(t *testing.T) {
	path, db, api := deployment(t)
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	cmd := exec.Command(filepath.Join(binDir(t), "algoreg-etl"), "run", "customers", "--config", path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The process, handed to the sandbox's goroutine once started.
	started := make(chan *os.Process, 1)
	var once sync.Once
	api.SetBeforeSave(func(*load.SaveRequest) {
		once.Do(func() { (<-started).Signal(syscall.SIGTERM) })
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started <- cmd.Process
	if err := cmd.Wait(); cmd.ProcessState == nil {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != exitInterrupted || !strings.Contains(stderr.String(), "interrupted (terminated signal received)") {
		t.Errorf("exit %d, want %d and the signal named\n%s%s", code, exitInterrupted, stdout.String(), stderr.String())
	}
	var status, msg string
	if err := db.QueryRow(`SELECT status, error FROM algoreg_etl.runs ORDER BY id DESC LIMIT 1`).Scan(&status, &msg); err != nil {
		t.Fatal(err)
	}
	if status != "interrupted" || !strings.HasPrefix(msg, "interrupted (terminated signal received)") {
		t.Errorf("the run row: %s, %q", status, msg)
	}
}

// A job whose query names a table that is missing fails as a run: the run
// row holds the failure and its error, and the command exits 1.
func TestRunThatCannotStartIsRecorded(t *testing.T) {
	path, db, _ := deployment(t)
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := db.Exec(`ALTER TABLE clients RENAME TO clients_gone`); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, "run", "--config", path, "customers")
	if code != exitFailed || !strings.Contains(stderr, `"clients" does not exist`) || !strings.Contains(out, "failed") {
		t.Fatalf("run over a missing table: exit %d\n%s%s", code, out, stderr)
	}
	st, err := state.Open(context.Background(), db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Runs(context.Background(), "customers", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != state.StatusFailed || !strings.Contains(runs[0].Error, `"clients" does not exist`) {
		t.Errorf("runs: %+v, want one failed run with the error", runs)
	}
}

// The sessions of a run are named after its job and run in
// pg_stat_activity, so that a DBA tells them apart.
func TestRunSessionsNamedAfterTheRun(t *testing.T) {
	path, db, api := deployment(t)
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	var (
		mu    sync.Mutex // names is written by the sandbox's goroutine
		names []string
		once  sync.Once
	)
	api.SetBeforeSave(func(*load.SaveRequest) {
		mu.Lock()
		defer mu.Unlock()
		once.Do(func() {
			rows, err := db.Query(`SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db.Name)
			if err != nil {
				t.Error(err)
				return
			}
			defer rows.Close()
			for rows.Next() {
				var n string
				rows.Scan(&n)
				names = append(names, n)
			}
		})
	})
	if code, out, stderr := cli(t, "run", "customers", "--config", path); code != exitRecordErrs {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(names, "algoreg-etl/customers/1") || slices.ContainsFunc(names, func(n string) bool { return !strings.HasPrefix(n, "algoreg-etl") }) {
		t.Errorf("sessions during run 1: %q, want algoreg-etl/customers/1 among them and none unnamed", names)
	}
}

// --log-level debug adds a line per page read and per API call; the
// default level has none.
func TestDebugLogsPagesAndCalls(t *testing.T) {
	path, _, api := deployment(t, "page_size: 10")
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := cli(t, "run", "customers", "--config", path, "--log-format", "json", "--log-level", "debug")
	if code != exitRecordErrs {
		t.Fatalf("run: exit %d\n%s%s", code, out, stderr)
	}
	pages, calls := strings.Count(stderr, `"msg":"page read","job":"customers","run_id":1,"stream":"customers"`), strings.Count(stderr, `"msg":"API call"`)
	if pages < 5 || calls != api.Requests() || !strings.Contains(stderr, `"records":7`) {
		t.Errorf("%d page lines (want 5 or more: 45 rows, 10 a page), %d call lines for %d calls:\n%s", pages, calls, api.Requests(), stderr)
	}
	_, _, stderr = cli(t, "run", "customers", "--config", path, "--log-format", "json")
	if strings.Contains(stderr, `"level":"DEBUG"`) {
		t.Errorf("debug lines at the default level:\n%s", stderr)
	}
}
