package preflight_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/preflight"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// deployment is a seeded example source with its state migrated, a
// sandbox API, and a config naming them.
type deployment struct {
	db  *sqltest.DB
	api *algoregtest.Server
	cfg *configs.Config
}

// newDeployment sets up a deployment whose job uses the example's queries,
// or customersSQL instead of customers.sql when it is not empty.
func newDeployment(t *testing.T, customersSQL string) *deployment {
	t.Helper()
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	api := algoregtest.NewServer(t)
	st, err := state.Open(context.Background(), db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := &deployment{db: db, api: api}
	d.cfg = d.config(t, db.URL, customersSQL)
	return d
}

// config returns the deployment's config with the source at sourceDSN.
func (d *deployment) config(t *testing.T, sourceDSN, customersSQL string) *configs.Config {
	t.Helper()
	examples, err := filepath.Abs(filepath.Join("..", "sql", "example"))
	if err != nil {
		t.Fatal(err)
	}
	customers := filepath.Join(examples, "customers.sql")
	if customersSQL != "" {
		customers = filepath.Join(t.TempDir(), "customers.sql")
		if err := os.WriteFile(customers, []byte(customersSQL), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := fmt.Sprintf(`source:
  dsn: %s
state:
  dsn: %s
algoreg:
  url: %s
  token: %s
jobs:
  - name: customers
    customers_query: %s
    account_types: {person: N, company: F}
    relations_query: %s
    relation_types: {director: 1, shareholder: 2, ubo: 3}
`, sourceDSN, d.db.URL, d.api.URL, d.api.Token, customers, filepath.Join(examples, "relations.sql"))
	cfg, err := configs.Parse([]byte(yaml), "config.yaml", examples, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// check runs the checks with the sandbox's client, or api when not nil.
func (d *deployment) check(t *testing.T, api *load.Client, opts preflight.Options) []preflight.Result {
	t.Helper()
	if api == nil {
		api = d.api.Client()
	}
	opts.API = api
	return preflight.Check(context.Background(), d.cfg, opts)
}

// find returns the result about subject, failing the test when there is
// none.
func find(t *testing.T, results []preflight.Result, subject string) preflight.Result {
	t.Helper()
	for _, r := range results {
		if r.Subject == subject {
			return r
		}
	}
	t.Fatalf("no result about %q in:\n%s", subject, lines(results))
	return preflight.Result{}
}

func lines(results []preflight.Result) string {
	var b strings.Builder
	for _, r := range results {
		b.WriteString(r.String() + "\n")
	}
	return b.String()
}

// expect checks the status of the result about subject and that its
// message holds every one of want.
func expect(t *testing.T, results []preflight.Result, subject string, status preflight.Status, want ...string) {
	t.Helper()
	r := find(t, results, subject)
	if r.Status != status {
		t.Errorf("%s: %v, want %v:\n%s", subject, r.Status, status, lines(results))
	}
	for _, w := range want {
		if !strings.Contains(r.Message, w) {
			t.Errorf("%s: %q lacks %q", subject, r.Message, w)
		}
	}
}

// On the example deployment every item is reported, and only the
// superuser the tests connect as is a warning.
func TestExampleDeployment(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	var reported []preflight.Result
	results := d.check(t, nil, preflight.Options{Report: func(r preflight.Result) { reported = append(reported, r) }})
	if len(reported) != len(results) {
		t.Errorf("Report saw %d results, Check returned %d", len(reported), len(results))
	}
	expect(t, results, "source", preflight.OK, "PostgreSQL 1", "read-only")
	expect(t, results, "state", preflight.OK, "PostgreSQL 1")
	expect(t, results, "state schema", preflight.OK, "algoreg_etl is at migration")
	expect(t, results, "api", preflight.OK, "accepted the credentials")
	expect(t, results, "customers: customers_query", preflight.OK, "usable types", "cursor_updated_at timestamptz", "cursor_key int8")
	expect(t, results, "customers: relations_query", preflight.OK, "usable types")
	expect(t, results, "customers: customers_query cursor", preflight.OK, "clients_updated_at_id")
	expect(t, results, "customers: relations_query cursor", preflight.OK, "client_links_updated_at_id")
	expect(t, results, "customers: customers_query privileges", preflight.Warn, "superuser", "public.clients", "public.client_nationalities")
	if got := preflight.Worst(results); got != preflight.Warn {
		t.Errorf("worst %v, want warn:\n%s", got, lines(results))
	}
	if strings.Contains(lines(results), d.api.Token) {
		t.Error("the token appears in the results")
	}
	if len(d.api.Customers()) != 0 {
		t.Error("the check stored customers in the API")
	}
}

// A wrong token is a failure of the api line, and nothing else.
func TestWrongToken(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	results := d.check(t, load.NewClient(d.api.URL, load.BearerToken("wrong-token"), nil), preflight.Options{})
	expect(t, results, "api", preflight.Fail, "refused the credentials", "check algoreg.token")
	for _, r := range results {
		if r.Status == preflight.Fail && r.Subject != "api" {
			t.Errorf("also failed: %s", r)
		}
	}
	results = d.check(t, load.NewClient("http://127.0.0.1:1", load.BearerToken(d.api.Token), nil), preflight.Options{})
	expect(t, results, "api", preflight.Fail, "cannot reach the API")
}

// A programmatic user's credentials are proven by one token call; a wrong
// key fails with the user named, after that one call and no other.
func TestProgrammaticUser(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	results := d.check(t, d.api.ClientWith(load.PasswordGrant(d.api.Username, d.api.Key)), preflight.Options{})
	expect(t, results, "api", preflight.OK, "accepted the credentials")
	if d.api.TokenRequests() != 1 {
		t.Errorf("%d token calls, want 1", d.api.TokenRequests())
	}
	results = d.check(t, d.api.ClientWith(load.PasswordGrant(d.api.Username, "wrong-key")), preflight.Options{})
	expect(t, results, "api", preflight.Fail, "refused the credentials (401 invalid_grant", "check algoreg.username (etl@sandbox.test)")
	if d.api.TokenRequests() != 2 || strings.Contains(lines(results), "wrong-key") {
		t.Errorf("%d token calls, want 2; results:\n%s", d.api.TokenRequests(), lines(results))
	}
	results = d.check(t, d.api.ClientWith(load.BasicAuth(d.api.Username, "wrong-key")), preflight.Options{})
	expect(t, results, "api", preflight.Fail, "refused the credentials (401 invalid_grant")
	if d.api.TokenRequests() != 2 || d.api.FailedLogins() != 2 {
		t.Errorf("%d token calls, %d failed logins; want 2, 2", d.api.TokenRequests(), d.api.FailedLogins())
	}
}

// A query without a cursor column fails with the columns to add; one whose
// column has a type its field cannot take fails naming the field.
func TestQueryProblems(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, `SELECT c.id AS cursor_key, c.client_ref AS external_id FROM clients c`)
	results := d.check(t, nil, preflight.Options{})
	expect(t, results, "customers: customers_query", preflight.Fail, "must select the columns cursor_updated_at and cursor_key")
	expect(t, results, "customers: relations_query", preflight.OK)

	d.cfg = d.config(t, d.db.URL, `SELECT c.updated_at AS cursor_updated_at, c.id AS cursor_key, c.client_ref AS external_id,
		ARRAY[c.family_name] AS last_name FROM clients c`)
	results = d.check(t, nil, preflight.Options{})
	expect(t, results, "customers: customers_query", preflight.Fail, "last_name", "want text, got text[]")
}

// A state schema without the latest migration fails with what to run.
func TestStateBehind(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	if _, err := d.db.Exec(`DELETE FROM algoreg_etl.schema_version WHERE version = (SELECT max(version) FROM algoreg_etl.schema_version)`); err != nil {
		t.Fatal(err)
	}
	results := d.check(t, nil, preflight.Options{})
	expect(t, results, "state schema", preflight.Fail, "run `algoreg-etl migrate`")
	if preflight.Worst(results) != preflight.Fail {
		t.Errorf("worst is not FAIL:\n%s", lines(results))
	}
}

// A page query that reads a large table whole is a warning that gives the
// index to create; once it exists, the pages read it.
func TestMissingCursorIndex(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, `SELECT b.changed AS cursor_updated_at, b.id AS cursor_key, b.ref AS external_id FROM big b`)
	if _, err := d.db.Exec(`CREATE TABLE big (id int PRIMARY KEY, changed timestamptz NOT NULL, ref text);
		INSERT INTO big SELECT g, now() - g * interval '1 minute', 'R' || g FROM generate_series(1, 5000) g;
		ANALYZE big`); err != nil {
		t.Fatal(err)
	}
	opts := preflight.Options{LargeTable: 1000}
	results := d.check(t, nil, opts)
	create := "CREATE INDEX CONCURRENTLY ON public.big (changed, id);"
	expect(t, results, "customers: customers_query cursor", preflight.Warn, "each page reads all of public.big (about 5000 rows)", create)

	if _, err := d.db.Exec(create); err != nil {
		t.Fatal(err)
	}
	results = d.check(t, nil, opts)
	expect(t, results, "customers: customers_query cursor", preflight.OK, "through index big_changed_id_idx")

	// A small table is read whole without a warning, with the index to
	// add before it grows.
	results = d.check(t, nil, preflight.Options{LargeTable: 1000000})
	if r := find(t, results, "customers: relations_query cursor"); r.Status != preflight.OK {
		t.Errorf("relations: %s", r)
	}
}

// With a sample, the first rows are sent with verify_input and each gets a
// line; invalid rows are warnings, and nothing is stored.
func TestSample(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	results := d.check(t, nil, preflight.Options{Sample: 3})
	var sample []preflight.Result
	for _, r := range results {
		if r.Subject == "customers: customers_query sample" {
			sample = append(sample, r)
		}
	}
	if len(sample) != 3 {
		t.Fatalf("%d sample lines, want 3:\n%s", len(sample), lines(results))
	}
	for _, r := range sample {
		if r.Status != preflight.OK || !strings.Contains(r.Message, "the API would accept it") {
			t.Errorf("sample: %s", r)
		}
	}
	if d.api.Received() < 3 || len(d.api.Customers()) != 0 {
		t.Errorf("the sandbox received %d customers and stored %d", d.api.Received(), len(d.api.Customers()))
	}
}

// The windows the checks read end at Options.Now less the safety lag.
func TestNow(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	results := d.check(t, nil, preflight.Options{Now: func() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }, Sample: 1})
	expect(t, results, "customers: customers_query sample", preflight.OK, "no rows before 2019-12-31T23:59:30Z")
}

// A job with incremental: diff is checked as its runs read it: its query
// must select cursor_key and no cursor_updated_at, its pages read an index
// on cursor_key alone, and its sample is its first rows by key.
func TestDiffJob(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	diffSQL, err := os.ReadFile(filepath.Join("..", "sql", "example", "customers_diff.sql"))
	if err != nil {
		t.Fatal(err)
	}
	job := &d.cfg.Jobs[0]
	job.Incremental, job.CustomersSQL, job.RelationsSQL = configs.IncrementalDiff, string(diffSQL), ""
	results := d.check(t, nil, preflight.Options{Sample: 2})
	expect(t, results, "customers: customers_query", preflight.OK, "usable types", "cursor_key int8 (incremental: diff")
	expect(t, results, "customers: customers_query cursor", preflight.OK, "clients_pkey")
	var sample []string
	for _, r := range results {
		if r.Subject == "customers: customers_query sample" {
			sample = append(sample, r.Message)
		}
	}
	if len(sample) != 2 || !strings.HasPrefix(sample[0], "C-0001: ") || !strings.HasPrefix(sample[1], "C-0002: ") {
		t.Errorf("sample: %q, want C-0001 and C-0002", sample)
	}
	if preflight.Worst(results) != preflight.Warn {
		t.Errorf("worst is not warn:\n%s", lines(results))
	}

	// The cursor query is not one a diff job can read.
	job.CustomersSQL = d.config(t, d.db.URL, "").Jobs[0].CustomersSQL
	results = d.check(t, nil, preflight.Options{})
	expect(t, results, "customers: customers_query", preflight.Fail, "incremental: diff: ", "selects cursor_updated_at", "remove the column")

	// A big table without an index on its key: the index to add.
	if _, err := d.db.Exec(`CREATE TABLE big_nokey (id int NOT NULL, ref text);
		INSERT INTO big_nokey SELECT g, 'R' || g FROM generate_series(1, 5000) g; ANALYZE big_nokey`); err != nil {
		t.Fatal(err)
	}
	job.CustomersSQL = `SELECT b.id AS cursor_key, b.ref AS external_id FROM big_nokey b`
	results = d.check(t, nil, preflight.Options{LargeTable: 1000})
	expect(t, results, "customers: customers_query cursor", preflight.Warn, "each page reads all of public.big_nokey", "CREATE UNIQUE INDEX CONCURRENTLY ON public.big_nokey (id);")
}

// A sample maps each row as a run does: under on_invalid_field's default,
// drop, a customer whose date of birth is in the future is verified
// without it, with a warning naming the field; under reject it is reported
// as a run records it, invalid and not sent.
func TestSampleDropsAsARunDoes(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, `SELECT c.updated_at AS cursor_updated_at, c.id AS cursor_key, c.client_ref AS external_id,
       'N' AS account_type, 'Ada' AS first_name, 'Lovelace' AS last_name, DATE '2999-01-01' AS date_of_birth
  FROM clients c`)
	d.cfg.Jobs[0].AccountTypes = nil
	d.cfg.Jobs[0].RelationsSQL = ""
	const subject = "customers: customers_query sample"

	results := d.check(t, nil, preflight.Options{Sample: 1})
	expect(t, results, subject, preflight.Warn, "sent without date_of_birth", "a run records a warning")
	var verified bool
	for _, r := range results {
		verified = verified || (r.Subject == subject && strings.Contains(r.Message, "the API would accept it"))
	}
	if !verified {
		t.Errorf("the customer without its date of birth was not verified:\n%s", lines(results))
	}

	d.cfg.Jobs[0].OnInvalidField["date_of_birth"] = configs.InvalidFieldReject
	results = d.check(t, nil, preflight.Options{Sample: 1})
	expect(t, results, subject, preflight.Warn, "not sent, a run records it as invalid", "date_of_birth")
}
