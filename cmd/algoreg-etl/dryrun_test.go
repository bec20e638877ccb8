package main

import (
	"strings"
	"testing"

	"github.com/lib/pq"
)

// A dry run exits as the real run that follows it would: reconcile
// --dry-run over rows that keep failing for known reasons exits 0 as the
// reconcile does (exit_on_errors: new), and with more of the accepted
// records missing than max_disable_fraction both exit 1, naming the
// fraction, and nothing is disabled.
func TestDryRunExitsAsTheRealRun(t *testing.T) {
	path, db, api := deployment(t, "on_missing: disable", "max_disable_fraction: 0.05")
	t.Setenv("ALGOREG_ETL_CONFIG", path)
	if code, out, stderr := cli(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	// The seed holds rows that cannot be sent.
	if code, out, stderr := cli(t, "run", "customers"); code != exitRecordErrs {
		t.Fatalf("first run: exit %d\n%s%s", code, out, stderr)
	}
	for _, args := range [][]string{{"reconcile", "customers", "--dry-run"}, {"reconcile", "customers"}} {
		if code, out, stderr := cli(t, args...); code != exitOK || !strings.Contains(out, "partial") {
			t.Errorf("%s over known invalid rows: exit %d, want %d\n%s%s", strings.Join(args, " "), code, exitOK, out, stderr)
		}
	}

	// A tenth of the accepted customers gone from the source.
	var ids []string
	for id := range api.Customers() {
		ids = append(ids, id)
	}
	var gone []string
	if err := db.Select(&gone, `DELETE FROM clients WHERE id IN (SELECT c.id FROM clients AS c
		WHERE NOT EXISTS (SELECT 1 FROM clients AS k WHERE k.parent_client_id = c.id)
			AND NOT EXISTS (SELECT 1 FROM client_links AS l WHERE c.id IN (l.company_id, l.party_id))
			AND c.client_ref = ANY($1)
		ORDER BY c.id LIMIT $2) RETURNING client_ref`, pq.Array(ids), len(ids)/10+1); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"reconcile", "customers", "--dry-run"}, {"reconcile", "customers"}} {
		code, out, stderr := cli(t, args...)
		if code != exitFailed || !strings.Contains(stderr, "max_disable_fraction") {
			t.Errorf("%s over max_disable_fraction: exit %d, want %d naming max_disable_fraction\n%s%s", strings.Join(args, " "), code, exitFailed, out, stderr)
		}
	}
	held := api.Customers()
	for _, id := range gone {
		if c := held[id]; c.Disabled != nil && *c.Disabled {
			t.Errorf("%s disabled over max_disable_fraction", id)
		}
	}
}
