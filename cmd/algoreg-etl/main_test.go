package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func TestHelpShowsAnExample(t *testing.T) {
	for _, c := range commands {
		code, _, stderr := cli(t, c.name, "-h")
		_, example, _ := strings.Cut(stderr, "Example:\n")
		if code != exitOK || !strings.Contains(example, "algoreg-etl "+c.name) {
			t.Errorf("%s -h: exit %d, output:\n%s", c.name, code, stderr)
		}
	}
	if code, _, _ := cli(t, "nonsense"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
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

	// Unchanged, nothing is sent; the invalid rows are retried, fail
	// again, and keep the exit code at 5.
	calls := api.Requests()
	if code, out, stderr := cli(t, "run", "--config", path, "customers"); code != exitRecordErrs || api.Requests() != calls {
		t.Errorf("unchanged run: exit %d, %d calls\n%s%s", code, api.Requests()-calls, out, stderr)
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

// The demo sets up its database and sandbox, runs the example job twice and
// reports what was sent and what failed.
func TestDemo(t *testing.T) {
	config, err := filepath.Abs(filepath.Join("..", "..", "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, "demo", "--config", config, "--database", sqltest.ServerURL(t))
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"Customers the sandbox holds (45)", "Relations the sandbox holds (5)", "date_in_future",
		"Second run, with nothing changed", "sent                0"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}
