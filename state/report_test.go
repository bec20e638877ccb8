package state_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// audited is the state after three runs of job customers and one of job
// people, as the pipeline would leave it:
//
//	run1 (run): C-1 added, C-2 updated with a warning, C-3 refused
//	     (invalid_date), C-4 invalid before sending; relation R-1 of C-1
//	     and C-2 accepted
//	run2 (run): C-3 accepted (resolving its error), C-4 invalid again
//	run3 (verify): C-1 would be added; C-9 would be refused
//	other (run of job people): P-1 added
type audited struct {
	s                       *state.Store
	db                      *sqltest.DB
	run1, run2, run3, other int64
}

func newAudited(t *testing.T) *audited {
	t.Helper()
	ctx := context.Background()
	s, db := newStore(t)
	a := &audited{s: s, db: db}
	a.run1 = startRun(t, s, "customers", state.KindRun)
	a.run2 = startRun(t, s, "customers", state.KindRun)
	a.run3 = startRun(t, s, "customers", state.KindVerify)
	a.other = startRun(t, s, "people", state.KindRun)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	chunk := func(run int64, job, stream string, n int, took time.Duration, recs ...state.HistoryRecord) {
		t.Helper()
		check(s.RecordHistory(ctx, state.ChunkHistory{RunID: run, Job: job, Stream: stream, Chunk: n, StartedAt: time.Now(),
			Duration: took, Calls: 1 + n, DisableRiskScan: run == a.run2, Records: recs}))
	}
	rec := func(id, key string, h byte, outcome string) state.HistoryRecord {
		return state.HistoryRecord{ExternalID: id, SourceKey: key, Hash: hash16(h), Outcome: outcome}
	}
	recErr := func(run int64, id, key, stage, severity, code, field, msg string) state.RecordError {
		return state.RecordError{RunID: run, Job: "customers", Stream: "customers", ExternalID: id, SourceKey: key,
			Stage: stage, Severity: severity, Code: code, Field: field, Message: msg}
	}

	// run1
	added := rec("C-1", "1", 1, state.OutcomeAdded)
	added.CustomerID = "101"
	warned := rec("C-2", "2", 2, state.OutcomeUpdated)
	warned.Warnings = 1
	chunk(a.run1, "customers", "customers", 0, 40*time.Millisecond, added, warned)
	chunk(a.run1, "customers", "customers", 1, 90*time.Millisecond, rec("C-3", "3", 3, state.OutcomeError))
	rel := rec("R-1", "r1", 9, state.OutcomeUpdated)
	rel.ParentExternalID, rel.ChildExternalID = "C-1", "C-2"
	chunk(a.run1, "customers", "relations", 0, 10*time.Millisecond, rel)
	check(s.RecordErrors(ctx, []state.RecordError{
		recErr(a.run1, "C-2", "2", state.StageAPI, state.SeverityWarning, "missing_date_of_birth", "", "no date_of_birth"),
		recErr(a.run1, "C-3", "3", state.StageAPI, state.SeverityError, "invalid_date", "date_of_birth", `date_of_birth "1990-02-30": not a date`),
		recErr(a.run1, "C-4", "4", state.StageTransform, state.SeverityError, "date_in_future", "date_of_birth", `date_of_birth "2999-01-01": date in the future`),
	}))
	_, err := s.Accept(ctx, a.run1, "customers", "customers", []state.SentRecord{
		{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1)}, {ExternalID: "C-2", SourceKey: "2", Hash: hash16(2)}})
	check(err)
	_, err = s.Accept(ctx, a.run1, "customers", "relations", []state.SentRecord{{ExternalID: "R-1", SourceKey: "r1", Hash: hash16(9)}})
	check(err)
	check(s.FinishRun(ctx, a.run1, state.StatusPartial, state.Counts{Extracted: 4, Sent: 3, Added: 1, Invalid: 1, Rejected: 1, Warnings: 1}, ""))

	// run2
	chunk(a.run2, "customers", "customers", 0, 20*time.Millisecond, rec("C-3", "3", 33, state.OutcomeUpdated))
	// C-4 fails again, unchanged: the same open error, met again.
	_, err = s.RecordFailures(ctx, a.run2, "customers", "customers", []state.RecordError{
		recErr(a.run2, "C-4", "4", state.StageTransform, state.SeverityError, "date_in_future", "date_of_birth", `date_of_birth "2999-01-01": date in the future`),
	})
	check(err)
	_, err = s.Accept(ctx, a.run2, "customers", "customers", []state.SentRecord{{ExternalID: "C-3", SourceKey: "3", Hash: hash16(33)}})
	check(err)
	check(s.FinishRun(ctx, a.run2, state.StatusPartial, state.Counts{Extracted: 2, Sent: 1, Invalid: 1, Resolved: 1}, ""))

	// run3, a verify run
	verified := rec("C-1", "1", 11, state.OutcomeAdded)
	verified.CustomerID = "0"
	chunk(a.run3, "customers", "customers", 0, 5*time.Millisecond, verified, rec("C-9", "9", 99, state.OutcomeError))
	check(s.RecordErrors(ctx, []state.RecordError{
		recErr(a.run3, "C-9", "9", state.StageAPI, state.SeverityError, "invalid_value", "nationality_codes", "bad"),
	}))
	check(s.FinishRun(ctx, a.run3, state.StatusPartial, state.Counts{Extracted: 2, Sent: 1, Added: 1, Rejected: 1}, ""))

	// other job
	p := rec("P-1", "1", 7, state.OutcomeAdded)
	p.CustomerID = "555"
	chunk(a.other, "people", "customers", 0, 1*time.Millisecond, p)
	_, err = s.Accept(ctx, a.other, "people", "customers", []state.SentRecord{{ExternalID: "P-1", SourceKey: "1", Hash: hash16(7)}})
	check(err)
	check(s.FinishRun(ctx, a.other, state.StatusSucceeded, state.Counts{Extracted: 1, Sent: 1, Added: 1}, ""))
	return a
}

func TestRunSummaries(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	runs, err := a.s.RunSummaries(ctx, state.RunFilter{Job: "customers"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, fmt.Sprintf("%d %s dry=%v %s sent=%d added=%d updated=%d would=%d open=%d chunks=%d calls=%d slowest=%v",
			r.ID, r.Kind, r.DryRun, r.Status, r.Sent, r.Added, r.Updated, r.WouldSend, r.OpenErrors, r.Chunks, r.Calls, r.SlowestChunk))
	}
	want := []string{
		// A verify run is a dry run: the API kept nothing.
		fmt.Sprintf("%d verify dry=true partial sent=0 added=0 updated=0 would=1 open=1 chunks=1 calls=1 slowest=5ms", a.run3),
		fmt.Sprintf("%d run dry=false partial sent=1 added=0 updated=1 would=0 open=1 chunks=1 calls=1 slowest=20ms", a.run2),
		// C-3's error was resolved by run2; C-4's of run1 is still open.
		fmt.Sprintf("%d run dry=false partial sent=3 added=1 updated=2 would=0 open=1 chunks=3 calls=4 slowest=90ms", a.run1),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("run summaries:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, r := range runs {
		if r.FinishedAt == nil || r.Duration < 0 || r.Duration != r.FinishedAt.Sub(r.StartedAt).Truncate(time.Microsecond) {
			t.Errorf("run %d: started %v, finished %v, duration %v", r.ID, r.StartedAt, r.FinishedAt, r.Duration)
		}
	}

	for _, tt := range []struct {
		name string
		f    state.RunFilter
		want int
	}{
		{"every job", state.RunFilter{}, 4},
		{"limit", state.RunFilter{Limit: 2}, 2},
		{"one run", state.RunFilter{ID: a.run2}, 1},
		{"since the future", state.RunFilter{Since: time.Now().Add(time.Hour)}, 0},
		{"since an hour ago", state.RunFilter{Since: time.Now().Add(-time.Hour), Job: "people"}, 1},
	} {
		runs, err := a.s.RunSummaries(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != tt.want {
			t.Errorf("%s: %d runs, want %d", tt.name, len(runs), tt.want)
		}
	}
}

func TestRunReport(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	rep, err := a.s.RunReport(ctx, a.run1, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, g := range rep.Errors {
		groups = append(groups, fmt.Sprintf("%s/%s/%s/%s errors=%d open=%d examples=%d:%s:%s", g.Stream, g.Stage, g.Severity, g.Code,
			g.Errors, g.Open, len(g.Examples), g.Examples[0].ExternalID, g.Examples[0].Field))
	}
	// As frequent as each other: by stream, severity and code.
	want := "customers/transform/error/date_in_future errors=1 open=1 examples=1:C-4:date_of_birth\n" +
		"customers/api/error/invalid_date errors=1 open=0 examples=1:C-3:date_of_birth\n" +
		"customers/api/warning/missing_date_of_birth errors=1 open=0 examples=1:C-2:"
	if got := strings.Join(groups, "\n"); got != want {
		t.Errorf("error groups:\n%s\nwant\n%s", got, want)
	}
	var chunks []string
	for _, c := range rep.SlowestChunks {
		chunks = append(chunks, fmt.Sprintf("%s#%d %v records=%d errors=%d", c.Stream, c.Chunk, c.Duration, c.Records, c.Errors))
	}
	if got := strings.Join(chunks, ", "); got != "customers#1 90ms records=1 errors=1, customers#0 40ms records=2 errors=0" {
		t.Errorf("slowest chunks: %s", got)
	}
	if rep.Run.ID != a.run1 || rep.Run.Extracted != 4 {
		t.Errorf("run: %+v", rep.Run)
	}
	if _, err := a.s.RunReport(ctx, 999999, 3, 3); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("report of a run that does not exist: %v", err)
	}
}

func TestErrorLines(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	line := func(l state.ErrorLine) string {
		s := fmt.Sprintf("%s %s %s/%s attempts=%d open=%v", l.ExternalID, l.SourceKey, l.Severity, l.Code, l.Attempts, l.Open)
		if l.ResolvedAt != nil {
			s += fmt.Sprintf(" resolved_by=%d", l.ResolvedRunID)
		}
		if l.Stuck {
			s += " stuck"
		}
		return s
	}
	tests := []struct {
		name string
		f    state.ErrorFilter
		want []string
	}{
		{"open", state.ErrorFilter{Open: true}, []string{"C-4 4 error/date_in_future attempts=1 open=true"}},
		{"all, by key", state.ErrorFilter{Job: "customers"}, []string{
			"C-2 2 warning/missing_date_of_birth attempts=1 open=false",
			"C-3 3 error/invalid_date attempts=1 open=false resolved_by=" + fmt.Sprint(a.run2),
			"C-4 4 error/date_in_future attempts=1 open=true",
		}},
		// The limit keeps the latest seen.
		{"limit", state.ErrorFilter{Limit: 1}, []string{"C-4 4 error/date_in_future attempts=1 open=true"}},
		{"stuck", state.ErrorFilter{Open: true, StuckAfter: map[string]int{"customers": 1}}, []string{"C-4 4 error/date_in_future attempts=1 open=true stuck"}},
		{"stuck by default", state.ErrorFilter{Open: true, DefaultStuckAfter: 1}, []string{"C-4 4 error/date_in_future attempts=1 open=true stuck"}},
		{"not stuck", state.ErrorFilter{Open: true, StuckAfter: map[string]int{"customers": 2}, DefaultStuckAfter: 1}, []string{"C-4 4 error/date_in_future attempts=1 open=true"}},
		{"another job", state.ErrorFilter{Job: "people"}, nil},
		{"since the future", state.ErrorFilter{Since: time.Now().Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, err := a.s.ErrorLines(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range lines {
				got = append(got, line(l))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("lines:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	lines, err := a.s.ErrorLines(ctx, state.ErrorFilter{Open: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := lines[0]; l.Field != "date_of_birth" || l.Stage != state.StageTransform || l.LastRunID != a.run2 || !l.FirstSeen.Before(l.LastSeen) {
		t.Errorf("open line: %+v", l)
	}

	codes, err := a.s.OpenErrorsByCode(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 1 || fmt.Sprintln(codes[0].Code, codes[0].Records, codes[0].Errors, codes[0].Runs, codes[0].ExampleExternalID) != "date_in_future 1 1 2 C-4\n" {
		t.Errorf("open errors by code: %+v", codes)
	}
}

func TestCustomerReport(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	event := func(e state.CustomerEvent) string {
		s := fmt.Sprintf("run%d %s %s", e.RunID, e.Kind, e.Outcome)
		if e.CustomerID != "" {
			s += " id=" + e.CustomerID
		}
		if e.Warnings > 0 {
			s += fmt.Sprintf(" warnings=%d", e.Warnings)
		}
		if e.RelationExternalID != "" {
			s += " " + e.RelationExternalID + ":" + e.ParentExternalID + "->" + e.ChildExternalID
		}
		for _, p := range e.Problems {
			s += fmt.Sprintf(" [%s %s open=%v]", p.Severity, p.Code, p.Open)
		}
		return s
	}
	r := func(id int64) string { return fmt.Sprintf("run%d", id) }
	tests := []struct {
		id        string
		sync      string
		events    []string
		relations []string
	}{
		{"C-1", "customers id=101 last=added run=" + r(a.run1),
			[]string{r(a.run1) + " run added id=101", r(a.run3) + " verify added id=0"},
			[]string{r(a.run1) + " run updated R-1:C-1->C-2"}},
		{"C-2", "customers id= last=updated run=" + r(a.run1),
			[]string{r(a.run1) + " run updated warnings=1 [warning missing_date_of_birth open=false]"},
			[]string{r(a.run1) + " run updated R-1:C-1->C-2"}},
		{"C-3", "customers id= last=updated run=" + r(a.run2),
			[]string{r(a.run1) + " run error [error invalid_date open=false]", r(a.run2) + " run updated"}, nil},
		{"C-4", "",
			[]string{r(a.run1) + " run transform [error date_in_future open=true]", r(a.run2) + " run transform [error date_in_future open=true]"}, nil},
		{"P-1", "people id=555 last=added run=" + r(a.other), []string{r(a.other) + " run added id=555"}, nil},
		{"nobody", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			rep, err := a.s.CustomerReport(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			var sync []string
			for _, s := range rep.Sync {
				sync = append(sync, fmt.Sprintf("%s id=%s last=%s run=run%d", s.Job, s.CustomerID, s.LastOutcome, s.LastSentRunID))
			}
			if got := strings.Join(sync, "; "); got != tt.sync {
				t.Errorf("sync: %s, want %s", got, tt.sync)
			}
			var events, relations []string
			for _, e := range rep.Events {
				events = append(events, event(e))
			}
			for _, e := range rep.Relations {
				relations = append(relations, event(e))
			}
			if strings.Join(events, "\n") != strings.Join(tt.events, "\n") {
				t.Errorf("events:\n%s\nwant\n%s", strings.Join(events, "\n"), strings.Join(tt.events, "\n"))
			}
			if strings.Join(relations, "\n") != strings.Join(tt.relations, "\n") {
				t.Errorf("relations:\n%s\nwant\n%s", strings.Join(relations, "\n"), strings.Join(tt.relations, "\n"))
			}
		})
	}
}

func TestDailyCounts(t *testing.T) {
	ctx := context.Background()
	a := newAudited(t)
	// run1 ran two days ago.
	if _, err := a.db.Exec(`UPDATE algoreg_etl.runs SET started_at = started_at - interval '2 days' WHERE id = $1`, a.run1); err != nil {
		t.Fatal(err)
	}
	days, err := a.s.DailyCounts(ctx, "customers", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var got []string
	for _, d := range days {
		got = append(got, fmt.Sprintf("-%dd %s dry=%v runs=%d sent=%d added=%d updated=%d would=%d invalid=%d rejected=%d", int(today.Sub(d.Day).Hours()/24),
			d.Kind, d.DryRun, d.Runs, d.Sent, d.Added, d.Updated, d.WouldSend, d.Invalid, d.Rejected))
	}
	want := "-2d run dry=false runs=1 sent=3 added=1 updated=2 would=0 invalid=1 rejected=1\n" +
		"-0d run dry=false runs=1 sent=1 added=0 updated=1 would=0 invalid=1 rejected=0\n" +
		"-0d verify dry=true runs=1 sent=0 added=0 updated=0 would=1 invalid=0 rejected=1"
	if strings.Join(got, "\n") != want {
		t.Errorf("daily counts:\n%s\nwant\n%s", strings.Join(got, "\n"), want)
	}
	days, err = a.s.DailyCounts(ctx, "", today)
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 3 { // customers run and verify, people run
		t.Errorf("since today: %d rows, want 3: %+v", len(days), days)
	}
}
