package state_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestSetRunProgress(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	until := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill, BackfillFrom: &from, BackfillUntil: &until})
	if err != nil {
		t.Fatal(err)
	}
	w := state.Watermark{UpdatedAt: time.Date(2025, 2, 3, 4, 5, 6, 789012345, time.UTC), Key: "C-42"}
	c := state.Counts{Extracted: 1000, Sent: 990, Skipped: 5, Invalid: 5, Retried: 2, Resolved: 1}
	if err := s.SetRunProgress(ctx, id, w, c); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := state.Watermark{UpdatedAt: w.UpdatedAt.Truncate(time.Microsecond), Key: w.Key}
	if r.Progress == nil || *r.Progress != want || r.Counts != c || r.Status != state.StatusRunning {
		t.Errorf("after SetRunProgress: progress %v, counts %+v, status %s; want %v, %+v, running", r.Progress, r.Counts, r.Status, want, c)
	}
	// A backfill's progress is its own: the job's watermark does not move.
	if wm, ok, err := s.Watermark(ctx, "customers", "customers"); err != nil || ok {
		t.Errorf("job watermark after SetRunProgress: %v, %v, %v; want none", wm, ok, err)
	}

	if err := s.FinishRun(ctx, id, state.StatusInterrupted, c, "interrupt"); err != nil {
		t.Fatal(err)
	}
	later := state.Watermark{UpdatedAt: w.UpdatedAt.Add(time.Hour), Key: "C-99"}
	if err := s.SetRunProgress(ctx, id, later, c); !errors.Is(err, state.ErrRunClosed) {
		t.Errorf("SetRunProgress of a closed run: %v, want ErrRunClosed", err)
	}
	if r, _ := s.Run(ctx, id); r.Progress == nil || *r.Progress != want {
		t.Errorf("progress of a closed run moved to %v", r.Progress)
	}
	if err := s.SetRunProgress(ctx, 1e9, later, c); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("SetRunProgress of a missing run: %v, want sql.ErrNoRows", err)
	}
}

func TestLastInterruptedBackfill(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	// start starts a run and closes it with status, unless status is
	// running.
	start := func(job, kind, status string, resumeOf int64, progress *state.Watermark) int64 {
		t.Helper()
		id, err := s.StartRun(ctx, state.Run{Job: job, Kind: kind, ResumeOf: resumeOf, Progress: progress})
		if err != nil {
			t.Fatal(err)
		}
		if status != state.StatusRunning {
			if err := s.FinishRun(ctx, id, status, state.Counts{}, ""); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	last := func() int64 {
		t.Helper()
		r, ok, err := s.LastInterruptedBackfill(ctx, "customers")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return 0
		}
		return r.ID
	}
	if id := last(); id != 0 {
		t.Fatalf("with no runs: run %d", id)
	}
	start("customers", state.KindRun, state.StatusInterrupted, 0, nil)
	start("customers", state.KindBackfill, state.StatusSucceeded, 0, nil)
	start("customers", state.KindBackfill, state.StatusRunning, 0, nil)
	if id := last(); id != 0 {
		t.Fatalf("with no interrupted backfill: run %d", id)
	}
	b := start("customers", state.KindBackfill, state.StatusInterrupted, 0, nil)
	if id := last(); id != b {
		t.Fatalf("LastInterruptedBackfill = %d, want %d", id, b)
	}
	at := state.Watermark{UpdatedAt: time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC), Key: "7"}
	c := start("customers", state.KindBackfill, state.StatusFailed, 0, &at)
	start("people", state.KindBackfill, state.StatusInterrupted, 0, nil)
	if id := last(); id != c {
		t.Fatalf("after a newer failed backfill: %d, want %d", id, c)
	}
	// d resumes c: while d runs, c is no longer resumable, and b, never
	// resumed, is the newest left.
	d := start("customers", state.KindBackfill, state.StatusRunning, c, &at)
	if id := last(); id != b {
		t.Fatalf("while %d resumes %d: %d, want %d", d, c, id, b)
	}
	if err := s.FinishRun(ctx, d, state.StatusInterrupted, state.Counts{}, "signal"); err != nil {
		t.Fatal(err)
	}
	r, ok, err := s.LastInterruptedBackfill(ctx, "customers")
	if err != nil || !ok || r.ID != d {
		t.Fatalf("after the resumption was interrupted: %d, %v, %v; want %d", r.ID, ok, err, d)
	}
	if r.ResumeOf != c || r.Progress == nil || *r.Progress != at || r.Kind != state.KindBackfill || r.Status != state.StatusInterrupted {
		t.Errorf("resumed backfill: %+v, want resume_of %d and progress %v", r, c, at)
	}
	start("customers", state.KindBackfill, state.StatusSucceeded, d, nil)
	if id := last(); id != b {
		t.Fatalf("after the chain finished: %d, want %d", id, b)
	}
}
