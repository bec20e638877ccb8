package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/state"
)

// A job with incremental: diff from the command line: its run says it
// has no watermark and what it found; a second run over an unchanged
// source sends nothing; its backfill is refused with exit 2 and the way to
// send every row again, and leaves no run; its reconcile's dry run
// forecasts nothing to do, and exits 0 as the reconcile would: the row
// that cannot be sent has an open error for that reason already.
func TestDiffJobCommands(t *testing.T) {
	path, db, api := deployment(t, "incremental: diff")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(strings.Replace(string(text), "    safety_lag: 0s\n", "", 1), "customers.sql", "customers_diff.sql", 1)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALGOREG_ETL_CONFIG", path)
	if code, out, stderr := cli(t, "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}

	// The seed holds rows that cannot be sent: exit 5.
	code, out, stderr := cli(t, "run", "customers")
	if code != exitRecordErrs || !strings.Contains(out, "no watermark (incremental: diff)") ||
		!strings.Contains(out, " new and 0 changed records sent, 0 missing from the source (0 disabled)") {
		t.Fatalf("first run: exit %d\n%s%s", code, out, stderr)
	}
	sent := len(api.Customers())
	if sent == 0 {
		t.Fatal("the first run sent nothing")
	}
	// Unchanged: the invalid row fails again for the same reason, nothing
	// new (exit_on_errors: new), exit 0; the run is still partial.
	code, out, stderr = cli(t, "run", "customers")
	if code != exitOK || !strings.Contains(out, "partial") || !strings.Contains(out, ": 0 new and 0 changed records sent, 0 missing from the source") {
		t.Errorf("second run: exit %d\n%s%s", code, out, stderr)
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
	code, out, stderr = cli(t, "backfill", "customers", "--all")
	if code != exitUsage || !strings.Contains(stderr, "incremental: diff has no updated_at to backfill") || !strings.Contains(stderr, "run --full") {
		t.Errorf("backfill: exit %d\n%s%s", code, out, stderr)
	}
	if again, err := st.Runs(context.Background(), "customers", 0); err != nil || len(again) != len(runs) {
		t.Errorf("the refused backfill left a run: %d runs, then %d (%v)", len(runs), len(again), err)
	}

	code, out, stderr = cli(t, "reconcile", "customers", "--dry-run")
	if code != exitOK || !strings.Contains(out, "(dry run): 0 new and 0 changed records would be sent, 0 missing from the source (0 would be disabled)") {
		t.Errorf("reconcile --dry-run: exit %d\n%s%s", code, out, stderr)
	}
	if len(api.Customers()) != sent {
		t.Errorf("the sandbox holds %d customers after the second run and the dry run, %d after the first", len(api.Customers()), sent)
	}
}
