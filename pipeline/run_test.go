package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// fixture is a source database holding the example schema, its state, and
// a sandbox API.
type fixture struct {
	db  *sqltest.DB
	env *pipeline.Env
	api *algoregtest.Server
	job *configs.Job
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := sqltest.NewDB(t)
	st, err := state.Open(ctx, db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	api := algoregtest.NewServer(t)
	query, err := etlsql.Example("customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		db:  db,
		api: api,
		env: &pipeline.Env{
			Source: db.DB,
			State:  st,
			API:    load.NewClient(api.URL, load.BearerToken(api.Token), nil),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		},
		job: testJob(query),
	}
}

// testJob returns a job over the example customers query with small chunks
// and pages, so that a few rows cross their boundaries.
func testJob(query string) *configs.Job {
	j := configs.DefaultJob("customers")
	j.CustomersSQL = query
	j.ChunkSize, j.Concurrency, j.PageSize = 3, 4, 2
	j.SafetyLag, j.Lookback = 0, 0
	j.AccountTypes = map[string]string{"person": "N", "company": "F"}
	return &j
}

func (f *fixture) run(t *testing.T) *pipeline.Result {
	t.Helper()
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func (f *fixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// insertPeople inserts n valid clients C-<first>.. with one updated_at.
func (f *fixture) insertPeople(t *testing.T, first, n int, at time.Time) {
	t.Helper()
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, updated_at)
		SELECT 'C-' || g, 'person', 'Given' || g, 'Family' || g, date '1980-01-01' + g, $3
		FROM generate_series($1::int, $1::int + $2::int - 1) g`, first, n, at)
}

func (f *fixture) watermark(t *testing.T) (state.Watermark, bool) {
	t.Helper()
	wm, ok, err := f.env.State.Watermark(context.Background(), f.job.Name, pipeline.StreamCustomers)
	if err != nil {
		t.Fatal(err)
	}
	return wm, ok
}

// counted checks that every row read ends in exactly one count.
func counted(t *testing.T, res *pipeline.Result) {
	t.Helper()
	c := res.Counts
	if c.Extracted+c.Retried != c.Sent+c.Rejected+c.Invalid+c.Skipped {
		t.Errorf("counts do not add up: %+v", c)
	}
}

func TestRunDeliversThenSendsNothingUnchanged(t *testing.T) {
	f := newFixture(t)
	f.exec(t, `INSERT INTO clients (client_ref, kind, given_name, middle_names, family_name, birth_date, residence_country, phone, notes, risk_tier, attributes, closed_at, updated_at)
		VALUES ('P-1', 'person', '  Zoë ', NULL, 'Ångström', '1980-02-29', 'ch', '+41 44 000 00 00', 'VIP', 2, '{"segment":"retail"}', '2024-06-01', '2025-01-01 10:00:00.000001+00')`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, trading_as, registration_no, updated_at)
		VALUES ('F-1', 'company', 'Acme Holding AG', 'Acme', 'CHE-123.456.789', '2025-01-01 10:00:00.000002+00')`)
	f.exec(t, `INSERT INTO client_nationalities (client_id, country) SELECT id, c FROM clients, unnest(ARRAY['se','CH']) c WHERE client_ref = 'P-1'`)
	// The nationalities' trigger moved P-1's updated_at to now(): set it back.
	f.exec(t, `UPDATE clients SET updated_at = '2025-01-01 10:00:00.000001+00' WHERE client_ref = 'P-1'`)

	res := f.run(t)
	counted(t, res)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 2 || res.Counts.Added != 2 {
		t.Fatalf("first run: %+v", res)
	}
	p, ok := f.api.Customer("P-1")
	if !ok {
		t.Fatal("P-1 did not arrive")
	}
	yes := true
	two := int64(2)
	want := load.Customer{
		ExternalID: "P-1", AccountType: "N", FirstName: "Zoë", LastName: "Ångström", DateOfBirth: "1980-02-29",
		NationalityCodes: []string{"CH", "SE"}, DomicileCodes: []string{"CH"}, Phone: "+41 44 000 00 00",
		Comment: "VIP", KYCLevel: &two, Disabled: &yes, Fields: []byte(`{"segment": "retail"}`),
	}
	if got, want := fmt.Sprintf("%+v", jsonOf(t, p)), fmt.Sprintf("%+v", jsonOf(t, want)); got != want {
		t.Errorf("P-1 arrived as\n%s\nwant\n%s", got, want)
	}
	firm, _ := f.api.Customer("F-1")
	if firm.AccountType != "F" || firm.CompanyName != "Acme Holding AG" || firm.TradingName != "Acme" || firm.RegistrationNumber != "CHE-123.456.789" ||
		firm.Disabled == nil || *firm.Disabled {
		t.Errorf("F-1 arrived as %+v", jsonOf(t, firm))
	}
	wm, ok := f.watermark(t)
	if !ok || !wm.UpdatedAt.Equal(time.Date(2025, 1, 1, 10, 0, 0, 2000, time.UTC)) {
		t.Errorf("watermark %+v, %v; want F-1's updated_at", wm, ok)
	}
	run, err := f.env.State.Run(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != state.StatusSucceeded || run.Sent != 2 || run.Extracted != 2 || run.FinishedAt == nil || run.WindowTo == nil {
		t.Errorf("run row %+v", run)
	}

	requests := f.api.Requests()
	res = f.run(t)
	if res.Counts.Extracted != 0 || f.api.Requests() != requests {
		t.Errorf("second run with no change: counts %+v, %d requests", res.Counts, f.api.Requests()-requests)
	}

	// A change to a child row is a change of the client.
	f.exec(t, `DELETE FROM client_nationalities WHERE country = 'se'`)
	res = f.run(t)
	if res.Counts.Sent != 1 {
		t.Errorf("run after a nationality was removed: %+v", res.Counts)
	}
	if p, _ := f.api.Customer("P-1"); strings.Join(p.NationalityCodes, ",") != "CH" {
		t.Errorf("P-1 nationalities %v after SE was removed", p.NationalityCodes)
	}
}

func jsonOf(t *testing.T, c load.Customer) string {
	t.Helper()
	h, err := jsonMarshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Seven rows share one updated_at; with pages of 2 and chunks of 3 each
// arrives exactly once, and the watermark ends on the last of them.
func TestRunEqualTimestamps(t *testing.T) {
	f := newFixture(t)
	at := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	f.insertPeople(t, 1, 7, at)
	res := f.run(t)
	counted(t, res)
	if f.api.Received() != 7 || len(f.api.Customers()) != 7 || res.Counts.Sent != 7 {
		t.Fatalf("received %d customers (%d distinct), counts %+v; want 7", f.api.Received(), len(f.api.Customers()), res.Counts)
	}
	var lastID string
	if err := f.db.Get(&lastID, `SELECT id::text FROM clients WHERE client_ref = 'C-7'`); err != nil {
		t.Fatal(err)
	}
	if wm, _ := f.watermark(t); !wm.UpdatedAt.Equal(at) || wm.Key != lastID {
		t.Errorf("watermark %+v, want (%v, %s)", wm, at, lastID)
	}
	// Rows added later with the same timestamp and higher keys are read by
	// the next run: the key breaks the tie.
	f.insertPeople(t, 8, 2, at)
	if res := f.run(t); res.Counts.Sent != 2 || f.api.Received() != 9 {
		t.Errorf("next run: %+v, received %d in all", res.Counts, f.api.Received())
	}
}

func TestRunRecordsInvalidRowsAndGoesOn(t *testing.T) {
	f := newFixture(t)
	for field := range f.job.OnInvalidField {
		f.job.OnInvalidField[field] = configs.InvalidFieldReject
	}
	f.insertPeople(t, 1, 4, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC))
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, birth_date, updated_at) VALUES ('BAD-DOB', 'person', 'Future', '2999-01-01', '2025-02-01')`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, legal_name, updated_at) VALUES ('BAD-KIND', 'trust', 'Family Trust', '2025-02-01')`)
	f.exec(t, `INSERT INTO clients (client_ref, kind, family_name, residence_country, updated_at) VALUES ('BAD-CC', 'person', 'Nowhere', 'U S', '2025-02-01')`)
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted(t, res)
	if res.Status != state.StatusPartial || res.Counts.Sent != 4 || res.Counts.Invalid != 3 {
		t.Fatalf("run: %+v", res)
	}
	errs, err := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range errs {
		if e.Stage != state.StageTransform || e.SourceKey == "" || len(e.Payload) == 0 {
			t.Errorf("record error %+v lacks stage, source key or payload", e)
		}
		got[e.ExternalID] = e.Field + " " + e.Code
		if !strings.Contains(e.Message, e.Field) {
			t.Errorf("message %q does not name the field %s", e.Message, e.Field)
		}
	}
	want := map[string]string{
		"BAD-DOB":  "date_of_birth date_in_future",
		"BAD-KIND": "account_type invalid_account_type",
		"BAD-CC":   "domicile_codes invalid_country_code",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("record errors %v, want %v", got, want)
	}
	for id := range want {
		if _, ok := f.api.Customer(id); ok {
			t.Errorf("invalid %s was sent", id)
		}
	}
	// The invalid rows are settled: the watermark passed them.
	if wm, _ := f.watermark(t); !wm.UpdatedAt.Equal(time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("watermark %+v", wm)
	}
}

// A record the API refuses, and a record it warns about, are recorded with
// the API's code and message; the rest of the chunk arrives.
func TestRunRecordsAPIErrorsAndWarnings(t *testing.T) {
	f := newFixture(t)
	f.exec(t, `CREATE TABLE legacy (id int PRIMARY KEY, ref text, name text, changed timestamptz)`)
	f.exec(t, `INSERT INTO legacy VALUES (1, 'L-1', 'One', '2025-01-01'), (2, 'L-2', 'Refused', '2025-01-01'), (3, 'L-3', 'Three', '2025-01-01')`)
	f.job.CustomersSQL = `SELECT changed AS cursor_updated_at, id AS cursor_key, ref AS external_id, 'N' AS account_type, name AS last_name FROM legacy`
	f.job.AccountTypes = nil
	f.job.ChunkSize = 10
	f.api.Poison("L-2", "customer L-2 is blocked")
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted(t, res)
	if res.Counts.Sent != 2 || res.Counts.Rejected != 1 || res.Counts.Warnings != 2 {
		t.Fatalf("counts %+v; want 2 sent, L-2 rejected, 2 warnings (no date of birth)", res.Counts)
	}
	errs, _ := f.env.State.RecordErrorsOfRun(context.Background(), res.RunID)
	var refused []state.RecordError
	for _, e := range errs {
		if e.Severity == state.SeverityError {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 || refused[0].Stage != state.StageAPI || refused[0].SourceKey != "2" || refused[0].Code == "" ||
		!strings.Contains(refused[0].Message, "blocked") || !strings.Contains(string(refused[0].Payload), "Refused") {
		t.Errorf("API errors %+v", refused)
	}
	if _, ok := f.api.Customer("L-2"); ok {
		t.Error("the refused L-2 is stored")
	}
}

func TestRunRefusesSecondConcurrentRun(t *testing.T) {
	f := newFixture(t)
	f.insertPeople(t, 1, 3, time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC))
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.api.SetBeforeSave(func(*load.SaveRequest) {
		once.Do(func() { close(entered) })
		<-release
	})
	done := make(chan error, 1)
	go func() {
		_, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
		done <- err
	}()
	<-entered
	_, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if !errors.Is(err, state.ErrLocked) {
		t.Errorf("second run: %v, want ErrLocked", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runs, _ := f.env.State.Runs(context.Background(), f.job.Name, 10)
	if len(runs) != 1 {
		t.Errorf("%d run rows; the refused run must not open one", len(runs))
	}
}

// Chunks finish out of order: while the first is held back the others
// succeed, yet the watermark does not pass the first. When the run is then
// interrupted, the next run sends the held chunk and nothing is lost.
func TestRunWatermarkWaitsForEarlierChunks(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 12; i++ {
		f.insertPeople(t, i, 1, base.Add(time.Duration(i)*time.Second))
	}
	f.job.ChunkSize, f.job.Concurrency, f.job.PageSize = 3, 4, 5
	f.job.DrainTimeout = 0 // a cancelled run abandons its calls at once

	held := make(chan struct{})
	var others sync.WaitGroup
	others.Add(3)
	f.api.SetBeforeSave(func(req *load.SaveRequest) {
		if req.Customers[0].ExternalID == "C-1" {
			<-held
			return
		}
		others.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	type outcome struct {
		res *pipeline.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{})
		done <- outcome{res, err}
	}()
	others.Wait()
	// Let the three later chunks settle, then look at the watermark.
	deadline := time.Now().Add(5 * time.Second)
	for len(f.api.Customers()) < 9 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if wm, ok := f.watermark(t); ok {
		t.Errorf("watermark moved to %+v while the first chunk was unsettled", wm)
	}
	cancel()
	// The held call is released only once the run has returned: released
	// earlier, its answer could still reach the run and settle the chunk.
	var o outcome
	select {
	case o = <-done:
		close(held)
	case <-time.After(30 * time.Second):
		close(held)
		t.Fatal("the cancelled run did not return while its first call was held")
	}
	if o.res == nil || o.res.Status != state.StatusInterrupted {
		t.Fatalf("interrupted run: %+v, %v", o.res, o.err)
	}
	if wm, ok := f.watermark(t); ok {
		t.Errorf("watermark %+v after the first chunk was abandoned", wm)
	}

	f.api.SetBeforeSave(nil)
	res := f.run(t)
	counted(t, res)
	got := make([]string, 0, 12)
	for id := range f.api.Customers() {
		got = append(got, id)
	}
	sort.Strings(got)
	if len(got) != 12 {
		t.Errorf("after the rerun the API holds %v; want all 12", got)
	}
	if wm, _ := f.watermark(t); !wm.UpdatedAt.Equal(base.Add(12 * time.Second)) {
		t.Errorf("watermark %+v after the rerun", wm)
	}
}

// childFixture connects to a database and sandbox made by another process.
func childFixture(t *testing.T, dsn, apiURL, token string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := state.Open(ctx, dsn, "")
	if err != nil {
		t.Fatal(err)
	}
	src, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	query, err := etlsql.Example("customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		env: &pipeline.Env{Source: src, State: st, API: load.NewClient(apiURL, load.BearerToken(token), nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		job: testJob(query),
	}
}

// On a signal, a run stops reading but lets the calls in flight finish and
// checkpoints them.
func TestRunDrainsCallsInFlightOnCancel(t *testing.T) {
	f := newFixture(t)
	f.insertPeople(t, 1, 30, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	f.job.ChunkSize, f.job.Concurrency, f.job.PageSize = 3, 2, 3
	f.job.DrainTimeout = 10 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	var calls atomic.Int32
	f.api.SetBeforeSave(func(*load.SaveRequest) {
		if calls.Add(1) == 2 {
			cancel()
			<-release
		}
	})
	done := make(chan *pipeline.Result, 1)
	go func() {
		res, _ := pipeline.Run(ctx, f.env, f.job, pipeline.Options{})
		done <- res
	}()
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond)
	close(release)
	res := <-done
	if res.Status != state.StatusInterrupted {
		t.Fatalf("status %s", res.Status)
	}
	sent := int(res.Counts.Sent)
	if sent < 3 || sent >= 30 || len(f.api.Customers()) != sent {
		t.Errorf("sent %d, the sandbox holds %d; want the chunks in flight delivered and reading stopped", sent, len(f.api.Customers()))
	}
	wm, ok := f.watermark(t)
	if !ok || !wm.UpdatedAt.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("watermark %+v, %v after the drained run", wm, ok)
	}
	run, _ := f.env.State.Run(context.Background(), res.RunID)
	if run.Sent != res.Counts.Sent || run.Status != state.StatusInterrupted {
		t.Errorf("run row %+v", run)
	}
}

// TestRunsLeaveNoScratchRows checks that a run's scratch rows, the claims
// of the external ids it sent first and a reconcile's marks, leave nothing
// in their tables for later runs to read once it ends, on a state server
// that never vacuums; and that the claims a killed run left go with it.
func TestRunsLeaveNoScratchRows(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.insertPeople(t, 1, 50, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	size := func(table string) int64 {
		t.Helper()
		var n int64
		if err := f.env.State.DB().Get(&n, `SELECT pg_relation_size($1::regclass)`, "algoreg_etl."+table); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A process killed during a run left its claims.
	killed, err := f.env.State.StartRun(ctx, state.Run{Job: f.job.Name, Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.State.Claim(ctx, killed, f.job.Name, pipeline.StreamCustomers, []string{"C-1"}, []string{"99"}); err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: state.KindBackfill})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 50 {
		t.Fatalf("backfill after a killed run: %s, %+v; want the 50 rows sent, the killed run's claim ignored", res.Status, res.Counts)
	}
	if n := size("run_claims"); n != 0 {
		t.Errorf("run_claims holds %d bytes after the backfill, want 0", n)
	}
	res, err = pipeline.Run(ctx, f.env, f.job, pipeline.Options{Kind: state.KindReconcile})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != state.StatusSucceeded || res.Counts.Skipped != 50 {
		t.Fatalf("reconcile: %s, %+v", res.Status, res.Counts)
	}
	if n := size("reconcile_seen"); n != 0 {
		t.Errorf("reconcile_seen holds %d bytes after the reconcile, want 0", n)
	}
}
