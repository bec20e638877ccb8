package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/pipeline"
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
