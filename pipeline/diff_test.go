package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/state"
)

// diffJob makes the fixture's job incremental: diff, over the example
// diff query (and, with relations, the relations query without its
// cursor_updated_at).
func (f *fixture) diffJob(t *testing.T) {
	t.Helper()
	q, err := etlsql.Example("customers_diff.sql")
	if err != nil {
		t.Fatal(err)
	}
	f.job.Incremental, f.job.CustomersSQL = configs.IncrementalDiff, q
	if f.job.RelationsSQL != "" {
		f.job.RelationsSQL = withoutUpdatedAt(t, f.job.RelationsSQL)
	}
}

// withoutUpdatedAt returns query without its cursor_updated_at column.
func withoutUpdatedAt(t *testing.T, query string) string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(query, "\n") {
		if !strings.Contains(line, "AS cursor_updated_at") {
			out = append(out, line)
		}
	}
	if len(out) == strings.Count(query, "\n")+1 {
		t.Fatal("the query selects no cursor_updated_at")
	}
	return strings.Join(out, "\n")
}

// untouched runs q with the clients' updated_at trigger off, as a bulk fix
// by hand that does not bump updated_at.
func (f *fixture) untouched(t *testing.T, q string) {
	t.Helper()
	f.exec(t, `ALTER TABLE clients DISABLE TRIGGER clients_touch`)
	f.exec(t, q)
	f.exec(t, `ALTER TABLE clients ENABLE TRIGGER clients_touch`)
}

// A job with incremental: diff sends every row on its first run, nothing
// on a second over an unchanged source, only the row a fix changed
// without bumping anything, and reports, then disables, a deleted row. It
// keeps no watermark; its counts add up every time.
func TestDiffJob(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 20, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	ctx := context.Background()

	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Extracted != 20 || res.Counts.Sent != 20 || res.Counts.New != 20 || !res.Diff {
		t.Fatalf("first run: %s %+v", res.Status, res.Counts)
	}
	f.sameAsSource(t)
	if wm, ok := f.watermark(t); ok {
		t.Errorf("a diff job stored a watermark: %+v", wm)
	}
	if run, err := f.env.State.Run(ctx, res.RunID); err != nil || run.WindowTo != nil || run.WindowFrom != nil {
		t.Errorf("run row: window %v..%v (%v), want none", run.WindowFrom, run.WindowTo, err)
	}

	calls := f.api.Requests()
	res = f.run(t)
	counted(t, res)
	if res.Counts.Extracted != 20 || res.Counts.Skipped != 20 || res.Counts.Sent != 0 || f.api.Requests() != calls {
		t.Fatalf("run over an unchanged source: %+v, %d calls", res.Counts, f.api.Requests()-calls)
	}

	// A fix by hand that bumps nothing (the trigger is off, updated_at
	// is even set back) is sent, alone.
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed', updated_at = '2000-01-01' WHERE client_ref = 'C-7'`)
	res = f.run(t)
	counted(t, res)
	if res.Counts.Sent != 1 || res.Counts.Changed != 1 || res.Counts.Skipped != 19 || f.api.Requests() != calls+1 {
		t.Fatalf("run after a fix that bumped nothing: %+v, %d calls", res.Counts, f.api.Requests()-calls)
	}
	if c, _ := f.api.Customer("C-7"); c.LastName != "Fixed" {
		t.Errorf("C-7 holds %q", c.LastName)
	}

	// A deleted row: reported by default, every run, and left enabled.
	f.exec(t, `DELETE FROM clients WHERE client_ref = 'C-5'`)
	res = f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Missing != 1 || res.Counts.Disabled != 0 || res.Counts.Sent != 0 {
		t.Fatalf("run after a delete: %s %+v", res.Status, res.Counts)
	}
	errs, err := f.env.State.RecordErrorsOfRun(ctx, res.RunID)
	if err != nil || len(errs) != 1 || errs[0].ExternalID != "C-5" || errs[0].Code != pipeline.CodeDeletedInSource || errs[0].Severity != state.SeverityWarning {
		t.Errorf("recorded %+v (%v), want a deleted_in_source warning for C-5", errs, err)
	}
	if c, _ := f.api.Customer("C-5"); c.Disabled != nil && *c.Disabled {
		t.Error("on_missing report disabled C-5")
	}

	// Disabled once with on_missing: disable, then forgotten.
	f.job.OnMissing = configs.OnMissingDisable
	res = f.run(t)
	counted(t, res)
	if res.Counts.Missing != 1 || res.Counts.Disabled != 1 || res.Counts.Sent != 0 {
		t.Fatalf("run with on_missing disable: %+v", res.Counts)
	}
	if c, _ := f.api.Customer("C-5"); c.Disabled == nil || !*c.Disabled {
		t.Errorf("C-5 is %+v, want disabled", c)
	}
	calls = f.api.Requests()
	if res := f.run(t); res.Counts.Missing != 0 || res.Counts.Sent != 0 || f.api.Requests() != calls {
		t.Errorf("the next run: %+v, %d calls", res.Counts, f.api.Requests()-calls)
	}

	// A new row is sent as new; --full sends every row again.
	f.insertPeople(t, 100, 1, time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC))
	if res := f.run(t); res.Counts.New != 1 || res.Counts.Sent != 1 {
		t.Errorf("run after an insert: %+v", res.Counts)
	}
	res = f.runWith(t, pipeline.Options{Full: true})
	counted(t, res)
	if res.Counts.Sent != 20 || res.Counts.Skipped != 0 {
		t.Errorf("run --full: %+v", res.Counts)
	}
	f.sameAsSourceBut(t, "C-5")
}

// sameAsSourceBut checks that the sandbox holds the source's clients, and
// besides them only the disabled customers gone.
func (f *fixture) sameAsSourceBut(t *testing.T, gone ...string) {
	t.Helper()
	var refs []string
	if err := f.db.Select(&refs, `SELECT client_ref FROM clients ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	for id, c := range f.api.Customers() {
		switch {
		case slices.Contains(gone, id):
			if c.Disabled == nil || !*c.Disabled {
				t.Errorf("%s, deleted in the source, is not disabled", id)
			}
		case !slices.Contains(refs, id):
			t.Errorf("the sandbox holds %s, which the source does not", id)
		}
	}
	for _, ref := range refs {
		if _, ok := f.api.Customer(ref); !ok {
			t.Errorf("%s did not arrive", ref)
		}
	}
}

// A verify and an offline run of a diff job forecast the real run: what
// it would send and what it would disable, with nothing kept by the API
// and nothing forgotten.
func TestDiffJobDryRuns(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 20, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.run(t)
	f.job.OnMissing = configs.OnMissingDisable
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed' WHERE client_ref = 'C-7'`)
	f.exec(t, `DELETE FROM clients WHERE client_ref = 'C-5'`)

	before := f.api.Customers()
	for _, kind := range []string{state.KindVerify, state.KindOffline} {
		res := f.runWith(t, pipeline.Options{Kind: kind})
		counted(t, res)
		if !res.DryRun || res.Counts.Sent != 1 || res.Counts.Changed != 1 || res.Counts.Missing != 1 || res.Counts.Disabled != 1 {
			t.Errorf("%s run: dry run %v, %+v", kind, res.DryRun, res.Counts)
		}
	}
	if after := f.api.Customers(); after["C-7"].LastName != before["C-7"].LastName || *after["C-5"].Disabled {
		t.Errorf("a dry run changed the sandbox: C-7 %+v, C-5 %+v", after["C-7"], after["C-5"])
	}
	res := f.run(t)
	if res.Counts.Sent != 1 || res.Counts.Disabled != 1 {
		t.Errorf("the run after the dry runs: %+v", res.Counts)
	}
	f.sameAsSourceBut(t, "C-5")
}

// A diff job with relations reads both queries whole: a link changed
// without a bump is sent, and the persons deleted with their links are
// disabled, relations before customers.
func TestDiffJobRelations(t *testing.T) {
	f := newFixture(t)
	f.withRelations(t)
	f.diffJob(t)
	f.job.ChunkSize, f.job.PageSize = 10, 20
	f.job.OnMissing, f.job.MaxDisableFraction = configs.OnMissingDisable, 0.2
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.insertSpread(t, 30, base)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, updated_at) VALUES ('F-1', 'company', 'Firm AG', $1)`, base)
	f.exec(t, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT co.id, pa.id, 'director', $1 FROM clients co, clients pa WHERE co.client_ref = 'F-1' AND pa.kind = 'person' ORDER BY pa.id`, base)
	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 61 || len(f.api.Relations()) != 30 {
		t.Fatalf("first run: %s %+v, %d relations", res.Status, res.Counts, len(f.api.Relations()))
	}
	if res := f.run(t); res.Counts.Sent != 0 || res.Counts.Skipped != 61 {
		t.Fatalf("second run: %+v", res.Counts)
	}

	f.exec(t, `ALTER TABLE client_links DISABLE TRIGGER client_links_touch`)
	f.exec(t, `UPDATE client_links SET link_kind = 'shareholder', share_pct = 10 WHERE party_id = (SELECT id FROM clients WHERE client_ref = 'C-9')`)
	f.exec(t, `ALTER TABLE client_links ENABLE TRIGGER client_links_touch`)
	customers, relations := f.deleteOwners(t, "C-2", "C-3")
	var order []string // ids sent disabled, in the order the sandbox took them
	f.api.SetBeforeSave(func(req *load.SaveRequest) {
		for _, c := range req.Customers {
			if c.Disabled != nil && *c.Disabled {
				order = append(order, c.ExternalID)
			}
		}
		for _, r := range req.Relations {
			if r.Disabled != nil && *r.Disabled {
				order = append(order, r.RelationExternalID)
			}
		}
	})
	res = f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 1 || res.Counts.Changed != 1 || res.Counts.Missing != 4 || res.Counts.Disabled != 4 {
		t.Fatalf("run after the changes: %s %+v", res.Status, res.Counts)
	}
	gone := append(slices.Clone(customers), relations...)
	if got := f.disabledInAPI(gone); len(got) != 4 {
		t.Errorf("disabled in the API: %v, want %v", got, gone)
	}
	if want := append(slices.Clone(relations), customers...); !slices.Equal(order, want) {
		t.Errorf("sent disabled in the order %v, want %v (relations first)", order, want)
	}
	for id, r := range f.api.Relations() {
		if r.RelationType == 2 && !strings.HasPrefix(id, "L-") {
			t.Errorf("relation %s: %+v", id, r)
		}
	}
}

// A diff run that finds more than max_disable_fraction missing disables
// nobody and fails, as a reconcile does; its verify and offline runs fail
// so too.
func TestDiffJobSafetyLimit(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 40, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.run(t)
	f.job.OnMissing = configs.OnMissingDisable
	f.job.CustomersSQL = strings.Replace(f.job.CustomersSQL, "FROM clients c", "FROM clients c WHERE c.id % 2 = 0", 1)
	// The dry runs refuse as the run does.
	for _, kind := range []string{state.KindVerify, state.KindOffline, state.KindRun} {
		res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{Kind: kind})
		if err == nil || !strings.Contains(err.Error(), "max_disable_fraction") || res.Status != state.StatusFailed {
			t.Fatalf("%s over a query that lost half its rows: %+v, %v", kind, res, err)
		}
		if res.Counts.Missing != 20 || res.Counts.Disabled != 0 {
			t.Errorf("%s: counts %+v", kind, res.Counts)
		}
	}
	for id, c := range f.api.Customers() {
		if c.Disabled != nil && *c.Disabled {
			t.Errorf("%s was disabled", id)
		}
	}
}

// A backfill of a diff job is refused before anything starts; a diff
// job's query that selects cursor_updated_at fails its run with the
// reason.
func TestDiffJobRefusals(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 3, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{Kind: state.KindBackfill})
	if !errors.Is(err, pipeline.ErrDiffBackfill) || res != nil {
		t.Errorf("backfill of a diff job: %+v, %v", res, err)
	}
	if runs, err := f.env.State.Runs(context.Background(), f.job.Name, 0); err != nil || len(runs) != 0 {
		t.Errorf("a refused backfill left runs %+v (%v)", runs, err)
	}

	f.job.CustomersSQL = newFixture(t).job.CustomersSQL // the cursor query
	res, err = pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	want := "customers query (incremental: diff): extract: the query selects cursor_updated_at, but it is read whole by cursor_key alone"
	if err == nil || !strings.Contains(err.Error(), want) || res == nil || res.Status != state.StatusFailed || len(f.api.Customers()) != 0 {
		t.Errorf("a diff job whose query selects cursor_updated_at: %+v, %v", res, err)
	}
}

// Under risk_scan auto a diff run counts, over the whole source, the
// records it will send: its first run is a big load, a run that sends one
// changed row is not.
func TestDiffJobRiskScan(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.job.RiskScanThreshold = 10
	f.insertSpread(t, 20, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	if res := f.run(t); !res.DisableRiskScan {
		t.Errorf("first run of 20 records, threshold 10: disable_risk_scan %v", res.DisableRiskScan)
	}
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed' WHERE client_ref = 'C-7'`)
	if res := f.run(t); res.DisableRiskScan || res.Counts.Sent != 1 {
		t.Errorf("run of one changed record: disable_risk_scan %v, %+v", res.DisableRiskScan, res.Counts)
	}
}

// A row that cannot be sent is read once per diff run, by the run's whole
// read: it keeps one open error, and the counts add up without counting it
// twice as a retry.
func TestDiffJobInvalidRowReadOnce(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.exec(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-3'`)
	for i := range 3 {
		res := f.run(t)
		counted(t, res)
		if res.Status != state.StatusPartial || res.Counts.Extracted != 5 || res.Counts.Invalid != 1 || res.Counts.Retried != 0 {
			t.Errorf("run %d: %s %+v", i+1, res.Status, res.Counts)
		}
	}
	open, err := f.env.State.OpenErrors(context.Background(), f.job.Name, pipeline.StreamCustomers, f.job.StuckAfter, 0, 100)
	if err != nil || len(open) != 1 || open[0].SourceKey == "" {
		t.Errorf("open errors %+v (%v), want one for C-3", open, err)
	}
	f.exec(t, `UPDATE clients SET kind = 'person' WHERE client_ref = 'C-3'`)
	if res := f.run(t); res.Status != state.StatusSucceeded || res.Counts.Sent != 1 || res.Counts.Resolved != 1 {
		t.Errorf("run after the fix: %s %+v", res.Status, res.Counts)
	}
	if open, err := f.env.State.OpenErrors(context.Background(), f.job.Name, pipeline.StreamCustomers, f.job.StuckAfter, 0, 100); err != nil || len(open) != 0 {
		t.Errorf("open errors after the fix: %+v (%v)", open, err)
	}
}

// Under the scheduler a job with incremental: diff runs at each slot of
// its schedule as a diff: the first slot sends every row, the next one
// only the row fixed by hand in between.
func TestDiffJobScheduled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.job.Schedule = "* * * * *"
	clock := clockwork.NewFakeClockAt(minute(0).Add(30 * time.Second))
	s := f.scheduler(t, "a", clock, pipeline.SchedulerOptions{})
	eventually(t, "the only instance leads", s.Leader)
	advanceTo(t, clock, minute(1))
	eventually(t, "the first slot has run", f.finished(t, 1))
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed' WHERE client_ref = 'C-2'`)
	advanceTo(t, clock, minute(2))
	eventually(t, "the second slot has run", f.finished(t, 2))
	f.checkSlots(t, []time.Time{minute(1), minute(2)}, nil)
	runs := f.runs(t)
	if runs[0].Sent != 5 || runs[1].Sent != 1 || runs[1].Skipped != 4 || runs[1].WindowTo != nil {
		t.Errorf("scheduled runs: %+v", runs)
	}
	if c, _ := f.api.Customer("C-2"); c.LastName != "Fixed" {
		t.Errorf("C-2 holds %q", c.LastName)
	}
}

// A row that was accepted and now fails validation is still in the source:
// a diff run records it as invalid and does not take its record for
// deleted, whether its external_id is text (with blanks around it) or an
// integer.
func TestDiffJobInvalidRowIsNotMissing(t *testing.T) {
	for name, id := range map[string]string{"integer": "c.id", "text with blanks": "' ' || c.client_ref || ' '"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			f.job.Incremental = configs.IncrementalDiff
			f.job.CustomersSQL = `SELECT c.id AS cursor_key, ` + id + ` AS external_id, c.kind AS account_type,
				c.family_name AS last_name, c.birth_date AS date_of_birth FROM clients c`
			f.job.OnMissing = configs.OnMissingDisable
			f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
			if res := f.run(t); res.Counts.Sent != 5 {
				t.Fatalf("first run: %+v", res.Counts)
			}
			f.exec(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-3'`)
			res := f.run(t)
			counted(t, res)
			if res.Counts.Invalid != 1 || res.Counts.Missing != 0 || res.Counts.Disabled != 0 {
				t.Errorf("run after C-3 became invalid: %+v", res.Counts)
			}
			for id, c := range f.api.Customers() {
				if c.Disabled != nil && *c.Disabled {
					t.Errorf("%s was disabled", id)
				}
			}
		})
	}
}

// A reconcile of a diff job does what its run does (its dry run forecasts
// it, with nothing sent), and a retry of a diff job reads the rows of open
// record errors by key.
func TestDiffJobReconcileAndRetry(t *testing.T) {
	f := newFixture(t)
	f.diffJob(t)
	f.insertSpread(t, 10, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.run(t)
	f.untouched(t, `UPDATE clients SET family_name = 'Fixed' WHERE client_ref = 'C-2'`)

	calls := f.api.Requests()
	dry := f.runWith(t, pipeline.Options{Kind: state.KindReconcile, DryRun: true})
	counted(t, dry)
	if dry.Counts.Changed != 1 || dry.Counts.Sent != 1 || dry.Counts.Skipped != 9 || f.api.Requests() != calls {
		t.Errorf("reconcile --dry-run: %+v, %d calls", dry.Counts, f.api.Requests()-calls)
	}
	res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	counted(t, res)
	if res.Counts.Changed != 1 || res.Counts.Sent != 1 || !res.DisableRiskScan {
		t.Errorf("reconcile: %+v, disable_risk_scan %v", res.Counts, res.DisableRiskScan)
	}
	if c, _ := f.api.Customer("C-2"); c.LastName != "Fixed" {
		t.Errorf("C-2 holds %q", c.LastName)
	}

	f.exec(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-4'`)
	if res := f.run(t); res.Counts.Invalid != 1 {
		t.Fatalf("run with C-4 invalid: %+v", res.Counts)
	}
	f.exec(t, `UPDATE clients SET kind = 'person', family_name = 'Back' WHERE client_ref = 'C-4'`)
	res = f.runWith(t, pipeline.Options{Kind: state.KindRetry})
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Retried != 1 || res.Counts.Sent != 1 || res.Counts.Extracted != 0 {
		t.Errorf("retry: %s %+v", res.Status, res.Counts)
	}
	if c, _ := f.api.Customer("C-4"); c.LastName != "Back" {
		t.Errorf("C-4 holds %q", c.LastName)
	}
}
