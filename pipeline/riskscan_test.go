package pipeline_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// Under risk_scan auto, risk_scan_threshold counts the records a run will
// send, not the rows its window holds: the lookback's re-reads and a bulk
// touch that changed nothing are no load, and one record that moved is
// sent with the scan on.
func TestRiskScanCountsTheRecordsSent(t *testing.T) {
	f := newFixture(t)
	f.job.RiskScanThreshold = 5
	f.job.Lookback = time.Hour
	f.insertSpread(t, 20, time.Now().Add(-30*time.Minute))

	step := func(what string, wantSent int64, wantDisable bool) {
		t.Helper()
		calls := len(f.api.RiskScanFlags())
		res := f.run(t)
		counted(t, res)
		if res.Counts.Sent != wantSent || res.DisableRiskScan != wantDisable {
			t.Errorf("%s: sent %d, disable_risk_scan %v; want %d, %v (counts %+v)", what, res.Counts.Sent, res.DisableRiskScan, wantSent, wantDisable, res.Counts)
		}
		run, err := f.env.State.Run(context.Background(), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.DisableRiskScan == nil || *run.DisableRiskScan != wantDisable {
			t.Errorf("%s: the run row holds disable_risk_scan %v, want %v", what, run.DisableRiskScan, wantDisable)
		}
		for _, flag := range f.api.RiskScanFlags()[calls:] {
			if flag != wantDisable {
				t.Errorf("%s: the sandbox received disable_risk_scan %v, want %v", what, flag, wantDisable)
			}
		}
	}
	step("20 new records", 20, true)

	// One record moves; the lookback re-reads the 19 others, unchanged.
	f.exec(t, `UPDATE clients SET family_name = 'Moved' WHERE client_ref = 'C-3'`)
	step("one moved record", 1, false)

	// A bulk touch gives every row one updated_at and changes nothing.
	f.exec(t, `UPDATE clients SET updated_at = now()`)
	step("a touch of every row", 0, false)

	// Six changed records are over the threshold.
	f.exec(t, `UPDATE clients SET family_name = family_name || 'x' WHERE client_ref IN ('C-1', 'C-2', 'C-4', 'C-5', 'C-6', 'C-7')`)
	step("six changed records", 6, true)

	// --full sends every row, so every row counts.
	res := f.runWith(t, pipeline.Options{Full: true})
	if res.Counts.Sent != 20 || !res.DisableRiskScan {
		t.Errorf("full run: sent %d, disable_risk_scan %v", res.Counts.Sent, res.DisableRiskScan)
	}
}

// Under risk_scan auto each kind of run chooses as README's "The risk
// scan" says: a verify or offline run forecasts the run (it counts the
// records it would send), a retry keeps the scan whatever it sends, a
// reconcile (as a backfill, TestRiskScanPolicy) disables it whatever it
// sends. The choice is on the run row and on every call.
func TestRiskScanOfEachKind(t *testing.T) {
	f := newFixture(t)
	f.job.RiskScanThreshold = 3
	f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))

	check := func(what string, opts pipeline.Options, wantSent int64, wantDisable bool) {
		t.Helper()
		calls := len(f.api.RiskScanFlags())
		res := f.runWith(t, opts)
		if res.Counts.Sent != wantSent || res.DisableRiskScan != wantDisable {
			t.Errorf("%s: sent %d, disable_risk_scan %v; want %d, %v (%s %+v)", what, res.Counts.Sent, res.DisableRiskScan, wantSent, wantDisable, res.Status, res.Counts)
		}
		run, err := f.env.State.Run(context.Background(), res.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.DisableRiskScan == nil || *run.DisableRiskScan != wantDisable {
			t.Errorf("%s: the run row holds disable_risk_scan %v, want %v", what, run.DisableRiskScan, wantDisable)
		}
		var chunks []bool
		if err := f.db.Select(&chunks, `SELECT disable_risk_scan FROM algoreg_etl.run_chunks WHERE run_id = $1`, res.RunID); err != nil {
			t.Fatal(err)
		}
		for _, flag := range chunks {
			if flag != wantDisable {
				t.Errorf("%s: a chunk of the history holds disable_risk_scan %v, want %v", what, flag, wantDisable)
			}
		}
		flags := f.api.RiskScanFlags()[calls:]
		if opts.Kind != state.KindOffline && len(flags) == 0 && wantSent > 0 {
			t.Errorf("%s: no call reached the sandbox", what)
		}
		for _, flag := range flags {
			if flag != wantDisable {
				t.Errorf("%s: the sandbox received disable_risk_scan %v, want %v", what, flag, wantDisable)
			}
		}
	}
	// Five new records, over the threshold of 3: the dry runs say so.
	check("verify of 5 new records", pipeline.Options{Kind: state.KindVerify}, 5, true)
	check("offline run of 5 new records", pipeline.Options{Kind: state.KindOffline}, 5, true)
	check("run of 5 new records, --risk-scan on", pipeline.Options{RiskScan: "on"}, 5, false)

	// A row fails, is fixed without a bump of updated_at, and is sent by a
	// retry: with the scan on, though over a threshold of 0.
	f.exec(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-2'`)
	if res := f.run(t); res.Status != state.StatusPartial {
		t.Fatalf("run with an invalid row: %s %+v", res.Status, res.Counts)
	}
	f.untouched(t, `UPDATE clients SET kind = 'person', family_name = 'Fixed' WHERE client_ref = 'C-2'`)
	f.job.RiskScanThreshold = 0
	check("retry of one fixed row, threshold 0", pipeline.Options{Kind: state.KindRetry}, 1, false)

	// One changed record, far below the threshold: a reconcile disables
	// the scan all the same.
	f.job.RiskScanThreshold = 1000
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed' WHERE client_ref = 'C-4'`)
	check("reconcile of one changed record", pipeline.Options{Kind: state.KindReconcile}, 1, true)
}

// Under risk_scan auto a run reads its window once, as a run with the scan
// forced on does, whether it finds nothing to send or a record: it counts
// the records to send as it reads them, and a chunk with a record to send
// waits for the count before its call.
func TestRiskScanReadsAnUnchangedWindowOnce(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 20, time.Now().Add(-30*time.Minute))
	f.run(t)

	pages := func(what, touch string, opts pipeline.Options, wantSent int64) int {
		t.Helper()
		f.exec(t, touch)
		var log strings.Builder
		f.env.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		res := f.runWith(t, opts)
		if res.Counts.Sent != wantSent || res.DisableRiskScan {
			t.Errorf("%s: sent %d, disable_risk_scan %v; want %d, false", what, res.Counts.Sent, res.DisableRiskScan, wantSent)
		}
		n := strings.Count(log.String(), `msg="page read" job=`+f.job.Name+` run_id=`+strconv.FormatInt(res.RunID, 10)+` stream=customers`)
		if n == 0 {
			t.Fatalf("%s: no page of customers read in the log:\n%s", what, log.String())
		}
		return n
	}
	touch := `UPDATE clients SET updated_at = now()`
	on := pages("touch, --risk-scan on", touch, pipeline.Options{RiskScan: "on"}, 0)
	auto := pages("touch, risk_scan auto", touch, pipeline.Options{}, 0)
	if auto != on {
		t.Errorf("a run with nothing to send read %d pages of its window, want %d, as with the scan on", auto, on)
	}
	moved := pages("one moved record",
		`UPDATE clients SET updated_at = now(), family_name = CASE client_ref WHEN 'C-3' THEN 'Moved' ELSE family_name END`, pipeline.Options{}, 1)
	if moved != on {
		t.Errorf("a run with a record to send read %d pages of its window, want %d, as with the scan on", moved, on)
	}
}

// When the chunks in process all wait for the flag and reading cannot go
// on without one more, the run counts the rest of its window from where it
// stopped reading: the flag is the one a count of the whole window gives,
// on the run row and on every call, and only the rest is read twice.
func TestRiskScanCountsTheRestWhenChunksWait(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 90, time.Now().Add(-30*time.Minute))
	f.run(t)
	// Chunks of 3 rows, 8 in process at most: every row touched, one in
	// three changed, 30 records to send in all; chunks that wait for the
	// flag fill the places of the chunks in process before the count
	// passes 24.
	change := `UPDATE clients SET updated_at = now(), family_name = CASE WHEN substr(client_ref, 3)::int % 3 = 0 THEN family_name || 'x' ELSE family_name END`
	for _, c := range []struct {
		threshold   int
		wantDisable bool
	}{{29, true}, {30, false}, {8, true}} {
		f.job.RiskScanThreshold = c.threshold
		f.exec(t, change)
		calls := len(f.api.RiskScanFlags())
		var log strings.Builder
		f.env.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		res := f.run(t)
		counted(t, res)
		if res.Counts.Sent != 30 || res.DisableRiskScan != c.wantDisable {
			t.Errorf("threshold %d: sent %d, disable_risk_scan %v; want 30, %v", c.threshold, res.Counts.Sent, res.DisableRiskScan, c.wantDisable)
		}
		for _, flag := range f.api.RiskScanFlags()[calls:] {
			if flag != c.wantDisable {
				t.Errorf("threshold %d: the sandbox received disable_risk_scan %v, want %v", c.threshold, flag, c.wantDisable)
			}
		}
		// 90 rows in pages of 2: 46 pages for the send, fewer for the rest.
		pages := strings.Count(log.String(), `msg="page read" job=`+f.job.Name+` run_id=`+strconv.FormatInt(res.RunID, 10)+` stream=customers`)
		if pages >= 2*46 {
			t.Errorf("threshold %d: %d pages of customers read, want fewer than twice the window's 46", c.threshold, pages)
		}
	}
}
