package state_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestPrune(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	// run1 and run2 ran 100 days ago; run3 and the people run today.
	if _, err := a.db.Exec(`UPDATE algoreg_etl.runs SET started_at = started_at - interval '100 days' WHERE id IN ($1, $2)`, a.run1, a.run2); err != nil {
		t.Fatal(err)
	}
	count := func() string {
		t.Helper()
		var history, chunks, errs, open, pruned int
		err := a.db.QueryRow(`SELECT
			(SELECT count(*) FROM algoreg_etl.record_history),
			(SELECT count(*) FROM algoreg_etl.run_chunks),
			(SELECT count(*) FROM algoreg_etl.record_errors),
			(SELECT count(*) FROM algoreg_etl.record_errors WHERE resolved_at IS NULL AND severity = 'error'),
			(SELECT count(*) FROM algoreg_etl.runs WHERE history_pruned_at IS NOT NULL)`).Scan(&history, &chunks, &errs, &open, &pruned)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("history=%d chunks=%d errors=%d open=%d pruned_runs=%d", history, chunks, errs, open, pruned)
	}
	// newAudited leaves 8 history rows (run1 4, run2 1, run3 2, people 1),
	// 6 chunks, and 4 record errors: run1's warning, resolved error and
	// open error (met again by run2), run3's open finding.
	if got := count(); got != "history=8 chunks=6 errors=4 open=2 pruned_runs=0" {
		t.Fatalf("before: %s", got)
	}
	before := time.Now().Add(-90 * 24 * time.Hour)
	o := state.PruneOptions{Job: "customers", Before: before, Batch: 2, DryRun: true}
	dry, err := a.s.Prune(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "history=8 chunks=6 errors=4 open=2 pruned_runs=0" {
		t.Fatalf("a dry run deleted rows: %s", got)
	}
	o.DryRun = false
	res, err := a.s.Prune(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if res != dry || res != (state.PruneResult{Runs: 2, History: 5, Chunks: 4, Errors: 2}) {
		t.Errorf("prune: %+v, dry run said %+v", res, dry)
	}
	// Open errors stay; the runs stay with their counts.
	if got := count(); got != "history=3 chunks=2 errors=2 open=2 pruned_runs=2" {
		t.Errorf("after: %s", got)
	}
	r, err := a.s.Run(ctx, a.run1)
	if err != nil || r.Sent != 3 {
		t.Errorf("run1 after prune: %+v, %v", r, err)
	}
	runs, err := a.s.RunSummaries(ctx, state.RunFilter{ID: a.run1})
	if err != nil || len(runs) != 1 || runs[0].HistoryPrunedAt == nil || runs[0].Chunks != 0 || runs[0].Sent != 3 {
		t.Errorf("run1's summary after prune: %+v, %v", runs, err)
	}

	// Pruning again finds nothing, until the open error is resolved.
	if res, err := a.s.Prune(ctx, o); err != nil || res != (state.PruneResult{}) {
		t.Errorf("second prune: %+v, %v", res, err)
	}
	if _, err := a.s.Resolve(ctx, a.run3, "customers", "customers", []string{"4"}); err != nil {
		t.Fatal(err)
	}
	if res, err := a.s.Prune(ctx, o); err != nil || res != (state.PruneResult{Errors: 1}) {
		t.Errorf("prune after resolving: %+v, %v", res, err)
	}
	if got := count(); got != "history=3 chunks=2 errors=1 open=1 pruned_runs=2" {
		t.Errorf("after resolving and pruning: %s", got)
	}

	// Another job's runs are left alone; a job is required.
	if res, err := a.s.Prune(ctx, state.PruneOptions{Job: "people", Before: before}); err != nil || res != (state.PruneResult{}) {
		t.Errorf("prune of people: %+v, %v", res, err)
	}
	if _, err := a.s.Prune(ctx, state.PruneOptions{Before: time.Now()}); err == nil {
		t.Error("Prune without a job succeeded")
	}
}

// TestPruneLeavesRunningRuns: a run still running is never pruned, however
// old, since its chunks are still being written.
func TestPruneLeavesRunningRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run := startRun(t, s, "customers", state.KindRun)
	if err := s.RecordHistory(ctx, state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers",
		Records: []state.HistoryRecord{{ExternalID: "C-1", Hash: hash16(1), Outcome: state.OutcomeAdded}}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Prune(ctx, state.PruneOptions{Job: "customers", Before: time.Now().Add(time.Hour)})
	if err != nil || res != (state.PruneResult{}) {
		t.Errorf("prune: %+v, %v", res, err)
	}
}

// TestPruneHistoryReadsByRun checks, on a history of 100,000 rows, that a
// batch of prune finds the run's rows through the index on run_id and
// deletes them where they are, without reading the table whole.
func TestPruneHistoryReadsByRun(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a table of 100,000 rows")
	}
	ctx := context.Background()
	s, db := newStore(t)
	if _, err := db.ExecContext(ctx, `INSERT INTO algoreg_etl.record_history
		(run_id, job, stream, external_id, source_key, hash, outcome, disable_risk_scan)
		SELECT i / 5000 + 1, 'customers', 'customers', 'C-' || i, i::text, decode(md5(i::text), 'hex'), 'added', false
		FROM generate_series(0, 99999) AS i;
		ANALYZE algoreg_etl.record_history`); err != nil {
		t.Fatal(err)
	}
	p := explain(t, db, false, s.PruneHistoryQuery(), 3, 5000)
	if strings.Contains(p, "Seq Scan on record_history") || !strings.Contains(p, "Tid Scan on record_history") ||
		!strings.Contains(p, "record_history_run_id") {
		t.Errorf("prune does not delete a run's history through the index on run_id:\n%s", p)
	}
}
