package pipeline_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

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

// ownersFixture is a firm F-1 owned by n persons C-1..C-n, one link each
// (the relations query's L-<id>), sent once.
func ownersFixture(t *testing.T, n int) *fixture {
	t.Helper()
	f := newFixture(t)
	f.withRelations(t)
	f.job.ChunkSize, f.job.PageSize = 10, 20
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.insertSpread(t, n, base)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, updated_at) VALUES ('F-1', 'company', 'Firm AG', $1)`, base)
	f.exec(t, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT co.id, pa.id, 'director', $1 FROM clients co, clients pa WHERE co.client_ref = 'F-1' AND pa.kind = 'person' ORDER BY pa.id`, base.Add(time.Hour))
	if res := f.run(t); res.Status != state.StatusSucceeded || res.Counts.Sent != int64(2*n+1) {
		t.Fatalf("first run: %+v", res)
	}
	return f
}

// deleteOwners deletes the persons refs and their links from the source,
// and returns the external ids of the customers and relations deleted.
func (f *fixture) deleteOwners(t *testing.T, refs ...string) (customers, relations []string) {
	t.Helper()
	if err := f.db.Select(&relations, `SELECT 'L-' || l.id FROM client_links l JOIN clients c ON c.id = l.party_id
		WHERE c.client_ref = ANY($1) ORDER BY 1`, pq.Array(refs)); err != nil {
		t.Fatal(err)
	}
	f.exec(t, `DELETE FROM client_links WHERE party_id IN (SELECT id FROM clients WHERE client_ref = ANY($1))`, pq.Array(refs))
	f.exec(t, `DELETE FROM clients WHERE client_ref = ANY($1)`, pq.Array(refs))
	return slices.Sorted(slices.Values(refs)), relations
}

// disabledInAPI returns which of ids the sandbox holds disabled, customers
// and relations alike.
func (f *fixture) disabledInAPI(ids []string) []string {
	var out []string
	rels := f.api.Relations()
	for _, id := range ids {
		if c, ok := f.api.Customer(id); ok && c.Disabled != nil && *c.Disabled {
			out = append(out, id)
		}
		if r, ok := rels[id]; ok && r.Disabled != nil && *r.Disabled {
			out = append(out, id)
		}
	}
	return out
}

// Persons who own links are deleted with their links: one reconcile
// reports (on_missing: report) or disables (on_missing: disable) both the
// customers and the relations, and its missing count is what it handled.
func TestReconcileHandlesEveryStream(t *testing.T) {
	for _, onMissing := range []string{configs.OnMissingReport, configs.OnMissingDisable} {
		t.Run(onMissing, func(t *testing.T) {
			f := ownersFixture(t, 30)
			f.job.OnMissing, f.job.MaxDisableFraction = onMissing, 0.1
			customers, relations := f.deleteOwners(t, "C-2", "C-3")
			gone := append(slices.Clone(customers), relations...)

			res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
			if res.Status != state.StatusSucceeded || res.Counts.Missing != 4 {
				t.Fatalf("reconcile: %s %+v, want 4 missing", res.Status, res.Counts)
			}
			errs, err := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
			if err != nil {
				t.Fatal(err)
			}
			var warned []string
			for _, e := range errs {
				if e.Code == pipeline.CodeDeletedInSource && e.Severity == state.SeverityWarning {
					warned = append(warned, e.ExternalID)
				}
			}
			slices.Sort(warned)
			if want := slices.Sorted(slices.Values(gone)); !slices.Equal(warned, want) {
				t.Errorf("deleted_in_source warnings for %v, want %v", warned, want)
			}
			disabled := f.disabledInAPI(gone)
			switch onMissing {
			case configs.OnMissingReport:
				if len(disabled) != 0 || res.Counts.Disabled != 0 {
					t.Errorf("on_missing report disabled %v (count %d)", disabled, res.Counts.Disabled)
				}
			case configs.OnMissingDisable:
				if len(disabled) != 4 || res.Counts.Disabled != res.Counts.Missing {
					t.Errorf("one reconcile disabled %v in the API (count %d), want %v", disabled, res.Counts.Disabled, gone)
				}
				if again := f.runWith(t, pipeline.Options{Kind: state.KindReconcile}); again.Counts.Missing != 0 {
					t.Errorf("the next reconcile finds %d missing", again.Counts.Missing)
				}
			}
		})
	}
}

// A dry run of a reconcile with on_missing: disable foresees the real run
// on the same data, on both streams: what it would send and disable, its
// status and its error, under max_disable_fraction and over it.
func TestReconcileDryRunForeseesTheRealRun(t *testing.T) {
	for name, refs := range map[string][]string{
		"under max_disable_fraction": {"C-2", "C-3"},
		"over max_disable_fraction":  {"C-2", "C-3", "C-4", "C-5", "C-6"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			f := ownersFixture(t, 30)
			f.job.OnMissing, f.job.MaxDisableFraction = configs.OnMissingDisable, 0.1
			customers, relations := f.deleteOwners(t, refs...)
			gone := slices.Sorted(slices.Values(append(customers, relations...)))
			over := len(refs) > 3
			// A change that did not bump updated_at, for the sends.
			f.exec(t, `ALTER TABLE clients DISABLE TRIGGER clients_touch`)
			f.exec(t, `UPDATE clients SET family_name = 'Changed' WHERE client_ref = 'C-7'`)
			f.exec(t, `ALTER TABLE clients ENABLE TRIGGER clients_touch`)

			calls := f.api.Requests()
			dry, dryErr := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: state.KindReconcile, DryRun: true})
			if f.api.Requests() != calls {
				t.Errorf("the dry run made %d calls", f.api.Requests()-calls)
			}
			if c, _ := f.api.Customer("C-7"); c.LastName == "Changed" {
				t.Error("the dry run sent C-7")
			}
			if d := f.disabledInAPI(gone); len(d) != 0 {
				t.Errorf("the dry run disabled %v", d)
			}
			real, realErr := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: state.KindReconcile})

			if dry.Status != real.Status || (dryErr == nil) != (realErr == nil) {
				t.Errorf("dry run ended %s (%v), the real run %s (%v)", dry.Status, dryErr, real.Status, realErr)
			}
			d, r := dry.Counts, real.Counts
			if d.New != r.New || d.Changed != r.Changed || d.Skipped != r.Skipped || d.Invalid != r.Invalid ||
				d.Missing != r.Missing || d.Disabled != r.Disabled {
				t.Errorf("dry run counted %+v, the real run %+v", d, r)
			}
			if r.Changed != 1 || r.Missing != int64(len(gone)) {
				t.Errorf("real run: %+v, want 1 changed and %d missing", r, len(gone))
			}
			if over {
				for _, err := range []error{dryErr, realErr} {
					if err == nil || !strings.Contains(err.Error(), "max_disable_fraction") {
						t.Errorf("over the fraction: %v, want a refusal naming max_disable_fraction", err)
					}
				}
				if dry.Status != state.StatusFailed || r.Disabled != 0 || len(f.disabledInAPI(gone)) != 0 {
					t.Errorf("over the fraction: dry run %s, real run disabled %d", dry.Status, r.Disabled)
				}
				return
			}
			if dry.Status != state.StatusSucceeded || d.Disabled != int64(len(gone)) {
				t.Errorf("dry run: %s %+v, want %d to disable", dry.Status, d, len(gone))
			}
			if got := f.disabledInAPI(gone); !slices.Equal(got, gone) {
				t.Errorf("the real run disabled %v, want %v", got, gone)
			}
			for _, id := range []int64{dry.RunID, real.RunID} {
				run, err := f.env.State.Run(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				var details struct{ Examples map[string][]string }
				json.Unmarshal(run.Details, &details)
				if got := slices.Sorted(slices.Values(details.Examples["disabled"])); !slices.Equal(got, gone) {
					t.Errorf("run %d (dry run %v) lists %v as disabled, want %v", id, run.DryRun, got, gone)
				}
			}
		})
	}
}

// A reconcile's disabled: true sends are in the record history: the
// customer's report shows the disable as its last sync, and the relation's
// send with the customers it names.
func TestReconcileDisableIsAudited(t *testing.T) {
	ctx := context.Background()
	f := ownersFixture(t, 30)
	f.job.OnMissing = configs.OnMissingDisable
	_, relations := f.deleteOwners(t, "C-2")
	res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if res.Counts.Disabled != 2 {
		t.Fatalf("reconcile: %+v, want 2 disabled", res.Counts)
	}
	rep, err := f.env.State.CustomerReport(ctx, "C-2")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sync) != 1 || rep.Sync[0].LastSentRunID != res.RunID || rep.Sync[0].LastOutcome != "disabled" {
		t.Errorf("C-2's last sync: %+v, want the reconcile's disable", rep.Sync)
	}
	var sends []string
	for _, e := range rep.Events {
		sends = append(sends, e.Kind+" "+e.Outcome)
	}
	// The warning that it was deleted in the source, then its disable.
	if want := []string{"run added", "reconcile extract", "reconcile disabled"}; !slices.Equal(sends, want) {
		t.Errorf("C-2's history: %v, want %v", sends, want)
	}
	var rels []string
	for _, e := range rep.Relations {
		rels = append(rels, e.Kind+" "+e.RelationExternalID+" "+e.Outcome)
	}
	if want := []string{"run " + relations[0] + " updated", "reconcile " + relations[0] + " disabled"}; !slices.Equal(rels, want) {
		t.Errorf("C-2's relations: %v, want %v", rels, want)
	}
}

// A dry run's findings are not the job's open errors, and it counts as new
// only the errors the real run would count as new: a reconcile --dry-run
// over a row that keeps failing for a known reason leaves the row one open
// error and forecasts the real reconcile's new_errors, so its exit code
// under exit_on_errors: new too. So for verify and offline runs, on a
// cursor job and on a diff job.
func TestDryRunFindingsAreNotOpenErrors(t *testing.T) {
	for _, diff := range []bool{false, true} {
		t.Run(map[bool]string{false: "cursor", true: "diff"}[diff], func(t *testing.T) {
			f := newFixture(t)
			if diff {
				f.diffJob(t)
			}
			f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
			f.exec(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-3'`)
			if res := f.run(t); res.Counts.NewErrors != 1 {
				t.Fatalf("first run: %s %+v, want 1 new error", res.Status, res.Counts)
			}
			oneOpen := func(after string) {
				t.Helper()
				open, err := f.env.State.OpenErrors(context.Background(), f.job.Name, pipeline.StreamCustomers, f.job.StuckAfter, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var errs int
				if err := f.db.Get(&errs, `SELECT coalesce(sum(errors), 0) FROM algoreg_etl.open_errors_by_code WHERE job = $1`, f.job.Name); err != nil {
					t.Fatal(err)
				}
				if len(open) != 1 || open[0].ExternalID != "C-3" || errs != 1 {
					t.Errorf("after %s: open errors %+v, open_errors_by_code counts %d; want C-3's one", after, open, errs)
				}
			}
			for _, opts := range []pipeline.Options{
				{Kind: state.KindReconcile, DryRun: true},
				{Kind: state.KindVerify},
				{Kind: state.KindOffline},
				{Kind: state.KindReconcile},
			} {
				what := opts.Kind
				if opts.DryRun {
					what += " --dry-run"
				}
				// A cursor job's verify and offline runs read the window
				// only, which no longer holds C-3.
				reads := diff || opts.Kind == state.KindReconcile
				res := f.runWith(t, opts)
				if res.Counts.NewErrors != 0 || (reads && (res.Status != state.StatusPartial || res.Counts.Invalid != 1)) {
					t.Errorf("%s: %s %+v, want no new error (and C-3 invalid: %v)", what, res.Status, res.Counts, reads)
				}
				oneOpen(what)
			}
			// A row that newly fails is new to a dry run as to the real run.
			f.untouched(t, `UPDATE clients SET kind = 'trust' WHERE client_ref = 'C-4'`)
			dry := f.runWith(t, pipeline.Options{Kind: state.KindReconcile, DryRun: true})
			real := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
			if dry.Counts.NewErrors != 1 || real.Counts.NewErrors != 1 {
				t.Errorf("a new invalid row: the dry run counted %d new errors, the real run %d; want 1", dry.Counts.NewErrors, real.Counts.NewErrors)
			}
		})
	}
}

// The API's warnings about a record a reconcile sends disabled are
// recorded and counted, as for any send.
func TestReconcileDisableRecordsTheAPIsWarnings(t *testing.T) {
	f := newFixture(t)
	f.job.OnMissing, f.job.MaxDisableFraction = configs.OnMissingDisable, 1
	f.insertSpread(t, 5, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	// A person without a date of birth: the API warns of it at each send.
	f.exec(t, `UPDATE clients SET birth_date = NULL WHERE client_ref = 'C-2'`)
	if res := f.run(t); res.Counts.Warnings != 1 {
		t.Fatalf("first run: %+v, want the API's warning about C-2", res.Counts)
	}
	f.exec(t, `DELETE FROM clients WHERE client_ref = 'C-2'`)
	res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if res.Counts.Disabled != 1 || res.Counts.Warnings != 1 {
		t.Errorf("reconcile: %+v, want C-2 disabled and the API's warning counted", res.Counts)
	}
	var codes []string
	if err := f.db.Select(&codes, `SELECT code FROM algoreg_etl.record_errors WHERE run_id = $1 AND external_id = 'C-2' AND severity = 'warning' ORDER BY code`, res.RunID); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(codes, "missing_date_of_birth") {
		t.Errorf("the reconcile recorded the warnings %v about C-2, want the API's missing_date_of_birth", codes)
	}
}

// A disable the API refuses leaves an open error, and the reconcile that
// met it ends partial, with it among its new errors, as a run whose records
// the API refused does: not succeeded with an error left behind.
func TestReconcileRefusedDisableIsPartial(t *testing.T) {
	f := ownersFixture(t, 30)
	f.job.OnMissing, f.job.MaxDisableFraction = configs.OnMissingDisable, 0.2
	f.deleteOwners(t, "C-2", "C-3")
	f.api.Poison("C-3", "customer C-3 is blocked")
	res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if res.Status != state.StatusPartial || res.Counts.NewErrors != 1 || res.Counts.Disabled != 3 {
		t.Errorf("reconcile: %s %+v, want partial with 1 new error and 3 disabled (C-2 and the two links)", res.Status, res.Counts)
	}
	var refused []string
	for _, e := range f.openErrors(t) {
		refused = append(refused, e.ExternalID+" "+e.Code)
	}
	if want := []string{"C-3 " + pipeline.CodeDeletedInSource}; !slices.Equal(refused, want) {
		t.Errorf("open errors: %v, want %v", refused, want)
	}
}
