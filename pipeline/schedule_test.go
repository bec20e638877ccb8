package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// scheduler starts a Scheduler of the fixture's job on clock, as another
// process would: with its own connections to the state database.
func (f *fixture) scheduler(t *testing.T, instance string, clock clockwork.Clock, opts pipeline.SchedulerOptions) *pipeline.Scheduler {
	t.Helper()
	st, err := state.Open(context.Background(), f.db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := *f.env
	env.State = st
	opts.Clock, opts.Instance = clock, instance
	if opts.LeaderCheck == 0 {
		opts.LeaderCheck = 50 * time.Millisecond
	}
	s, err := pipeline.NewScheduler(&env, []*configs.Job{f.job}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(func() {
		if err := s.Shutdown(); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// advanceTo moves clock to at and waits until gocron has set its next timer.
func advanceTo(t *testing.T, clock *clockwork.FakeClock, at time.Time) {
	t.Helper()
	clock.Advance(at.Sub(clock.Now()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("gocron set no timer after %v: %v", at, err)
	}
}

// eventually waits up to 15 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// runs returns the job's runs, oldest first.
func (f *fixture) runs(t *testing.T) []state.Run {
	t.Helper()
	runs, err := f.env.State.Runs(context.Background(), f.job.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs
}

// finished reports whether the job has n runs, all closed. Once it does,
// it gives gocron a moment to see the task return: a slot that fires
// before then is skipped, as it should be, the job being still busy.
func (f *fixture) finished(t *testing.T, n int) func() bool {
	return func() bool {
		runs := f.runs(t)
		for _, r := range runs {
			if r.Status == state.StatusRunning {
				return false
			}
		}
		if len(runs) != n {
			return false
		}
		time.Sleep(150 * time.Millisecond)
		return true
	}
}

// slots returns the job's claimed slots, oldest first.
func (f *fixture) slots(t *testing.T) []state.Slot {
	t.Helper()
	slots, err := f.env.State.Slots(context.Background(), f.job.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i].Slot.Before(slots[j].Slot) })
	return slots
}

// checkSlots checks that exactly the slots want were claimed, each by the
// instance given, and that each ran exactly one run, and no run ran
// outside a slot.
func (f *fixture) checkSlots(t *testing.T, want []time.Time, by []string) {
	t.Helper()
	slots, runs := f.slots(t), f.runs(t)
	if len(slots) != len(want) || len(runs) != len(want) {
		t.Fatalf("%d slots and %d runs, want %d of each: slots %+v", len(slots), len(runs), len(want), slots)
	}
	for i, s := range slots {
		if !s.Slot.Equal(want[i]) || s.RunID != runs[i].ID || (by != nil && s.ClaimedBy != by[i]) {
			t.Errorf("slot %d: %v run %d claimed by %q; want %v run %d claimed by %v", i, s.Slot, s.RunID, s.ClaimedBy, want[i], runs[i].ID, by)
		}
		if runs[i].Status != state.StatusSucceeded && runs[i].Status != state.StatusPartial {
			t.Errorf("run %d: %s (%s)", runs[i].ID, runs[i].Status, runs[i].Error)
		}
	}
}

func minute(m int) time.Time { return time.Date(2026, 1, 5, 10, m, 0, 0, time.UTC) }

// Each slot runs once; a run that outlasts its interval is not overlapped:
// the slots that pass meanwhile are skipped, and the next one runs.
func TestSchedulerRunsEachSlotOnceWithoutOverlap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 5, time.Now().Add(-time.Hour))
	f.job.Schedule = "* * * * *"
	clock := clockwork.NewFakeClockAt(minute(0).Add(30 * time.Second))
	s := f.scheduler(t, "a", clock, pipeline.SchedulerOptions{})
	eventually(t, "the only instance leads", s.Leader)
	if next, err := s.NextRun("customers"); err != nil || !next.Equal(minute(1)) {
		t.Fatalf("NextRun: %v, %v; want %v", next, err, minute(1))
	}

	advanceTo(t, clock, minute(1))
	eventually(t, "the first slot has run", f.finished(t, 1))

	// The next run blocks in its first call to the API, past two slots.
	release := make(chan struct{})
	var once sync.Once
	calls := make(chan struct{})
	f.api.SetBeforeSave(func(*load.SaveRequest) {
		once.Do(func() { close(calls) })
		<-release
	})
	f.insertPeople(t, 100, 3, time.Now().Add(-time.Minute))
	advanceTo(t, clock, minute(2))
	<-calls
	advanceTo(t, clock, minute(3))
	advanceTo(t, clock, minute(4))
	time.Sleep(200 * time.Millisecond) // a run wrongly started would have claimed its slot by now
	if n := len(f.slots(t)); n != 2 {
		t.Errorf("%d slots claimed while the second run was blocked, want 2", n)
	}
	close(release)
	eventually(t, "the second run has finished", f.finished(t, 2))

	advanceTo(t, clock, minute(5))
	eventually(t, "the fifth minute's slot has run", f.finished(t, 3))
	f.checkSlots(t, []time.Time{minute(1), minute(2), minute(5)}, nil)
	runs := f.runs(t)
	if runs[1].FinishedAt.After(runs[2].StartedAt) {
		t.Errorf("runs overlap: run %d finished at %v, run %d started at %v", runs[1].ID, runs[1].FinishedAt, runs[2].ID, runs[2].StartedAt)
	}
	if runs[1].Sent != 3 {
		t.Errorf("the blocked run sent %d records, want the 3 new ones", runs[1].Sent)
	}
}

// A nightly job in Europe/Zurich runs once each night across both
// daylight-saving changes of the year, at the instants the schedule gives.
func TestSchedulerDaylightSavingChanges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr, from string
		slots            []string // the instants of the successive runs
	}{
		// 2026-03-29: 02:00 does not exist; the run is at 03:00 CEST.
		{"spring forward", "0 2 * * *", "2026-03-27T12:00:00Z", []string{"2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"}},
		// 2026-10-25: 02:30 happens twice; the run is at the first.
		{"fall back", "30 2 * * *", "2026-10-23T12:00:00Z", []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.insertPeople(t, 1, 2, time.Now().Add(-time.Hour))
			zurich, err := time.LoadLocation("Europe/Zurich")
			if err != nil {
				t.Fatal(err)
			}
			f.job.Schedule, f.job.Timezone = tc.expr, zurich
			clock := clockwork.NewFakeClockAt(utc(t, tc.from))
			s := f.scheduler(t, "a", clock, pipeline.SchedulerOptions{})
			eventually(t, "the only instance leads", s.Leader)
			var want []time.Time
			for i, at := range tc.slots {
				slot := utc(t, at)
				want = append(want, slot)
				next, err := s.NextRun("customers")
				if err != nil || !next.Equal(slot) || next.Location() != zurich {
					t.Fatalf("NextRun before run %d: %v, %v; want %v", i+1, next, err, slot.In(zurich))
				}
				advanceTo(t, clock, slot)
				eventually(t, fmt.Sprintf("run %d has finished", i+1), f.finished(t, i+1))
			}
			f.checkSlots(t, want, nil)
		})
	}
}

// Two processes with clocks 3 s apart run each slot once. When the
// leader's connection to the state database dies, the other process takes
// the lead and runs the next slot.
func TestSchedulersShareSlots(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 5, time.Now().Add(-time.Hour))
	f.job.Schedule = "* * * * *"
	clocks := map[string]*clockwork.FakeClock{
		"a": clockwork.NewFakeClockAt(minute(0).Add(30 * time.Second)),
		"b": clockwork.NewFakeClockAt(minute(0).Add(33 * time.Second)), // 3 s ahead
	}
	scheds := map[string]*pipeline.Scheduler{
		"a": f.scheduler(t, "a", clocks["a"], pipeline.SchedulerOptions{}),
		"b": f.scheduler(t, "b", clocks["b"], pipeline.SchedulerOptions{}),
	}
	leader := func() string {
		var names []string
		for name, s := range scheds {
			if s.Leader() {
				names = append(names, name)
			}
		}
		if len(names) != 1 {
			return ""
		}
		return names[0]
	}
	eventually(t, "one instance leads", func() bool { return leader() != "" })

	var want []time.Time
	var by []string
	slot := func(m int) {
		t.Helper()
		// b's clock reaches the slot first; then a's, while b's shows 3 s
		// later.
		lead := leader()
		advanceTo(t, clocks["b"], minute(m))
		advanceTo(t, clocks["a"], minute(m))
		want, by = append(want, minute(m)), append(by, lead)
		eventually(t, fmt.Sprintf("the slot of minute %d has run", m), f.finished(t, len(want)))
	}
	slot(1)
	slot(2)

	first := leader()
	pid, ok, err := f.env.State.LeaderPID(context.Background())
	if err != nil || !ok {
		t.Fatalf("LeaderPID: %v %v", ok, err)
	}
	f.exec(t, `SELECT pg_terminate_backend($1)`, pid)
	eventually(t, "the other instance leads", func() bool { l := leader(); return l != "" && l != first })
	slot(3)
	slot(4)
	f.checkSlots(t, want, by)
	if by[2] == first {
		t.Errorf("the slot after the leader's connection died was run by the same instance %s", first)
	}
}

// A manual trigger goes through the same locks as a scheduled run.
func TestSchedulerRunNow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 2, time.Now().Add(-time.Hour))
	f.job.Schedule = "0 2 * * *"
	clocks := []*clockwork.FakeClock{clockwork.NewFakeClockAt(minute(0).Add(500 * time.Millisecond)), clockwork.NewFakeClockAt(minute(0))}
	a := f.scheduler(t, "a", clocks[0], pipeline.SchedulerOptions{})
	eventually(t, "a leads", a.Leader)
	b := f.scheduler(t, "b", clocks[1], pipeline.SchedulerOptions{})
	ctx := context.Background()

	if _, err := b.RunNow(ctx, "customers"); !errors.Is(err, pipeline.ErrNotLeader) {
		t.Errorf("RunNow on the instance that does not lead: %v, want ErrNotLeader", err)
	}
	res, err := a.RunNow(ctx, "customers")
	if err != nil || res.Status != state.StatusSucceeded {
		t.Fatalf("RunNow: %+v, %v", res, err)
	}
	// A second trigger within the same second is the same slot.
	if _, err := a.RunNow(ctx, "customers"); !errors.Is(err, pipeline.ErrSlotTaken) {
		t.Errorf("second RunNow in the same second: %v, want ErrSlotTaken", err)
	}
	// A backfill holds the job: the trigger does not overlap it.
	lock, err := f.env.State.TryLock(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	clocks[0].Advance(time.Second)
	if _, err := a.RunNow(ctx, "customers"); !errors.Is(err, state.ErrLocked) {
		t.Errorf("RunNow while the job runs elsewhere: %v, want ErrLocked", err)
	}
	lock.Unlock()
	if _, err := a.RunNow(ctx, "nothing"); !errors.Is(err, configs.ErrUnknownJob) {
		t.Errorf("RunNow of an unknown job: %v", err)
	}
	slots := f.slots(t)
	if len(slots) != 2 || !slots[0].Slot.Equal(minute(0)) || slots[0].RunID != res.RunID || slots[0].ClaimedBy != "a (manual)" || slots[1].RunID != 0 {
		t.Errorf("slots: %+v", slots)
	}
}

// A slot missed while every instance was down runs when one starts, within
// the catch-up window; once run, it does not run again.
func TestSchedulerCatchesUpAMissedSlot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 2, time.Now().Add(-time.Hour))
	f.job.Schedule = "0 10 * * *"
	at := minute(20) // 20 minutes after the slot
	a := f.scheduler(t, "a", clockwork.NewFakeClockAt(at), pipeline.SchedulerOptions{CatchUp: 10 * time.Minute})
	eventually(t, "a leads", a.Leader)
	time.Sleep(300 * time.Millisecond)
	if n := len(f.runs(t)); n != 0 {
		t.Fatalf("%d runs of a slot older than the catch-up window", n)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}

	s := f.scheduler(t, "b", clockwork.NewFakeClockAt(at), pipeline.SchedulerOptions{CatchUp: time.Hour})
	eventually(t, "the missed slot has run", f.finished(t, 1))
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	f.scheduler(t, "c", clockwork.NewFakeClockAt(at), pipeline.SchedulerOptions{CatchUp: time.Hour})
	time.Sleep(300 * time.Millisecond)
	f.checkSlots(t, []time.Time{minute(0)}, []string{"b"})
}

// On shutdown (SIGTERM), a run in progress drains and is closed as
// interrupted; Shutdown waits for it.
func TestSchedulerShutdownDrainsTheRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 5, time.Now().Add(-time.Hour))
	f.job.Schedule = "* * * * *"
	f.job.DrainTimeout = 100 * time.Millisecond
	calls := make(chan struct{}, 100)
	release := make(chan struct{})
	defer close(release)
	f.api.SetBeforeSave(func(*load.SaveRequest) {
		calls <- struct{}{}
		<-release
	})
	clock := clockwork.NewFakeClockAt(minute(0).Add(30 * time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	st, err := state.Open(ctx, f.db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	env := *f.env
	env.State = st
	s, err := pipeline.NewScheduler(&env, []*configs.Job{f.job}, pipeline.SchedulerOptions{Clock: clock, LeaderCheck: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	eventually(t, "the only instance leads", s.Leader)
	advanceTo(t, clock, minute(1))
	<-calls

	cancel()
	start := time.Now()
	if err := s.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Shutdown took %v with a drain timeout of 100ms", took)
	}
	runs := f.runs(t)
	if len(runs) != 1 || runs[0].Status != state.StatusInterrupted {
		t.Fatalf("runs after shutdown: %+v", runs)
	}
	if _, ok, _ := f.env.State.LeaderPID(context.Background()); ok {
		t.Error("the lead is still held after Shutdown")
	}
}

// The nightly run and a backfill of one job never run at once: they share
// the job's lock, whichever starts first.
func TestBackfillAndNightlyRunExcludeEachOther(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 6, time.Now().Add(-time.Hour))
	ctx := context.Background()
	for _, first := range []string{state.KindBackfill, state.KindRun} {
		calls, release := make(chan struct{}, 100), make(chan struct{})
		f.api.SetBeforeSave(func(*load.SaveRequest) {
			calls <- struct{}{}
			<-release
		})
		done := make(chan *pipeline.Result)
		go func() {
			res, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: first, Full: true})
			if err != nil {
				t.Errorf("%s: %v", first, err)
			}
			done <- res
		}()
		<-calls
		second := state.KindRun
		if first == state.KindRun {
			second = state.KindBackfill
		}
		if _, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: second}); !errors.Is(err, state.ErrLocked) {
			t.Errorf("%s while a %s runs: %v, want ErrLocked", second, first, err)
		}
		close(release)
		f.api.SetBeforeSave(nil)
		if res := <-done; res == nil || res.Status != state.StatusSucceeded {
			t.Errorf("%s: %+v", first, res)
		}
	}
}

// A job's reconcile_schedule runs reconciles, with slots of their own.
func TestSchedulerRunsReconciles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.insertPeople(t, 1, 2, time.Now().Add(-time.Hour))
	f.job.Schedule, f.job.ReconcileSchedule = "0 2 * * *", "0 3 * * 0"
	s := f.scheduler(t, "a", clockwork.NewFakeClockAt(minute(0)), pipeline.SchedulerOptions{})
	eventually(t, "a leads", s.Leader)
	if next, err := s.NextRun("customers/reconcile"); err != nil || !next.Equal(time.Date(2026, 1, 11, 3, 0, 0, 0, time.UTC)) {
		t.Errorf("next reconcile %v, %v; want Sunday 2026-01-11 03:00", next, err)
	}
	res, err := s.RunNow(context.Background(), "customers/reconcile")
	if err != nil || res.Kind != state.KindReconcile || res.Counts.Sent != 2 {
		t.Fatalf("reconcile by the scheduler: %+v, %v", res, err)
	}
	slots, err := f.env.State.Slots(context.Background(), "customers/reconcile", 0)
	if err != nil || len(slots) != 1 || slots[0].RunID != res.RunID {
		t.Errorf("reconcile slots %+v, %v", slots, err)
	}
	if nightly := f.slots(t); len(nightly) != 0 {
		t.Errorf("the reconcile claimed nightly slots: %+v", nightly)
	}
}
