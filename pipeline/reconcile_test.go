package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// Three drifts that no cursor run sees: a row deleted in the source, a row
// changed without its updated_at moving, and a row committed late with an
// updated_at older than the watermark less the lookback. A reconcile
// catches each.
func TestReconcileCatchesWhatCursorsMiss(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.insertSpread(t, 20, base)
	f.run(t)

	f.exec(t, `DELETE FROM clients WHERE client_ref = 'C-5'`)
	f.exec(t, `ALTER TABLE clients DISABLE TRIGGER clients_touch`)
	f.exec(t, `UPDATE clients SET family_name = 'Restored' WHERE client_ref = 'C-7'`)
	f.exec(t, `ALTER TABLE clients ENABLE TRIGGER clients_touch`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('C-late', 'person', 'Late', '1990-01-01', $1)`, base.Add(3*time.Second))

	// The nightly run sees none of it.
	calls := f.api.Requests()
	if res := f.run(t); res.Counts.Sent != 0 || f.api.Requests() != calls {
		t.Fatalf("nightly run after the drift: %+v", res.Counts)
	}

	// A dry run lists them and sends nothing.
	dry := f.runWith(t, pipeline.Options{Kind: state.KindReconcile, DryRun: true})
	if dry.Counts.New != 1 || dry.Counts.Changed != 1 || dry.Counts.Missing != 1 || dry.Counts.Skipped != 18 || f.api.Requests() != calls {
		t.Fatalf("dry run: %+v, %d calls", dry.Counts, f.api.Requests()-calls)
	}
	run, _ := f.env.State.Run(context.Background(), dry.RunID)
	var details struct{ Examples map[string][]string }
	if err := json.Unmarshal(run.Details, &details); err != nil || !run.DryRun {
		t.Fatalf("dry run row: %+v (%v)", run, err)
	}
	for class, id := range map[string]string{"new": "C-late", "changed": "C-7", "missing": "C-5"} {
		if got := details.Examples[class]; len(got) != 1 || got[0] != id {
			t.Errorf("dry run's %s examples: %v, want %s", class, got, id)
		}
	}

	// Reported, not disabled, by default.
	res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if res.Counts.Sent != 2 || res.Counts.Missing != 1 || res.Counts.Disabled != 0 {
		t.Errorf("reconcile: %+v", res.Counts)
	}
	if c, _ := f.api.Customer("C-7"); c.LastName != "Restored" {
		t.Errorf("C-7 holds %q after the reconcile", c.LastName)
	}
	if _, ok := f.api.Customer("C-late"); !ok {
		t.Error("the late row did not arrive")
	}
	if c, _ := f.api.Customer("C-5"); c.Disabled != nil && *c.Disabled {
		t.Error("on_missing report disabled C-5")
	}
	errs, _ := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	if len(errs) != 1 || errs[0].ExternalID != "C-5" || errs[0].Code != pipeline.CodeDeletedInSource || errs[0].Severity != state.SeverityWarning {
		t.Errorf("recorded %+v, want a deleted_in_source warning for C-5", errs)
	}

	// Disabled when asked; once.
	f.job.OnMissing = configs.OnMissingDisable
	res = f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if res.Counts.Disabled != 1 || res.Counts.Sent != 0 {
		t.Errorf("reconcile with on_missing disable: %+v", res.Counts)
	}
	if c, _ := f.api.Customer("C-5"); c.Disabled == nil || !*c.Disabled {
		t.Errorf("C-5 is %+v, want disabled", c)
	}
	if res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile}); res.Counts.Missing != 0 {
		t.Errorf("a second reconcile finds %d missing", res.Counts.Missing)
	}
}

// A query that lost half its rows disables nobody.
func TestReconcileSafetyLimit(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 40, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.run(t)
	f.job.OnMissing = configs.OnMissingDisable
	f.job.CustomersSQL = strings.Replace(f.job.CustomersSQL, "FROM clients c", "FROM clients c WHERE c.id % 2 = 0", 1)
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{Kind: state.KindReconcile})
	if err == nil || !strings.Contains(err.Error(), "max_disable_fraction") || res.Status != state.StatusFailed {
		t.Fatalf("reconcile over a query that lost half its rows: %+v, %v", res, err)
	}
	if res.Counts.Missing != 20 || res.Counts.Disabled != 0 {
		t.Errorf("counts %+v", res.Counts)
	}
	for id, c := range f.api.Customers() {
		if c.Disabled != nil && *c.Disabled {
			t.Errorf("%s was disabled", id)
		}
	}
}
