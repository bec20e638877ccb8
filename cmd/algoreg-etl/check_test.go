package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hasLine reports whether out has a line that starts with prefix and holds
// every one of want.
func hasLine(out, prefix string, want ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// check on the example deployment reports every item, one line each, and
// exits 0: its only warnings are about the superuser the tests connect as.
// The examples of check's help run as written.
func TestCheckExampleDeployment(t *testing.T) {
	path, _, api := deployment(t, "relations_query: {sql}/relations.sql", "relation_types: {director: 1, shareholder: 2, ubo: 3}")
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	t.Setenv("ALGOREG_ETL_CONFIG", path)
	code, out, stderr := cli(t, "check")
	if code != exitOK || stderr != "" {
		t.Fatalf("check: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range [][]string{
		{"ok    config: ", "is valid, 1 job"},
		{"ok    source: PostgreSQL ", "read-only"},
		{"warn  source: role ", "is a superuser"},
		{"ok    state: PostgreSQL "},
		{"ok    state schema: algoreg_etl is at migration "},
		{"ok    api: ", "accepted the credentials"},
		{"ok    customers: customers_query: compiles; ", "usable types"},
		{"ok    customers: customers_query cursor: ", "index clients_updated_at_id"},
		{"warn  customers: customers_query privileges: ", "superuser"},
		{"ok    customers: relations_query: compiles; "},
		{"ok    customers: relations_query cursor: ", "client_links_updated_at_id"},
		{"", " ok, ", " warn, 0 FAIL"},
	} {
		if !hasLine(out, want[0], want[1:]...) {
			t.Errorf("no line %q with %q:\n%s", want[0], want[1:], out)
		}
	}
	if strings.Contains(out, api.Token) {
		t.Error("the token appears in the output")
	}
	if code, out, _ := cli(t, "check", "--strict"); code != exitFailed {
		t.Errorf("check --strict with warnings: exit %d\n%s", code, out)
	}

	code, out, stderr = cli(t, "check", "customers", "--sample", "5")
	if code != exitOK || strings.Count(out, "customers: customers_query sample: ") != 5 || strings.Count(out, "customers: relations_query sample: ") != 5 {
		t.Errorf("check customers --sample 5: exit %d\n%s%s", code, out, stderr)
	}
	if len(api.Customers()) != 0 || len(api.Relations()) != 0 {
		t.Error("a check stored records in the API")
	}
	if code, _, stderr := cli(t, "check", "nobody"); code != exitUsage || !strings.Contains(stderr, `"nobody"`) {
		t.Errorf("check of an unknown job: exit %d\n%s", code, stderr)
	}
}

// check fails, exit 1, with the line that says what is wrong: a wrong
// token, a query without a cursor column, a state schema behind; an invalid
// config exits 2.
func TestCheckFailures(t *testing.T) {
	path, db, api := deployment(t)
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	fails := func(name, prefix string, want ...string) {
		t.Helper()
		code, out, stderr := cli(t, "check", "--config", path)
		if code != exitFailed || !hasLine(out, prefix, want...) || strings.Count(out, "FAIL  ") != 1 {
			t.Errorf("%s: exit %d, want 1 and one FAIL line %q with %q:\n%s%s", name, code, prefix, want, out, stderr)
		}
	}

	t.Setenv("TEST_ALGOREG_TOKEN", "not-the-token")
	fails("wrong token", "FAIL  api: ", "refused the credentials", "check algoreg.token")
	t.Setenv("TEST_ALGOREG_TOKEN", api.Token)

	config, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	query := filepath.Join(t.TempDir(), "no-cursor.sql")
	os.WriteFile(query, []byte("SELECT c.id AS cursor_key, c.client_ref AS external_id FROM clients c\n"), 0o600)
	bad := regexp.MustCompile(`customers_query: .*`).ReplaceAll(config, []byte("customers_query: "+query))
	os.WriteFile(path, bad, 0o600)
	fails("no cursor column", "FAIL  customers: customers_query: ", "must select the columns cursor_updated_at and cursor_key")
	os.WriteFile(path, config, 0o600)

	if _, err := db.Exec(`DELETE FROM algoreg_etl.schema_version WHERE version = (SELECT max(version) FROM algoreg_etl.schema_version)`); err != nil {
		t.Fatal(err)
	}
	fails("state schema behind", "FAIL  state schema: ", "run `algoreg-etl migrate`")
	cli(t, "migrate", "--config", path)

	os.WriteFile(path, append(config, "    chunksize: 5\n"...), 0o600)
	if code, out, _ := cli(t, "check", "--config", path); code != exitUsage || !hasLine(out, "FAIL  config: ", "chunksize") {
		t.Errorf("an invalid config: exit %d, want 2 and the config's line:\n%s", code, out)
	}
}

// A job whose query writes to the source fails: the pipeline's connections
// to the source are read-only.
func TestRunCannotWriteToTheSource(t *testing.T) {
	path, db, _ := deployment(t)
	cli(t, "migrate", "--config", path)
	if _, err := db.Exec(`CREATE FUNCTION stamp_clients() RETURNS bigint LANGUAGE sql AS
		$$ UPDATE clients SET notes = 'written by the pipeline'; SELECT 1::bigint $$`); err != nil {
		t.Fatal(err)
	}
	config, _ := os.ReadFile(path)
	query := filepath.Join(t.TempDir(), "writes.sql")
	os.WriteFile(query, []byte("SELECT c.updated_at AS cursor_updated_at, c.id AS cursor_key, c.client_ref AS external_id, stamp_clients() AS kyc_level FROM clients c\n"), 0o600)
	os.WriteFile(path, regexp.MustCompile(`customers_query: .*`).ReplaceAll(config, []byte("customers_query: "+query)), 0o600)
	code, out, stderr := cli(t, "run", "customers", "--config", path)
	if code != exitFailed || !strings.Contains(stderr, "read-only transaction") {
		t.Errorf("run of a query that writes: exit %d, want 1 and a read-only error\n%s%s", code, out, stderr)
	}
	var written int
	if err := db.Get(&written, `SELECT count(*) FROM clients WHERE notes = 'written by the pipeline'`); err != nil || written != 0 {
		t.Errorf("%d rows written to the source (%v)", written, err)
	}
}
