package state_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

// The lifecycle of a row's errors: met again, changed, superseded, stuck,
// released.
func TestRecordFailures(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	e := func(key, code string, hash byte) state.RecordError {
		return state.RecordError{SourceKey: key, ExternalID: "C-" + key, Stage: state.StageAPI, Code: code, Message: "message " + code, Hash: hash16(hash)}
	}
	type row struct {
		Key, Code  string
		Attempt    int
		Open       bool
		Resolution string
		Seen       int64 // last_run_id
	}
	rows := func() []row {
		t.Helper()
		var rs []row
		if err := db.Select(&rs, `SELECT source_key AS key, code, attempt, resolved_at IS NULL AS open, coalesce(resolution, '') AS resolution,
			coalesce(last_run_id, 0) AS seen FROM algoreg_etl.record_errors WHERE severity = 'error' ORDER BY id`); err != nil {
			t.Fatal(err)
		}
		return rs
	}
	record := func(run int64, errs ...state.RecordError) int {
		t.Helper()
		n, err := s.RecordFailures(ctx, run, "customers", "customers", errs)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	r1 := startRun(t, s, "customers", state.KindRun)
	warning := state.RecordError{SourceKey: "a", Stage: state.StageAPI, Severity: state.SeverityWarning, Code: "w", Message: "w"}
	if n := record(r1, e("a", "x", 1), e("a", "y", 1), e("b", "x", 1), warning); n != 4 {
		t.Errorf("first failures stored %d rows, want 4", n)
	}
	r2 := startRun(t, s, "customers", state.KindRun)
	// a: the same problems met again, with a warning; b: x again, and
	// a new reason.
	if n := record(r2, e("a", "x", 1), e("a", "y", 1), e("b", "x", 1), e("b", "z", 1), warning); n != 2 {
		t.Errorf("second failures stored %d rows, want 2: b's z and the warning", n)
	}
	r3 := startRun(t, s, "customers", state.KindRun)
	// a: other content, same reason x, and y gone; b: z gone.
	record(r3, e("a", "x", 2), e("b", "x", 1))
	want := []row{
		{"a", "x", 1, false, "superseded", r2},
		{"a", "y", 1, false, "superseded", r2},
		{"b", "x", 2, true, "", r3},
		{"b", "z", 2, false, "superseded", 0},
		{"a", "x", 2, true, "", 0},
	}
	if got := rows(); !slices.Equal(got, want) {
		t.Errorf("errors\n got %+v\nwant %+v", got, want)
	}
	left, err := s.RunErrorsOf(ctx, r3, "customers", 2)
	if err != nil {
		t.Fatal(err)
	}
	// r3's new row for a has the code of the error it superseded: not new.
	if left != (state.RunErrors{New: 0, Stuck: 2}) {
		t.Errorf("RunErrorsOf(r3) = %+v; want nothing new, a and b stuck at 2 attempts", left)
	}
	if left, _ := s.RunErrorsOf(ctx, r2, "customers", 3); left.New != 0 || left.Stuck != 0 {
		t.Errorf("RunErrorsOf(r2) = %+v: its z was superseded", left)
	}

	// Findings of a verify run are no delivery's failure: apart.
	v := startRun(t, s, "customers", state.KindVerify)
	if err := s.RecordErrors(ctx, []state.RecordError{{RunID: v, Job: "customers", Stream: "customers", SourceKey: "c", Stage: state.StageAPI, Code: "q", Message: "q"}}); err != nil {
		t.Fatal(err)
	}
	r4 := startRun(t, s, "customers", state.KindRun)
	if n := record(r4, e("c", "q", 1)); n != 1 {
		t.Errorf("a failure of a row with a verify finding stored %d rows, want 1", n)
	}
	if left, _ := s.RunErrorsOf(ctx, r4, "customers", 5); left.New != 1 {
		t.Errorf("RunErrorsOf(r4) = %+v; want 1 new", left)
	}

	// Release.
	if _, err := s.Release(ctx, state.Release{Job: "customers", StuckAfter: 2}); err == nil {
		t.Error("Release of nothing selected: no error")
	}
	for _, tt := range []struct {
		rel  state.Release
		want int64
	}{
		{state.Release{Codes: []string{"nope"}}, 0},
		{state.Release{Keys: []string{"C-b"}}, 1},
		{state.Release{Keys: []string{"b"}}, 0}, // released already
		{state.Release{All: true}, 1},
	} {
		tt.rel.Job, tt.rel.StuckAfter = "customers", 2
		if n, err := s.Release(ctx, tt.rel); err != nil || n != tt.want {
			t.Errorf("Release(%+v) = %d, %v; want %d", tt.rel, n, err, tt.want)
		}
	}
	if stuck, err := s.StuckErrors(ctx, "customers", "customers", 2); err != nil || len(stuck) != 0 {
		t.Errorf("stuck after release: %+v, %v", stuck, err)
	}
	if open, err := s.OpenErrors(ctx, "customers", "customers", 2, 0, 0); err != nil || len(open) != 3 {
		t.Errorf("open after release: %+v, %v; want a, b, c retried again", open, err)
	}
	// A released row that fails again with new content starts over.
	r5 := startRun(t, s, "customers", state.KindRun)
	record(r5, e("a", "x", 3))
	var attempt int
	if err := db.Get(&attempt, `SELECT attempt FROM algoreg_etl.record_errors WHERE source_key = 'a' AND resolved_at IS NULL`); err != nil || attempt != 1 {
		t.Errorf("attempt after release and a new failure: %d, %v; want 1", attempt, err)
	}
}

func TestClaims(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	r1, r2 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "people", state.KindRun)
	got, err := s.Claim(ctx, r1, "customers", "customers", []string{"A", "B"}, []string{"1", "2"})
	if err != nil || got["A"] != "1" || got["B"] != "2" {
		t.Fatalf("first claims: %v, %v", got, err)
	}
	got, err = s.Claim(ctx, r1, "customers", "customers", []string{"A", "C"}, []string{"3", "4"})
	if err != nil || got["A"] != "1" || got["C"] != "4" {
		t.Errorf("claims after: %v, %v; want A kept by 1", got, err)
	}
	// Another run, another stream: apart.
	if got, _ := s.Claim(ctx, r2, "people", "customers", []string{"A"}, []string{"9"}); got["A"] != "9" {
		t.Errorf("claim of another run: %v", got)
	}
	if got, _ := s.Claim(ctx, r1, "customers", "relations", []string{"A"}, []string{"9"}); got["A"] != "9" {
		t.Errorf("claim of another stream: %v", got)
	}
	if err := s.ClearClaims(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(ctx, r1, "customers", "customers", []string{"A"}, []string{"5"}); got["A"] != "5" {
		t.Errorf("claim after the run's claims were cleared: %v", got)
	}
	if n := claimsOf(t, s, r2); n != 1 {
		t.Errorf("claims of another running run after the run's were cleared: %d, want 1", n)
	}
}

// claimsOf counts the claims that run holds.
func claimsOf(t *testing.T, s *state.Store, run int64) int {
	t.Helper()
	var n int
	if err := s.DB().Get(&n, `SELECT count(*) FROM algoreg_etl.run_claims WHERE run_id = $1`, run); err != nil {
		t.Fatal(err)
	}
	return n
}

// claimIDs claims n external ids in run.
func claimIDs(t *testing.T, s *state.Store, run int64, job string, n int) {
	t.Helper()
	ids, keys := make([]string, n), make([]string, n)
	for i := range ids {
		ids[i], keys[i] = fmt.Sprintf("C-%d", i), fmt.Sprint(i)
	}
	if _, err := s.Claim(context.Background(), run, job, "customers", ids, keys); err != nil {
		t.Fatal(err)
	}
}

// TestClearClaimsLeavesNoDeadRows checks that the claims of a run that
// ends leave nothing for the next run to read (the state server may never
// vacuum), while the claims of another job's run in progress stay.
func TestClearClaimsLeavesNoDeadRows(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	size := func() int64 {
		t.Helper()
		var n int64
		if err := s.DB().Get(&n, `SELECT pg_relation_size('algoreg_etl.run_claims')`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	backfill, other := startRun(t, s, "customers", state.KindBackfill), startRun(t, s, "people", state.KindRun)
	claimIDs(t, s, backfill, "customers", 5000)
	claimIDs(t, s, other, "people", 10)
	// Another run is running: only the backfill's claims go.
	if err := s.ClearClaims(ctx, backfill); err != nil {
		t.Fatal(err)
	}
	if n, m := claimsOf(t, s, backfill), claimsOf(t, s, other); n != 0 || m != 10 {
		t.Errorf("after the backfill's end: %d claims of it, %d of the other run; want 0 and 10", n, m)
	}
	for _, id := range []int64{backfill, other} {
		if err := s.FinishRun(ctx, id, state.StatusSucceeded, state.Counts{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The last run to end empties the table, dead rows included.
	run := startRun(t, s, "customers", state.KindRun)
	claimIDs(t, s, run, "customers", 10)
	if err := s.ClearClaims(ctx, run); err != nil {
		t.Fatal(err)
	}
	if n := size(); n != 0 {
		t.Errorf("run_claims holds %d bytes after the last run ended, want 0", n)
	}
	// A session that uses the table does not make the end of a run wait:
	// the run deletes its own claims.
	run = startRun(t, s, "customers", state.KindRun)
	claimIDs(t, s, run, "customers", 10)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT count(*) FROM algoreg_etl.run_claims`); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.ClearClaims(cctx, run); err != nil {
		t.Fatal(err)
	}
	if n := claimsOf(t, s, run); n != 0 {
		t.Errorf("%d claims of the run left while another session used the table, want 0", n)
	}
}

// TestAbandonRunsDropsClaims checks that the claims of a run whose
// process died go when the next run of its job closes it, and those of
// another job's run stay.
func TestAbandonRunsDropsClaims(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	killed, other := startRun(t, s, "customers", state.KindBackfill), startRun(t, s, "people", state.KindRun)
	claimIDs(t, s, killed, "customers", 100)
	claimIDs(t, s, other, "people", 10)
	if err := s.MarkSeen(ctx, killed, "customers", []string{"C-1", "C-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AbandonRuns(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	if n, m := claimsOf(t, s, killed), claimsOf(t, s, other); n != 0 || m != 10 {
		t.Errorf("after the killed run was closed: %d claims of it, %d of the other job's run; want 0 and 10", n, m)
	}
	var seen int
	if err := s.DB().Get(&seen, `SELECT count(*) FROM algoreg_etl.reconcile_seen WHERE run_id = $1`, killed); err != nil || seen != 0 {
		t.Errorf("marks of the killed run: %d, %v; want 0", seen, err)
	}
}

func TestTenants(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run := startRun(t, s, "people", state.KindRun)
	for job, tenant := range map[string]string{"people": "https://a.example", "firms": "https://a.example", "other": "https://b.example"} {
		if err := s.SetTenant(ctx, job, tenant); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.TenantJobs(ctx, "firms", "https://a.example")
	if err != nil || !slices.Equal(jobs, []string{"firms", "people"}) {
		t.Errorf("jobs of tenant a: %v, %v", jobs, err)
	}
	if jobs, _ := s.TenantJobs(ctx, "new", "https://c.example"); !slices.Equal(jobs, []string{"new"}) {
		t.Errorf("jobs of a new tenant: %v", jobs)
	}
	if _, err := s.Accept(ctx, run, "people", "customers", []state.SentRecord{{ExternalID: "P-1", Hash: hash16(1)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(ctx, run, "other", "customers", []state.SentRecord{{ExternalID: "O-1", Hash: hash16(1)}}); err != nil {
		t.Fatal(err)
	}
	have, err := s.Accepted(ctx, jobs, "customers", []string{"P-1", "O-1", "X"})
	if err != nil || len(have) != 1 || !have["P-1"] {
		t.Errorf("accepted through the jobs of tenant a: %v, %v; want P-1 only", have, err)
	}
}
