package pipeline_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/jonboulle/clockwork"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// A run that cannot start is still a run: whatever fails first (a query
// naming a missing table, a source that does not answer), the run row
// exists and ends failed with the error, and under serve the slot names it.
func TestRunThatCannotStartIsARun(t *testing.T) {
	unreachable, err := sqlx.Open("postgres", "postgres://127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	for _, tt := range []struct {
		name  string
		setup func(f *fixture)
		want  string // in the run's error
	}{
		{"missing table", func(f *fixture) {
			f.job.CustomersSQL = strings.Replace(f.job.CustomersSQL, "FROM clients c", "FROM no_such_clients c", 1)
		}, "no_such_clients"},
		{"source down", func(f *fixture) { f.env.Source = unreachable }, "source"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			f.insertPeople(t, 1, 3, time.Now().Add(-time.Hour))
			tt.setup(f)
			for _, kind := range []string{state.KindRun, state.KindBackfill, state.KindReconcile} {
				var started int64
				res, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: kind, Started: func(id int64) { started = id }})
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("%s: %v, want an error naming %q", kind, err, tt.want)
				}
				if res == nil || res.Status != state.StatusFailed || res.RunID == 0 || started != res.RunID {
					t.Fatalf("%s: result %+v (Started with %d), want a failed run", kind, res, started)
				}
				run, err := f.env.State.Run(ctx, res.RunID)
				if err != nil {
					t.Fatal(err)
				}
				if run.Kind != kind || run.Status != state.StatusFailed || !strings.Contains(run.Error, tt.want) || run.FinishedAt == nil {
					t.Errorf("%s: run row %+v", kind, run)
				}
			}

			// Under serve, the slot names its failed run.
			f.job.Schedule = "0 2 * * *"
			s := f.scheduler(t, "a", clockwork.NewFakeClockAt(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)), pipeline.SchedulerOptions{})
			eventually(t, "a leads", s.Leader)
			res, err := s.RunNow(ctx, f.job.Name)
			if err == nil || res == nil || res.Status != state.StatusFailed {
				t.Fatalf("RunNow: %+v, %v", res, err)
			}
			slots := f.slots(t)
			if len(slots) != 1 || slots[0].RunID != res.RunID {
				t.Errorf("slots %+v, want one naming run %d", slots, res.RunID)
			}
		})
	}
}

// A cursor that is always later than the window's end (now() as the
// cursor) gives windows that never hold a row: every run still ends, but
// with a warning on its run row, in the log and in its result. A cursor
// that is a stored column gives none.
func TestWindowThatNeverHoldsARowWarns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.insertPeople(t, 1, 3, time.Now().Add(-time.Hour))
	var log strings.Builder
	f.env.Logger = slog.New(slog.NewTextHandler(&log, nil))
	if res := f.run(t); res.Warning != "" || res.Counts.Sent != 3 {
		t.Fatalf("a run over a stored cursor: %+v", res)
	}
	f.job.CustomersSQL = strings.Replace(f.job.CustomersSQL, "c.updated_at        AS cursor_updated_at", "now() AS cursor_updated_at", 1)
	f.insertPeople(t, 4, 2, time.Now().Add(-time.Hour))
	for _, kind := range []string{state.KindRun, state.KindVerify, state.KindBackfill, state.KindReconcile} {
		res, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: kind})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if res.Counts.Extracted != 0 || !strings.Contains(res.Warning, "5 rows of the customers query") {
			t.Errorf("%s over a now() cursor: %+v, want a warning about 5 rows", kind, res)
		}
		run, err := f.env.State.Run(ctx, res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Warning != res.Warning {
			t.Errorf("%s: run row's warning %q, want %q", kind, run.Warning, res.Warning)
		}
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "rows=5") {
		t.Errorf("no warning in the log:\n%s", log.String())
	}
}
