package configs_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
)

// base is a minimal valid config; lines 9 and on are keys of its one job.
const base = `source:
  dsn: postgres://etl:pw@db/core
algoreg:
  url: https://tenant.example.com
  token: tok
jobs:
  - name: customers
    customers_query: q.sql
`

// withJob returns base with extra lines (already indented) added to its job.
func withJob(extra string) string { return base + extra }

// parse parses text as "config.yaml" in a folder holding q.sql, with env as
// the environment.
func parse(t *testing.T, text string, env map[string]string) (*configs.Config, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return configs.Parse([]byte(text), "config.yaml", dir, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func mustParse(t *testing.T, text string, env map[string]string) *configs.Config {
	t.Helper()
	c, err := parse(t, text, env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestLoadExample(t *testing.T) {
	t.Setenv("ALGOREG_ETL_SOURCE_DSN", "postgres://etl:source-pw@127.0.0.1/core")
	t.Setenv("ALGOREG_ETL_STATE_DSN", "host=127.0.0.1 dbname=state password=state-pw")
	t.Setenv("ALGOREG_URL", "http://127.0.0.1:8080/")
	t.Setenv("ALGOREG_USERNAME", "etl@bank.example")
	t.Setenv("ALGOREG_PASSWORD", "demo-key")
	c, err := configs.Load("example.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	j, err := c.Job("customers")
	if err != nil {
		t.Fatal(err)
	}
	zurich, _ := time.LoadLocation("Europe/Zurich")
	checks := []struct {
		what      string
		got, want any
	}{
		{"source dsn", c.Source.DSN.Reveal(), "postgres://etl:source-pw@127.0.0.1/core"},
		{"state dsn", c.State.DSN.Reveal(), "host=127.0.0.1 dbname=state password=state-pw"},
		{"state schema", c.State.Schema, "algoreg_etl"},
		{"url (trailing '/' dropped)", c.Algoreg.URL, "http://127.0.0.1:8080"},
		{"auth", c.Algoreg.Auth, configs.AuthOAuth2},
		{"username", c.Algoreg.Username, "etl@bank.example"},
		{"password", c.Algoreg.Password.Reveal(), "demo-key"},
		{"timeout", c.Algoreg.Timeout, 60 * time.Second},
		{"jobs", len(c.Jobs), 2},
		{"query path", j.CustomersQuery, filepath.Join("..", "sql", "example", "customers.sql")},
		{"relations query path", j.RelationsQuery, filepath.Join("..", "sql", "example", "relations.sql")},
		{"relation_types", fmt.Sprint(j.RelationTypes), "map[director:1 shareholder:2 ubo:3]"},
		{"account_types", fmt.Sprint(j.AccountTypes), "map[company:F person:N]"},
		{"countries", fmt.Sprint(j.Countries), "map[Kazakstan:KZ UK:GB]"},
		{"chunk_size", j.ChunkSize, 50},
		{"concurrency", j.Concurrency, 4},
		{"adaptive concurrency", j.AdaptiveConcurrency, false},
		{"max_concurrency", j.MaxConcurrency, 16},
		{"rate_limit", j.RateLimit, 0.0},
		{"max_attempts", j.MaxAttempts, 0},
		{"max_retry_time", j.MaxRetryTime, 2 * time.Minute},
		{"retry_errors_limit", j.RetryErrorsLimit, 1000},
		{"stuck_after", j.StuckAfter, 5},
		{"exit_on_errors", j.ExitOnErrors, configs.ExitOnNewErrors},
		{"risk_scan", j.RiskScan, configs.RiskScanAuto},
		{"risk_scan_threshold", j.RiskScanThreshold, 1000},
		{"drain_timeout", j.DrainTimeout, 30 * time.Second},
		{"page_size", j.PageSize, 200},
		{"safety_lag", j.SafetyLag, 30 * time.Second},
		{"lookback", j.Lookback, time.Minute},
		{"cursor_timezone", j.CursorTimezone, time.UTC},
		{"schedule", j.Schedule, "0 2 * * *"},
		{"timezone", j.Timezone.String(), zurich.String()},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if !strings.Contains(j.CustomersSQL, "cursor_updated_at") {
		t.Errorf("CustomersSQL does not hold the example query:\n%s", j.CustomersSQL)
	}
	if !strings.Contains(j.RelationsSQL, "relation_external_id") {
		t.Errorf("RelationsSQL does not hold the example query:\n%s", j.RelationsSQL)
	}
	d, err := c.Job("customers-diff")
	if err != nil {
		t.Fatal(err)
	}
	if !d.Diff() || j.Diff() || d.CustomersQuery != filepath.Join("..", "sql", "example", "customers_diff.sql") || d.OnMissing != configs.OnMissingReport {
		t.Errorf("job customers-diff: incremental %s, query %s, on_missing %s; customers: incremental %s", d.Incremental, d.CustomersQuery, d.OnMissing, j.Incremental)
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, base, nil)
	j := c.Jobs[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"state dsn is the source's", c.State.DSN, c.Source.DSN},
		{"state schema", c.State.Schema, "algoreg_etl"},
		{"timeout", c.Algoreg.Timeout, 60 * time.Second},
		{"relations_query", j.RelationsQuery, ""},
		{"relation_types", j.RelationTypes == nil, true},
		{"account_types", j.AccountTypes == nil, true},
		{"countries", j.Countries == nil, true},
		{"chunk_size", j.ChunkSize, 500},
		{"concurrency", j.Concurrency, 4},
		{"adaptive concurrency", j.AdaptiveConcurrency, false},
		{"max_concurrency", j.MaxConcurrency, 16},
		{"rate_limit", j.RateLimit, 0.0},
		{"max_attempts", j.MaxAttempts, 0},
		{"max_retry_time", j.MaxRetryTime, 2 * time.Minute},
		{"retry_errors_limit", j.RetryErrorsLimit, 1000},
		{"stuck_after", j.StuckAfter, 5},
		{"exit_on_errors", j.ExitOnErrors, "new"},
		{"risk_scan", j.RiskScan, "auto"},
		{"risk_scan_threshold", j.RiskScanThreshold, 1000},
		{"drain_timeout", j.DrainTimeout, 30 * time.Second},
		{"page_size", j.PageSize, 5000},
		{"safety_lag", j.SafetyLag, 30 * time.Second},
		{"lookback", j.Lookback, time.Minute},
		{"cursor_timezone", j.CursorTimezone, time.UTC},
		{"schedule", j.Schedule, ""},
		{"timezone", j.Timezone, time.UTC},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}

	// DefaultJob is what a file that sets nothing optional gives.
	want := configs.DefaultJob("customers")
	want.CustomersQuery, want.CustomersSQL = j.CustomersQuery, j.CustomersSQL
	if !reflect.DeepEqual(j, want) {
		t.Errorf("parsed job\n%+v\nDefaultJob\n%+v", j, want)
	}
}

func TestValues(t *testing.T) {
	c := mustParse(t, `source:
  dsn: host=db dbname=core
state:
  dsn: postgres://state@db2/state
  schema: etl_state
algoreg:
  url: https://tenant.example.com/base/
  token: tok
  timeout: 2m30s
jobs:
  - name: customers
    customers_query: q.sql
    chunk_size: 10000
    concurrency: 1
    page_size: 1
    safety_lag: 0s
    cursor_timezone: America/New_York
    schedule: "@daily"
    timezone: Asia/Tokyo
  - name: nightly-2
    customers_query: q.sql
`, nil)
	j := c.Jobs[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"state dsn", c.State.DSN.Reveal(), "postgres://state@db2/state"},
		{"state schema", c.State.Schema, "etl_state"},
		{"url", c.Algoreg.URL, "https://tenant.example.com/base"},
		{"timeout", c.Algoreg.Timeout, 150 * time.Second},
		{"chunk_size", j.ChunkSize, 10000},
		{"concurrency", j.Concurrency, 1},
		{"page_size", j.PageSize, 1},
		{"safety_lag", j.SafetyLag, time.Duration(0)},
		{"cursor_timezone", j.CursorTimezone.String(), "America/New_York"},
		{"schedule", j.Schedule, "@daily"},
		{"timezone", j.Timezone.String(), "Asia/Tokyo"},
		{"second job", c.Jobs[1].Name, "nightly-2"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // each must be the start of one line of the error
	}{
		{"unknown job key", withJob("    chunksize: 10\n"),
			[]string{`config.yaml:9: job "customers": chunksize: unknown key (did you mean "chunk_size"?)`}},
		{"unknown top-level key", base + "jbos: []\n",
			[]string{`config.yaml:9: jbos: unknown key (did you mean "jobs"?)`}},
		{"unknown section key", strings.Replace(base, "  token: tok\n", "  token: tok\n  secret_sauce: x\n", 1),
			[]string{`config.yaml:6: algoreg.secret_sauce: unknown key (known keys: url, token, token_file, username, password, password_file, auth, timeout, ca_file, cert_file, key_file)`}},
		{"key given twice", withJob("    page_size: 10\n    page_size: 20\n"),
			[]string{`config.yaml:10: job "customers": page_size: given twice (first at line 9)`}},
		{"missing source dsn", strings.Replace(base, "  dsn: postgres://etl:pw@db/core\n", "  dsn:\n", 1),
			[]string{`config.yaml:2: source.dsn: is required`}},
		{"bad source dsn url", strings.Replace(base, "postgres://etl:pw@db/core", "postgres://etl:p#w@db/core", 1),
			[]string{`config.yaml:2: source.dsn: not a valid URL (value not shown)`}},
		{"bad dsn scheme", strings.Replace(base, "postgres://etl:pw@db/core", "mysql://etl:pw@db/core", 1),
			[]string{`config.yaml:2: source.dsn: URL scheme must be postgres or postgresql, got "mysql"`}},
		{"bad key=value dsn", strings.Replace(base, "postgres://etl:pw@db/core", "host=db password='unclosed", 1),
			[]string{`config.yaml:2: source.dsn: neither a postgres:// URL nor a valid key=value connection string (value not shown)`}},
		{"bad schema", base + "state:\n  schema: Etl-State\n",
			[]string{`config.yaml:10: state.schema: "Etl-State" is not a plain PostgreSQL name`}},
		{"reserved schema", base + "state:\n  schema: pg_etl\n",
			[]string{`config.yaml:10: state.schema: "pg_etl": names starting with pg_ are reserved`}},
		{"missing url", strings.Replace(base, "  url: https://tenant.example.com\n", "", 1),
			[]string{`config.yaml:3: algoreg.url: is required`}},
		{"url not http", strings.Replace(base, "https://tenant.example.com", "ftp://tenant.example.com", 1),
			[]string{`config.yaml:4: algoreg.url: must start with https:// or http://`}},
		{"url with credentials", strings.Replace(base, "https://tenant.example.com", "https://me:pw@tenant.example.com", 1),
			[]string{`config.yaml:4: algoreg.url: must not hold credentials`}},
		{"url with query", strings.Replace(base, "https://tenant.example.com", "https://tenant.example.com/?token=x", 1),
			[]string{`config.yaml:4: algoreg.url: must not have a query`}},
		{"missing token", strings.Replace(base, "  token: tok\n", "", 1),
			[]string{`config.yaml:3: algoreg: credentials are required: username with password or password_file (the programmatic user's email and API key), or token or token_file`}},
		{"token with a line break", strings.Replace(base, "  token: tok\n", "  token: \"tok\\n\"\n", 1),
			[]string{`config.yaml:5: algoreg.token: holds spaces or line breaks (value not shown)`}},
		{"zero timeout", strings.Replace(base, "  token: tok\n", "  token: tok\n  timeout: 0s\n", 1),
			[]string{`config.yaml:6: algoreg.timeout: must be more than 0, got 0s`}},
		{"timeout not a duration", strings.Replace(base, "  token: tok\n", "  token: tok\n  timeout: 60\n", 1),
			[]string{`config.yaml:6: algoreg.timeout: want a duration such as "30s" or "5m", got "60"`}},
		{"no jobs", strings.Split(base, "jobs:")[0] + "jobs: []\n",
			[]string{`config.yaml:6: jobs: at least one job is required`}},
		{"jobs missing", strings.Split(base, "jobs:")[0],
			[]string{`config.yaml: jobs: at least one job is required`}},
		{"jobs not a list", strings.Split(base, "jobs:")[0] + "jobs:\n  customers: q.sql\n",
			[]string{`config.yaml:7: jobs: want a list, got a mapping`}},
		{"job not a mapping", base + "  - customers\n",
			[]string{`config.yaml:9: job #2: want a mapping of keys to values, got "customers"`}},
		{"empty job", base + "  -\n",
			[]string{`config.yaml:9: job #2: is empty`}},
		{"job without name", base + "  - customers_query: q.sql\n",
			[]string{`config.yaml:9: job #2: name: is required`}},
		{"bad job name", strings.Replace(base, "name: customers", "name: Customers!", 1),
			[]string{`config.yaml:7: job #1: name: "Customers!": use lower-case letters, digits, '_' and '-'`}},
		{"duplicate job name", base + "  - name: customers\n    customers_query: q.sql\n",
			[]string{`config.yaml:9: job "customers": name: two jobs have this name (the other at line 7)`}},
		{"missing query", strings.Replace(base, "    customers_query: q.sql\n", "", 1),
			[]string{`config.yaml:7: job "customers": customers_query: is required`}},
		{"query file missing", strings.Replace(base, "q.sql", "missing.sql", 1),
			[]string{`config.yaml:8: job "customers": customers_query: file `, "missing.sql does not exist"}},
		{"chunk_size zero", withJob("    chunk_size: 0\n"),
			[]string{`config.yaml:9: job "customers": chunk_size: must be between 1 and 10000, got 0`}},
		{"chunk_size too big", withJob("    chunk_size: 10001\n"),
			[]string{`config.yaml:9: job "customers": chunk_size: must be between 1 and 10000, got 10001`}},
		{"chunk_size a fraction (not truncated)", withJob("    chunk_size: 2.5\n"),
			[]string{`config.yaml:9: job "customers": chunk_size: want a whole number, got "2.5"`}},
		{"chunk_size not a number", withJob("    chunk_size: lots\n"),
			[]string{`config.yaml:9: job "customers": chunk_size: want a whole number, got "lots"`}},
		{"concurrency", withJob("    concurrency: 65\n"),
			[]string{`config.yaml:9: job "customers": concurrency: must be between 1 and 64, got 65`}},
		{"page_size", withJob("    page_size: -1\n"),
			[]string{`config.yaml:9: job "customers": page_size: must be between 1 and 1000000, got -1`}},
		{"negative safety_lag", withJob("    safety_lag: -5s\n"),
			[]string{`config.yaml:9: job "customers": safety_lag: must not be negative, got -5s`}},
		{"safety_lag without unit", withJob("    safety_lag: 30\n"),
			[]string{`config.yaml:9: job "customers": safety_lag: want a duration such as "30s" or "5m", got "30"`}},
		{"cursor_timezone", withJob("    cursor_timezone: Mars/Olympus\n"),
			[]string{`config.yaml:9: job "customers": cursor_timezone: unknown time zone "Mars/Olympus"`}},
		{"Local time zone", withJob("    timezone: Local\n"),
			[]string{`config.yaml:9: job "customers": timezone: name a zone such as "Europe/Zurich"`}},
		{"schedule with 4 fields", withJob("    schedule: \"0 2 * *\"\n"),
			[]string{`config.yaml:9: job "customers": schedule: invalid cron expression "0 2 * *"`}},
		{"schedule with seconds", withJob("    schedule: \"0 0 2 * * *\"\n"),
			[]string{`config.yaml:9: job "customers": schedule: invalid cron expression "0 0 2 * * *"`}},
		{"schedule with its own zone", withJob("    schedule: \"CRON_TZ=UTC 0 2 * * *\"\n"),
			[]string{`config.yaml:9: job "customers": schedule: give the time zone with the timezone key`}},
		{"schedule that never fires", withJob("    schedule: \"0 0 30 2 *\"\n"),
			[]string{`config.yaml:9: job "customers": schedule: cron expression "0 0 30 2 *" never fires`}},
		{"yaml syntax", "source:\n  dsn: [x\n",
			[]string{`config.yaml:`}},
		{"empty file", "",
			[]string{`config.yaml: the file is empty`}},
		{"not a mapping", "- a\n- b\n",
			[]string{`config.yaml:1: want a mapping of keys (source, state, algoreg, jobs) to values, got a list`}},
		{"two documents", base + "---\nsource: {}\n",
			[]string{`config.yaml:`, `a second YAML document`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.text, nil)
			if err == nil {
				t.Fatalf("Parse succeeded (%v), want an error", c)
			}
			if c != nil {
				t.Errorf("Parse returned a config with its error")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
			var e *configs.Error
			if !errors.As(err, &e) {
				t.Errorf("error is not a *configs.Error: %T", err)
			}
			for _, secret := range []string{"etl:pw", "etl:p#w", "me:pw", "token=x", `tok\n`} {
				if strings.Contains(msg, secret) {
					t.Errorf("error shows the secret %q: %s", secret, msg)
				}
			}
		})
	}
}

// TestAllErrorsAtOnce: a user fixes every problem in one pass.
func TestAllErrorsAtOnce(t *testing.T) {
	_, err := parse(t, `source:
  dsn:
algoreg:
  url: ftp://x
jobs:
  - name: a
    customers_query: q.sql
    chunk_size: 0
    pagesize: 5
  - name: b
    concurrency: many
`, nil)
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	want := []string{
		`config.yaml:2: source.dsn: is required`,
		`config.yaml:4: algoreg.url: must start with https:// or http://`,
		`config.yaml:3: algoreg: credentials are required`,
		`config.yaml:8: job "a": chunk_size: must be between 1 and 10000, got 0`,
		`config.yaml:9: job "a": pagesize: unknown key (did you mean "page_size"?)`,
		`config.yaml:10: job "b": customers_query: is required`,
		`config.yaml:11: job "b": concurrency: want a whole number or "auto", got "many"`,
	}
	got := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("missing error %q in\n%s", w, err)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(got), len(want), err)
	}
}

func TestQueryPath(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sql")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "rel.sql"), []byte("SELECT 'relative'"), 0o644)
	abs := filepath.Join(t.TempDir(), "abs.sql")
	os.WriteFile(abs, []byte("SELECT 'absolute'"), 0o644)
	os.WriteFile(filepath.Join(sub, "empty.sql"), []byte(" \n"), 0o644)

	tests := []struct {
		path     string
		wantPath string
		wantSQL  string
		wantErr  string
	}{
		{"sql/rel.sql", filepath.Join(dir, "sql", "rel.sql"), "SELECT 'relative'", ""},
		{"./sql/../sql/rel.sql", filepath.Join(dir, "sql", "rel.sql"), "SELECT 'relative'", ""},
		{abs, abs, "SELECT 'absolute'", ""},
		{"rel.sql", "", "", "file " + filepath.Join(dir, "rel.sql") + " does not exist"},
		{"sql/empty.sql", "", "", "file " + filepath.Join(dir, "sql", "empty.sql") + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			text := strings.Replace(base, "q.sql", tt.path, 1)
			c, err := configs.Parse([]byte(text), "config.yaml", dir, func(string) (string, bool) { return "", false })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j := c.Jobs[0]; j.CustomersQuery != tt.wantPath || j.CustomersSQL != tt.wantSQL {
				t.Errorf("query = %q holding %q, want %q holding %q", j.CustomersQuery, j.CustomersSQL, tt.wantPath, tt.wantSQL)
			}
		})
	}
}

func TestLoadResolvesAgainstTheFilesFolder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "q.sql"), []byte("SELECT 1"), 0o644)
	path := filepath.Join(dir, "etl.yaml")
	os.WriteFile(path, []byte(base), 0o644)
	c, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.File != path || c.Jobs[0].CustomersQuery != filepath.Join(dir, "q.sql") {
		t.Errorf("File = %q, query = %q", c.File, c.Jobs[0].CustomersQuery)
	}
	if _, err := configs.Load(filepath.Join(dir, "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want ErrNotExist", err)
	}
}

func TestJob(t *testing.T) {
	c := mustParse(t, base+"  - name: orders\n    customers_query: q.sql\n", nil)
	j, err := c.Job("orders")
	if err != nil || j.Name != "orders" {
		t.Fatalf("Job(orders) = %v, %v", j, err)
	}
	_, err = c.Job("suppliers")
	if !errors.Is(err, configs.ErrUnknownJob) {
		t.Errorf("Job(suppliers) error %v does not wrap ErrUnknownJob", err)
	}
	if want := `config.yaml: unknown job "suppliers" (known jobs: customers, orders)`; err == nil || err.Error() != want {
		t.Errorf("Job(suppliers) error = %v, want %s", err, want)
	}
}

// A command loads only the parts of the config it uses: a report needs
// neither the API's settings nor the SQL files, and names the problems of
// the parts it uses all the same.
func TestLoadFor(t *testing.T) {
	const text = `source:
  dsn: ${SOURCE_DSN}
state:
  dsn: postgres://etl@ops/ops
algoreg:
  url: ${ALGOREG_URL}
  token: ${ALGOREG_TOKEN}
jobs:
  - name: customers
    customers_query: missing.sql
    history_days: 30
`
	dir := t.TempDir()
	path := filepath.Join(dir, "etl.yaml")
	os.WriteFile(path, []byte(text), 0o644)
	for _, name := range []string{"SOURCE_DSN", "ALGOREG_URL", "ALGOREG_TOKEN"} {
		t.Setenv(name, "") // restored when the test ends
		os.Unsetenv(name)
	}

	c, err := configs.LoadFor(path, configs.NeedState)
	if err != nil {
		t.Fatalf("LoadFor(NeedState): %v", err)
	}
	if c.State.DSN.Reveal() != "postgres://etl@ops/ops" || c.Jobs[0].Name != "customers" || c.Jobs[0].HistoryDays != 30 {
		t.Errorf("state %v, jobs %+v", c.State.DSN, c.Jobs)
	}
	_, err = configs.Load(path)
	for _, want := range []string{"etl.yaml:2: source.dsn: environment variable SOURCE_DSN", "etl.yaml:6: algoreg.url", "etl.yaml:7: algoreg.token", "etl.yaml:10: job \"customers\": customers_query"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load: %v, want a problem %q", err, want)
		}
	}
	_, err = configs.LoadFor(path, configs.NeedState|configs.NeedSource)
	if err == nil || !strings.Contains(err.Error(), "source.dsn") || strings.Contains(err.Error(), "algoreg") || strings.Contains(err.Error(), "customers_query") {
		t.Errorf("LoadFor(NeedState|NeedSource): %v, want the problem of source.dsn alone", err)
	}

	// Without state.dsn, the state is in source.dsn: the state needs it.
	os.WriteFile(path, []byte(strings.Replace(text, "state:\n  dsn: postgres://etl@ops/ops\n", "", 1)), 0o644)
	if _, err := configs.LoadFor(path, configs.NeedState); err == nil || !strings.Contains(err.Error(), "source.dsn") {
		t.Errorf("LoadFor(NeedState) without state.dsn: %v, want the problem of source.dsn", err)
	}
	// The jobs' settings are always checked.
	os.WriteFile(path, []byte(strings.Replace(text, "history_days: 30", "history_days: -1", 1)), 0o644)
	if _, err := configs.LoadFor(path, configs.NeedState); err == nil || !strings.Contains(err.Error(), "history_days") {
		t.Errorf("LoadFor(NeedState) of a bad history_days: %v", err)
	}
}
