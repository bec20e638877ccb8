package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// Verify and offline runs leave the API's store and the watermarks as they
// were, and record their findings on a run of their own kind.
func TestVerifyAndOfflineRunsPersistNothing(t *testing.T) {
	f := newFixture(t)
	sqltest.Seed(t, f.db)
	f.withRelations(t)
	var verifyFlags []bool
	f.api.SetBeforeSave(func(req *load.SaveRequest) { verifyFlags = append(verifyFlags, req.VerifyInput) })

	for _, kind := range []string{state.KindVerify, state.KindOffline} {
		calls := f.api.Requests()
		res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{Kind: kind})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		counted(t, res)
		if len(f.api.Customers()) != 0 || len(f.api.Relations()) != 0 {
			t.Errorf("%s: the sandbox stores %d customers, %d relations", kind, len(f.api.Customers()), len(f.api.Relations()))
		}
		for _, stream := range []string{pipeline.StreamCustomers, pipeline.StreamRelations} {
			if wm, ok, _ := f.env.State.Watermark(context.Background(), f.job.Name, stream); ok {
				t.Errorf("%s moved the %s watermark to %+v", kind, stream, wm)
			}
		}
		run, _ := f.env.State.Run(context.Background(), res.RunID)
		// Of the seed's five rows with invalid values, C-0021 is refused and
		// the four others sent without their invalid optional field.
		if run.Kind != kind || run.Invalid != 1 || run.Warnings < 4 || run.Sent == 0 {
			t.Errorf("%s run row: %+v", kind, run)
		}
		errs, _ := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
		if len(errs) < 5 {
			t.Errorf("%s recorded %d findings, want the 5 rows with invalid values at least", kind, len(errs))
		}
		switch kind {
		case state.KindOffline:
			if f.api.Requests() != calls {
				t.Errorf("offline run called the API %d times", f.api.Requests()-calls)
			}
		case state.KindVerify:
			if f.api.Requests() == calls {
				t.Error("verify run did not call the API")
			}
		}
	}
	for _, v := range verifyFlags {
		if !v {
			t.Fatal("a verify run sent a call without verify_input")
		}
	}
	// The findings are not failures for a nightly run to retry. What it
	// held back itself, waiting for a parent or a customer of the same
	// run, it tries again without counting those rows twice.
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted(t, res)
	if res.Counts.Retried != 0 {
		t.Errorf("the nightly run retried %d rows", res.Counts.Retried)
	}
}

// A backfill re-sends a range without moving the nightly watermark; an
// interrupted backfill resumes where it stopped.
func TestBackfill(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.insertSpread(t, 60, base)
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 4, 8, 1
	f.run(t)
	before, _ := f.watermark(t)

	res := f.runWith(t, pipeline.Options{Kind: state.KindBackfill, Since: base.Add(31 * time.Second), Full: true})
	if res.Counts.Sent != 30 || res.Kind != state.KindBackfill || !res.DisableRiskScan {
		t.Errorf("backfill of the last 30 rows: %+v", res)
	}
	if after, _ := f.watermark(t); !after.UpdatedAt.Equal(before.UpdatedAt) || after.Key != before.Key {
		t.Errorf("the backfill moved the watermark from %+v to %+v", before, after)
	}

	// Interrupt a full backfill after its fifth call; the next backfill of
	// the same range resumes after what was settled.
	f.job.DrainTimeout = 0
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	f.api.SetBeforeSave(func(*load.SaveRequest) {
		if calls.Add(1) == 5 {
			cancel()
		}
	})
	first, _ := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: state.KindBackfill, Full: true})
	f.api.SetBeforeSave(nil)
	if first == nil || first.Status != state.StatusInterrupted || first.Counts.Sent == 0 {
		t.Fatalf("interrupted backfill: %+v", first)
	}
	received := f.api.Received()
	second := f.runWith(t, pipeline.Options{Kind: state.KindBackfill, Full: true})
	run, _ := f.env.State.Run(context.Background(), second.RunID)
	if run.ResumeOf != first.RunID {
		t.Errorf("second backfill resumes run %d, want %d", run.ResumeOf, first.RunID)
	}
	// Chunks settle out of order: what the first backfill settled is the
	// prefix up to its progress, and the resumed one starts right after it
	// (chunks sent beyond the prefix are sent again).
	prev, _ := f.env.State.Run(context.Background(), first.RunID)
	if prev.Progress == nil {
		t.Fatalf("the interrupted backfill recorded no progress: %+v", prev)
	}
	var settled int64
	if err := f.db.Get(&settled, `SELECT count(*) FROM clients WHERE (updated_at, id) <= ($1, $2::bigint)`, prev.Progress.UpdatedAt, prev.Progress.Key); err != nil {
		t.Fatal(err)
	}
	if resent := int64(f.api.Received() - received); settled == 0 || resent+settled != 60 || second.Counts.Extracted != resent {
		t.Errorf("the resumed backfill sent %d rows after %d settled ones, extracting %d; want 60 in all", resent, settled, second.Counts.Extracted)
	}
	if after, _ := f.watermark(t); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("backfills moved the watermark to %+v", after)
	}
}

// The views count as sent only what the API kept: the would-be sends of a
// verify run, an offline run and a reconcile's dry run are counted apart.
func TestViewsCountOnlyWhatWasSent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.insertSpread(t, 12, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	for _, opts := range []pipeline.Options{{Kind: state.KindVerify}, {Kind: state.KindOffline}, {Kind: state.KindReconcile, DryRun: true}} {
		if res := f.runWith(t, opts); res.Counts.Sent != 12 {
			t.Fatalf("%s (dry run %v): %+v, want 12 would-be sends", opts.Kind, opts.DryRun, res.Counts)
		}
	}
	real := f.run(t)
	if real.Counts.Sent != 12 || len(f.api.Customers()) != 12 {
		t.Fatalf("the run: %+v", real.Counts)
	}

	runs, err := f.env.State.RunSummaries(ctx, state.RunFilter{Job: f.job.Name})
	if err != nil {
		t.Fatal(err)
	}
	var sent, added, updated, wouldSend int64
	for _, r := range runs {
		sent, added, updated, wouldSend = sent+r.Sent, added+r.Added, updated+r.Updated, wouldSend+r.WouldSend
		if dry := r.ID != real.RunID; r.DryRun != dry {
			t.Errorf("run %d (%s): dry_run %v", r.ID, r.Kind, r.DryRun)
		}
	}
	if sent != 12 || added != 12 || updated != 0 || wouldSend != 36 {
		t.Errorf("run_summary: %d sent, %d added, %d updated, %d would send; want 12, 12, 0, 36", sent, added, updated, wouldSend)
	}
	days, err := f.env.State.DailyCounts(ctx, f.job.Name, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	sent, added, updated, wouldSend = 0, 0, 0, 0
	for _, d := range days {
		sent, added, updated, wouldSend = sent+d.Sent, added+d.Added, updated+d.Updated, wouldSend+d.WouldSend
	}
	if sent != 12 || added != 12 || updated != 0 || wouldSend != 36 {
		t.Errorf("daily_counts: %d sent, %d added, %d updated, %d would send; want 12, 12, 0, 36", sent, added, updated, wouldSend)
	}
}
