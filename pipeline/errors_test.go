package pipeline_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// openError is one open error-severity row of record_errors.
type openError struct {
	SourceKey  string `db:"source_key"`
	ExternalID string `db:"external_id"`
	Code       string `db:"code"`
	Message    string `db:"message"`
}

// openErrors returns the open error rows of the fixture's job, by id.
func (f *fixture) openErrors(t *testing.T) []openError {
	t.Helper()
	var errs []openError
	if err := f.db.Select(&errs, `SELECT coalesce(source_key, '') AS source_key, coalesce(external_id, '') AS external_id, code, message
		FROM algoreg_etl.record_errors WHERE job = $1 AND severity = 'error' AND resolved_at IS NULL ORDER BY id`, f.job.Name); err != nil {
		t.Fatal(err)
	}
	return errs
}

// rejectInvalid has the job refuse a row with any invalid field, optional
// ones included (on_invalid_field: reject), so that a date of birth in the
// future makes a record error.
func (f *fixture) rejectInvalid() {
	f.job.OnInvalidField = map[string]string{}
	for _, field := range configs.OptionalFields {
		f.job.OnInvalidField[field] = configs.InvalidFieldReject
	}
}

// errorRows counts the record_errors rows of an external id, open or not.
func (f *fixture) errorRows(t *testing.T, externalID string) int {
	t.Helper()
	var n int
	if err := f.db.Get(&n, `SELECT count(*) FROM algoreg_etl.record_errors WHERE external_id = $1 AND severity = 'error'`, externalID); err != nil {
		t.Fatal(err)
	}
	return n
}

// An unchanged invalid row that the lookback reads again in every run is
// not attempted again: it keeps one open error, is not stuck, and each run
// counts it once.
func TestLookbackRereadsAreNotAttempts(t *testing.T) {
	f := newFixture(t)
	f.rejectInvalid()
	f.job.Lookback = time.Hour
	f.job.StuckAfter = 3
	at := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	f.insertPeople(t, 1, 2, at)
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('BAD-DOB', 'person', 'Future', '2999-01-01', $1)`, at)
	for i := 0; i < 6; i++ {
		res := f.run(t)
		counted(t, res)
		if res.Counts.Invalid != 1 {
			t.Errorf("run %d: counts %+v; want the invalid row counted once", i+1, res.Counts)
		}
	}
	if errs := f.openErrors(t); len(errs) != 1 || errs[0].ExternalID != "BAD-DOB" {
		t.Errorf("open errors %+v; want one for BAD-DOB", errs)
	}
	lines, err := f.env.State.ErrorLines(context.Background(), state.ErrorFilter{Job: f.job.Name, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || lines[0].Attempts != 1 {
		t.Errorf("report lines %+v; want BAD-DOB with 1 attempt", lines)
	}
}

// A row whose open error no longer applies, because the row now fails for
// another reason, has that error superseded: only the current cause stays
// open.
func TestSupersededErrors(t *testing.T) {
	f := newFixture(t)
	f.rejectInvalid()
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('BAD', 'person', 'Bad', '2999-01-01', '2025-02-01')`)
	f.run(t)
	if errs := f.openErrors(t); len(errs) != 1 || errs[0].Code != "date_in_future" {
		t.Fatalf("open errors %+v; want date_in_future", errs)
	}
	f.exec(t, `UPDATE clients SET birth_date = '1990-01-01', residence_country = 'U S', updated_at = '2025-02-02' WHERE client_ref = 'BAD'`)
	res := f.run(t)
	counted(t, res)
	if errs := f.openErrors(t); len(errs) != 1 || errs[0].Code != "invalid_country_code" {
		t.Errorf("open errors %+v; want only invalid_country_code", errs)
	}
	var resolvedBy int64
	if err := f.db.Get(&resolvedBy, `SELECT coalesce(resolved_run_id, 0) FROM algoreg_etl.record_errors WHERE code = 'date_in_future'`); err != nil || resolvedBy != res.RunID {
		t.Errorf("date_in_future resolved by run %d (%v), want %d", resolvedBy, err, res.RunID)
	}
	// The same holds when the row is retried rather than re-read: its
	// cause fixed without a change of updated_at, it fails for another.
	f.exec(t, `UPDATE clients SET residence_country = 'CH', kind = 'trust', updated_at = '2025-02-01' WHERE client_ref = 'BAD'`)
	f.run(t)
	if errs := f.openErrors(t); len(errs) != 1 || errs[0].Code != "invalid_account_type" {
		t.Errorf("open errors after the retry %+v; want only invalid_account_type", errs)
	}
}

// A row that fails stuck_after times, each time with new content, is stuck:
// runs no longer retry it, and a run that leaves stuck rows does not end
// succeeded.
func TestRunLeavingStuckRowsIsNotASuccess(t *testing.T) {
	f := newFixture(t)
	f.rejectInvalid()
	f.job.StuckAfter = 2
	f.insertPeople(t, 1, 2, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC))
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('BAD', 'person', 'Bad', '2999-01-01', '2025-02-02')`)
	f.run(t)
	f.exec(t, `UPDATE clients SET family_name = 'Still bad', updated_at = '2025-02-03' WHERE client_ref = 'BAD'`)
	f.run(t)
	// Nothing changed since: the run reads nothing, retries nothing.
	res := f.run(t)
	counted(t, res)
	if res.Counts.Retried != 0 {
		t.Errorf("the stuck row was retried: %+v", res.Counts)
	}
	if res.Status == state.StatusSucceeded {
		t.Errorf("a run that leaves a stuck row ended %s", res.Status)
	}
}

// Two jobs on one tenant: one sends people, the other companies and the
// links to those people. What the API accepted through the first job is
// known to the second: its relations go through.
func TestDependenciesAcrossJobsOfOneTenant(t *testing.T) {
	f := newFixture(t)
	f.withRelations(t)
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, updated_at) VALUES ('P-1', 'person', 'Ann', 'Owner', '1970-01-01', '2025-02-01')`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, updated_at) VALUES ('F-1', 'company', 'Firm AG', '2025-02-01')`)
	f.exec(t, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT co.id, pa.id, 'director', '2025-02-01' FROM clients co, clients pa WHERE co.client_ref = 'F-1' AND pa.client_ref = 'P-1'`)
	people := *f.job
	people.Name, people.RelationsSQL, people.RelationTypes = "people", "", nil
	people.CustomersSQL = `SELECT * FROM (` + f.job.CustomersSQL + `) q WHERE account_type = 'person'`
	firms := *f.job
	firms.Name = "firms"
	firms.CustomersSQL = `SELECT * FROM (` + f.job.CustomersSQL + `) q WHERE account_type = 'company'`
	firms.Lookback = time.Hour
	run := func(j *configs.Job) *pipeline.Result {
		t.Helper()
		res, err := pipeline.Run(context.Background(), f.env, j, pipeline.Options{})
		if err != nil {
			t.Fatal(err)
		}
		counted(t, res)
		return res
	}
	run(&people)
	for i := 0; i < 3; i++ {
		run(&firms)
	}
	if _, ok := f.api.Relations()["L-1"]; !ok {
		t.Errorf("the relation to P-1, accepted through job people, was held")
	}
	f.job = &firms
	if errs := f.openErrors(t); len(errs) != 0 {
		t.Errorf("open errors of job firms: %+v", errs)
	}
}

// A relation held for a customer the API has not accepted keeps one open
// error however many runs read it again, and the error names the relation
// and the customer it waits for.
func TestHeldRelationHasOneOpenError(t *testing.T) {
	f := newFixture(t)
	f.rejectInvalid()
	f.withRelations(t)
	f.job.Lookback = time.Hour
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, updated_at) VALUES ('P-1', 'person', 'Ann', 'Future', '2999-01-01', '2025-02-01')`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, updated_at) VALUES ('F-1', 'company', 'Firm AG', '2025-02-01')`)
	f.exec(t, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT co.id, pa.id, 'director', '2025-02-01' FROM clients co, clients pa WHERE co.client_ref = 'F-1' AND pa.client_ref = 'P-1'`)
	for i := 0; i < 4; i++ {
		counted(t, f.run(t))
	}
	var held []openError
	for _, e := range f.openErrors(t) {
		if e.ExternalID == "L-1" {
			held = append(held, e)
		}
	}
	if len(held) != 1 {
		t.Fatalf("open errors of L-1: %+v; want one", held)
	}
	if m := held[0].Message; !strings.Contains(m, "relation L-1") || !strings.Contains(m, "customer P-1") {
		t.Errorf("hold message %q does not name the relation and the missing customer", m)
	}
}

// A three-level hierarchy whose children are read before their parents goes
// through in one run, parents first, each row counted once; in a backfill
// too.
func TestHierarchyInOneRun(t *testing.T) {
	for _, kind := range []string{state.KindRun, state.KindBackfill} {
		f := newFixture(t)
		// Each row names its parent; the leaf changed first.
		for _, r := range []struct{ ref, parent, at string }{{"ROOT", "", "2025-02-03"}, {"MID", "ROOT", "2025-02-02"}, {"LEAF", "MID", "2025-02-01"}} {
			f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, parent_client_id, updated_at)
				VALUES ($1, 'company', $1 || ' AG', (SELECT id FROM clients WHERE client_ref = $2), $3)`, r.ref, r.parent, r.at)
		}
		var mu sync.Mutex
		var order []string
		f.api.SetBeforeSave(func(req *load.SaveRequest) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range req.Customers {
				order = append(order, c.ExternalID)
			}
		})
		res := f.runWith(t, pipeline.Options{Kind: kind})
		counted(t, res)
		c := res.Counts
		if res.Status != state.StatusSucceeded || c.Extracted != 3 || c.Sent != 3 || c.Invalid != 0 || c.Retried != 0 {
			t.Errorf("%s %s, counts %+v; want 3 read and sent, succeeded", kind, res.Status, c)
		}
		for _, id := range []string{"ROOT", "MID", "LEAF"} {
			if _, ok := f.api.Customer(id); !ok {
				t.Errorf("%s: %s did not arrive", kind, id)
			}
			if n := f.errorRows(t, id); n > 1 {
				t.Errorf("%s: %s has %d error rows", kind, id, n)
			}
		}
		if strings.Join(order, ",") != "ROOT,MID,LEAF" {
			t.Errorf("%s: sent in the order %v", kind, order)
		}
		if errs := f.openErrors(t); len(errs) != 0 {
			t.Errorf("%s: open errors %+v", kind, errs)
		}
	}
}

// Two source rows give one external id. The API receives the first row's
// record only; the second is held with one open error naming both rows,
// run after run, until its external id is fixed.
func TestDuplicateExternalIDs(t *testing.T) {
	for _, chunkSize := range []int{10, 1} {
		f := newFixture(t)
		f.exec(t, `CREATE TABLE legacy (id int PRIMARY KEY, ref text, name text, changed timestamptz)`)
		f.exec(t, `INSERT INTO legacy VALUES (1, 'L-1', 'One', '2025-01-01'), (2, 'L-1', 'Duplicate', '2025-01-01'), (3, 'L-3', 'Three', '2025-01-01')`)
		f.job.CustomersSQL = `SELECT changed AS cursor_updated_at, id AS cursor_key, ref AS external_id, 'N' AS account_type, name AS last_name, date '1970-01-01' AS date_of_birth FROM legacy`
		f.job.AccountTypes = nil
		f.job.ChunkSize = chunkSize
		f.job.Lookback = time.Hour
		var mu sync.Mutex
		sends := 0
		f.api.SetBeforeSave(func(req *load.SaveRequest) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range req.Customers {
				if c.ExternalID == "L-1" {
					sends++
				}
			}
		})
		check := func(when string) {
			t.Helper()
			if c, _ := f.api.Customer("L-1"); c.LastName != "One" {
				t.Errorf("chunks of %d, %s: L-1 holds %q, want the first row's", chunkSize, when, c.LastName)
			}
			errs := f.openErrors(t)
			if len(errs) != 1 || errs[0].SourceKey != "2" || !strings.Contains(errs[0].Message, "cursor_key 1") || !strings.Contains(errs[0].Message, "cursor_key 2") {
				t.Errorf("chunks of %d, %s: open errors %+v; want one for row 2 naming rows 1 and 2", chunkSize, when, errs)
			}
		}
		counted(t, f.run(t))
		check("first run")
		// Runs that read both again, one after the duplicate changed.
		counted(t, f.run(t))
		f.exec(t, `UPDATE legacy SET name = 'Duplicate again', changed = '2025-01-01 00:00:01' WHERE id = 2`)
		counted(t, f.run(t))
		check("later runs")
		if sends != 1 {
			t.Errorf("chunks of %d: L-1 sent %d times; want once", chunkSize, sends)
		}
		res := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
		if res.Counts.Changed != 0 || res.Counts.New != 0 {
			t.Errorf("chunks of %d: reconcile counts %+v; want nothing new or changed", chunkSize, res.Counts)
		}
		check("reconcile")

		f.exec(t, `UPDATE legacy SET ref = 'L-2', changed = '2025-01-02' WHERE id = 2`)
		counted(t, f.run(t))
		if c, ok := f.api.Customer("L-2"); !ok || c.LastName != "Duplicate again" {
			t.Errorf("chunks of %d: L-2 after the fix: %+v, %v", chunkSize, c, ok)
		}
		if errs := f.openErrors(t); len(errs) != 0 {
			t.Errorf("chunks of %d: open errors after the fix: %+v", chunkSize, errs)
		}
	}
}
