package preflight_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/preflight"
	"github.com/algoreg/algoreg-etl/state"
)

// readmeGrants returns the SQL of the README's "Least privilege" section.
func readmeGrants(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Least privilege\n")
	_, block, ok2 := strings.Cut(section, "```sql\n")
	block, _, ok3 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README.md has no SQL block under \"## Least privilege\"")
	}
	return block
}

// The README's grants, run as written (with role and database names made
// unique on the shared server), make a deployment that migrates, and that
// passes every check without a warning: the source role can only read.
func TestReadmeGrants(t *testing.T) {
	t.Parallel()
	d := newDeployment(t, "")
	suffix := make([]byte, 4)
	rand.Read(suffix)
	reader, owner := "algoreg_reader_"+hex.EncodeToString(suffix), "algoreg_state_"+hex.EncodeToString(suffix)
	schema := "algoreg_etl_" + hex.EncodeToString(suffix)
	sql := readmeGrants(t)
	for _, r := range []struct{ re, to string }{
		{`\balgoreg_reader\b`, reader}, {`\balgoreg_state\b`, owner}, {`\balgoreg_etl\b`, schema},
		{`\bDATABASE (core|ops)\b`, `DATABASE "` + d.db.Name + `"`},
	} {
		sql = regexp.MustCompile(r.re).ReplaceAllString(sql, r.to)
	}
	t.Cleanup(func() {
		d.db.Exec(`DROP OWNED BY ` + reader + `, ` + owner)
		d.db.Exec(`DROP ROLE IF EXISTS ` + reader)
		d.db.Exec(`DROP ROLE IF EXISTS ` + owner)
	})
	if _, err := d.db.Exec(sql); err != nil {
		t.Fatalf("the README's grants: %v\n%s", err, sql)
	}
	as := func(role string) string {
		u, err := url.Parse(d.db.URL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(role)
		return u.String()
	}

	st, err := state.Open(context.Background(), as(owner), schema)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate as the state role: %v", err)
	}
	d.cfg = d.config(t, as(reader), "")
	d.cfg.State.DSN, d.cfg.State.Schema = configs.DSN(as(owner)), schema
	results := d.check(t, nil, preflight.Options{})
	if preflight.Worst(results) != preflight.OK {
		t.Errorf("a deployment with the README's grants is not all ok:\n%s", lines(results))
	}
	expect(t, results, "customers: customers_query privileges", preflight.OK, "role "+reader+" can read, not write", "public.clients")
	expect(t, results, "source", preflight.OK, "role "+reader)

	// The same role given a write privilege is a warning naming it.
	if _, err := d.db.Exec(`GRANT UPDATE ON public.client_contacts TO ` + reader); err != nil {
		t.Fatal(err)
	}
	results = d.check(t, nil, preflight.Options{})
	expect(t, results, "customers: customers_query privileges", preflight.Warn, "could write to public.client_contacts (UPDATE)", "REVOKE")
}
