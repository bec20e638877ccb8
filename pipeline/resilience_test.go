package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

func (f *fixture) runWith(t *testing.T, opts pipeline.Options) *pipeline.Result {
	t.Helper()
	res, err := pipeline.Run(context.Background(), f.env, f.job, opts)
	if err != nil {
		t.Fatalf("run %+v: %v", opts, err)
	}
	return res
}

// insertSpread inserts n valid clients C-1..C-n, one second apart.
func (f *fixture) insertSpread(t *testing.T, n int, base time.Time) {
	t.Helper()
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, updated_at)
		SELECT 'C-' || g, 'person', 'Given' || g, 'Family' || g, date '1980-01-01' + g, $2::timestamptz + g * interval '1 second'
		FROM generate_series(1, $1::int) g`, n, base)
}

// sameAsSource checks that the sandbox holds exactly the source's valid
// clients, with their current family names.
func (f *fixture) sameAsSource(t *testing.T) {
	t.Helper()
	var rows []struct {
		Ref, Family string
	}
	if err := f.db.Select(&rows, `SELECT client_ref AS ref, family_name AS family FROM clients ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	held := f.api.Customers()
	if len(held) != len(rows) {
		t.Errorf("sandbox holds %d customers, source %d", len(held), len(rows))
	}
	for _, r := range rows {
		if c, ok := held[r.Ref]; !ok || c.LastName != r.Family {
			t.Errorf("%s: sandbox has %+v (present %v), source last name %q", r.Ref, c.LastName, ok, r.Family)
		}
	}
}

func TestRunSkipsUnchangedAndCatchesLateCommits(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.insertSpread(t, 100, base)
	f.job.ChunkSize, f.job.PageSize = 10, 25
	if res := f.run(t); res.Counts.Sent != 100 {
		t.Fatalf("first run %+v", res.Counts)
	}
	wm, _ := f.watermark(t)

	// A lookback over everything re-reads every row and sends none.
	f.job.Lookback = time.Hour
	calls := f.api.Requests()
	res := f.run(t)
	counted(t, res)
	if res.Counts.Extracted != 100 || res.Counts.Skipped != 100 || f.api.Requests() != calls {
		t.Errorf("unchanged re-run: %+v, %d calls", res.Counts, f.api.Requests()-calls)
	}
	if got, _ := f.watermark(t); !got.UpdatedAt.Equal(wm.UpdatedAt) || got.Key != wm.Key {
		t.Errorf("the lookback moved the watermark from %+v to %+v", wm, got)
	}

	// A row committed late, with an updated_at below the watermark, is
	// caught by the lookback.
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, updated_at) VALUES ('C-late', 'person', 'Late', 'Comer', $1)`, base.Add(50*time.Second))
	res = f.run(t)
	if res.Counts.Sent != 1 || f.api.Requests() != calls+1 {
		t.Errorf("late commit: %+v, %d calls", res.Counts, f.api.Requests()-calls)
	}
	if _, ok := f.api.Customer("C-late"); !ok {
		t.Error("the late row did not arrive")
	}

	// One changed row in a hundred costs one record; touching rows without
	// changing them costs nothing.
	f.job.Lookback = 0
	f.exec(t, `UPDATE clients SET family_name = 'Changed' WHERE client_ref = 'C-7'`)
	f.exec(t, `UPDATE clients SET given_name = given_name WHERE client_ref IN ('C-8', 'C-9')`)
	received := f.api.Received()
	res = f.run(t)
	counted(t, res)
	if res.Counts.Sent != 1 || res.Counts.Skipped != 2 || f.api.Received() != received+1 {
		t.Errorf("1 changed, 2 touched: %+v, %d records received", res.Counts, f.api.Received()-received)
	}
	f.sameAsSource(t)

	// Full sends everything in the window regardless.
	res = f.runWith(t, pipeline.Options{Kind: state.KindBackfill, Full: true})
	if res.Counts.Sent != 101 {
		t.Errorf("full backfill: %+v", res.Counts)
	}
}

func TestRunCompletesThroughFaultsWithinTheRateLimit(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 200, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 5, 50, 4
	f.job.MaxAttempts, f.job.RateLimit = 12, 40
	f.api.SetFaults(algoregtest.Faults{Rate500: 0.1, Rate429: 0.1, RetryAfter: 0, Seed: 7})
	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 200 {
		t.Fatalf("run through faults: %+v", res)
	}
	f.sameAsSource(t)
	times := f.api.CallTimes()
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// At 40 calls a second, any 21 consecutive calls span at least half a
	// second (less a margin for scheduling).
	for i := 0; i+20 < len(times); i++ {
		if d := times[i+20].Sub(times[i]); d < 450*time.Millisecond {
			t.Fatalf("21 calls within %v: over the rate limit of 40/s", d)
		}
	}
	if len(times) <= 40 {
		t.Errorf("only %d calls: the faults did not cause retries", len(times))
	}
}

func TestRunIsolatesARefusedRecordAndRetriesItLater(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 30, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize = 30
	f.api.Poison("C-17", "customer C-17 is blocked")
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted(t, res)
	if res.Counts.Sent != 29 || res.Counts.Rejected != 1 || res.Status != state.StatusPartial {
		t.Fatalf("poisoned chunk: %+v", res)
	}
	errs, _ := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	if len(errs) != 1 || errs[0].ExternalID != "C-17" || errs[0].Stage != state.StageAPI || errs[0].SourceKey == "" {
		t.Fatalf("record errors %+v", errs)
	}

	// The cause goes away; the row itself does not change.
	f.api.Unpoison("C-17")
	res = f.run(t)
	if res.Counts.Retried != 1 || res.Counts.Resolved != 1 || res.Counts.Sent != 1 {
		t.Errorf("retrying run: %+v", res.Counts)
	}
	if _, ok := f.api.Customer("C-17"); !ok {
		t.Error("C-17 was not delivered after its cause was fixed")
	}
	var resolvedBy int64
	if err := f.db.Get(&resolvedBy, `SELECT resolved_run_id FROM algoreg_etl.record_errors WHERE external_id = 'C-17'`); err != nil || resolvedBy != res.RunID {
		t.Errorf("the error is resolved by run %d (%v), want %d", resolvedBy, err, res.RunID)
	}
	f.sameAsSource(t)
}

func TestRiskScanPolicy(t *testing.T) {
	f := newFixture(t)
	f.job.RiskScanThreshold = 5
	f.insertSpread(t, 3, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	small := f.run(t)
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, updated_at) SELECT 'D-' || g, 'person', 'Doe', '2025-05-01' FROM generate_series(1, 10) g`)
	large := f.run(t)
	backfill := f.runWith(t, pipeline.Options{Kind: state.KindBackfill, Full: true})
	forced := f.runWith(t, pipeline.Options{Kind: state.KindBackfill, Full: true, RiskScan: "on"})
	for _, tc := range []struct {
		name string
		res  *pipeline.Result
		want bool
	}{{"3 rows", small, false}, {"10 rows", large, true}, {"backfill", backfill, true}, {"backfill with the scan on", forced, false}} {
		run, err := f.env.State.Run(context.Background(), tc.res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if tc.res.DisableRiskScan != tc.want || run.DisableRiskScan == nil || *run.DisableRiskScan != tc.want {
			t.Errorf("%s: disable_risk_scan %v, on the run row %v; want %v", tc.name, tc.res.DisableRiskScan, run.DisableRiskScan, tc.want)
		}
	}
	flags := f.api.RiskScanFlags()
	if len(flags) == 0 || flags[0] != false || flags[len(flags)-1] != false {
		t.Errorf("flags the sandbox received: %v", flags)
	}
}

// A run cancelled after its k-th call, for many k, and then run again,
// leaves the sandbox equal to the source: nothing is lost.
func TestRunCancelledAnywhereLosesNothing(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 60, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 4, 7, 3
	for k := 1; k <= 12; k += 2 {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int32
		f.api.SetBeforeSave(func(*load.SaveRequest) {
			if calls.Add(1) == int32(k) {
				cancel()
			}
		})
		res, _ := pipeline.Run(ctx, f.env, f.job, pipeline.Options{})
		cancel()
		if res == nil || (res.Status != state.StatusInterrupted && res.Status != state.StatusSucceeded) {
			t.Fatalf("cancelled after call %d: %+v", k, res)
		}
		// Some rows change between the attempts.
		f.exec(t, `UPDATE clients SET family_name = family_name || '+' WHERE client_ref = $1`, fmt.Sprintf("C-%d", 5*k))
	}
	f.api.SetBeforeSave(nil)
	res := f.run(t)
	counted(t, res)
	f.sameAsSource(t)
}

// The real thing: a process killed with SIGKILL at random moments of its
// runs, then a run to the end.
func TestRunKilledLosesNothing(t *testing.T) {
	if os.Getenv("ALGOREG_ETL_TEST_CHILD") != "" {
		t.Skip("in the child")
	}
	f := newFixture(t)
	f.insertSpread(t, 400, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.api.SetFaults(algoregtest.Faults{Latency: 20 * time.Millisecond})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 6; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildRun$", "-test.v")
		cmd.Env = append(os.Environ(), "ALGOREG_ETL_TEST_CHILD=1", "CHILD_DSN="+f.db.URL, "CHILD_API="+f.api.URL, "CHILD_TOKEN="+f.api.Token)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The kill comes at a random moment of the child's run, once its
		// run row exists: a loaded machine may take longer to start the
		// process than to run it.
		f.waitForRuns(t, i+1)
		time.Sleep(time.Duration(rng.IntN(600)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		// Between two kills, a sixth of the rows change.
		f.exec(t, `UPDATE clients SET family_name = family_name || '*' WHERE id % 6 = $1`, i)
	}
	f.api.SetFaults(algoregtest.Faults{})
	res := f.runAfterKill(t)
	counted(t, res)
	f.sameAsSource(t)
	runs, _ := f.env.State.Runs(context.Background(), f.job.Name, 100)
	killed := 0
	for _, r := range runs[1:] {
		switch r.Status {
		case state.StatusRunning:
			t.Errorf("run %d is still 'running' after its process was killed", r.ID)
		case state.StatusInterrupted:
			killed++
		}
	}
	if killed == 0 {
		for _, r := range runs {
			t.Logf("run %d: %s %+v", r.ID, r.Status, r.Counts)
		}
		t.Errorf("no run was killed in the middle: %d runs before the last", len(runs)-1)
	}
}

// runAfterKill runs the fixture's job once the job's lock, held by a
// process just killed, is free: the server ends the killed process's
// session, and frees the lock, once it notices the connection is gone, a
// moment after the kill.
func (f *fixture) runAfterKill(t *testing.T) *pipeline.Result {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
		if err == nil {
			return res
		}
		if !errors.Is(err, state.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("run: %v", err)
		}
	}
}

// waitForRuns waits until the fixture's job has at least n runs.
func (f *fixture) waitForRuns(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		runs, err := f.env.State.Runs(context.Background(), f.job.Name, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs after a minute, want %d", len(runs), n)
		}
	}
}

// TestChildRun is the process that TestRunKilledLosesNothing kills.
func TestChildRun(t *testing.T) {
	if os.Getenv("ALGOREG_ETL_TEST_CHILD") == "" {
		t.Skip("run by TestRunKilledLosesNothing")
	}
	f := childFixture(t, os.Getenv("CHILD_DSN"), os.Getenv("CHILD_API"), os.Getenv("CHILD_TOKEN"))
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 4, 12, 2
	pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
}

// However many chunks are in process, the calls in flight never exceed the
// job's concurrency.
func TestRunKeepsCallsInFlightWithinConcurrency(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 60, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 2, 10, 3
	f.api.SetFaults(algoregtest.Faults{Latency: 20 * time.Millisecond})
	if res := f.run(t); res.Counts.Sent != 60 {
		t.Fatalf("run: %+v", res.Counts)
	}
	if n := f.api.MaxInFlight(); n > 3 || n < 2 {
		t.Errorf("%d calls were in flight at once, want at most the concurrency, 3, and more than one", n)
	}
}

// TestRunRidesOutAShortOutage: with the default retry settings, an API
// that answers 500 to every call for a few seconds (a deploy, a restart)
// delays the run; it does not fail it.
func TestRunRidesOutAShortOutage(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 20, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize = 5
	if d := configs.DefaultJob(""); f.job.MaxAttempts != d.MaxAttempts || f.job.MaxRetryTime != d.MaxRetryTime {
		t.Fatalf("the test job does not retry as a default job does")
	}
	f.api.FailFor(3*time.Second, algoregtest.Fault{StatusCode: 500})
	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 20 {
		t.Fatalf("run through a 3 s outage: %+v", res)
	}
	f.sameAsSource(t)
}
