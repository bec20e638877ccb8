package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestRecordHistory(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	run := startRun(t, s, "customers", state.KindRun)
	start := time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)
	chunk := state.ChunkHistory{
		RunID: run, Job: "customers", Stream: "customers", Chunk: 3, Retry: true, DisableRiskScan: true,
		StartedAt: start, Duration: 1500 * time.Millisecond, Calls: 4, Retries: 2,
		Records: []state.HistoryRecord{
			{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1), Outcome: state.OutcomeAdded, CustomerID: "901",
				Payload: json.RawMessage(`{"external_id": "C-1", "last_name": "Meier"}`)},
			{ExternalID: "C-2", SourceKey: "2", Hash: hash16(2), Outcome: state.OutcomeUpdated, Warnings: 2},
			{ExternalID: "C-3", Hash: hash16(3), Outcome: state.OutcomeError},
		},
	}
	if err := s.RecordHistory(ctx, chunk); err != nil {
		t.Fatal(err)
	}

	type row struct {
		RunID      int64   `db:"run_id"`
		Job        string  `db:"job"`
		Stream     string  `db:"stream"`
		ExternalID string  `db:"external_id"`
		SourceKey  *string `db:"source_key"`
		Hash       []byte  `db:"hash"`
		Outcome    string  `db:"outcome"`
		Warnings   int     `db:"warnings"`
		CustomerID *string `db:"customer_id"`
		Risk       bool    `db:"disable_risk_scan"`
		LastName   *string `db:"last_name"`
	}
	var rows []row
	if err := db.Select(&rows, `SELECT run_id, job, stream, external_id, source_key, hash, outcome, warnings, customer_id,
		disable_risk_scan, payload->>'last_name' AS last_name FROM algoreg_etl.record_history ORDER BY external_id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows in record_history, want 3", len(rows))
	}
	str := func(p *string) string {
		if p == nil {
			return "NULL"
		}
		return *p
	}
	want := []string{
		"C-1 1 added 0 901 Meier",
		"C-2 2 updated 2 NULL NULL",
		"C-3 NULL error 0 NULL NULL",
	}
	for i, r := range rows {
		got := fmt.Sprintf("%s %s %s %d %s %s", r.ExternalID, str(r.SourceKey), r.Outcome, r.Warnings, str(r.CustomerID), str(r.LastName))
		if got != want[i] {
			t.Errorf("row %d: %s, want %s", i, got, want[i])
		}
		if r.RunID != run || r.Job != "customers" || r.Stream != "customers" || !r.Risk || r.Hash[0] != byte(i+1) || len(r.Hash) != 16 {
			t.Errorf("row %d: run %d job %s stream %s disable_risk_scan %v hash %x", i, r.RunID, r.Job, r.Stream, r.Risk, r.Hash)
		}
	}

	var c struct {
		Records, Added, Updated, Errors, Warnings, Calls, Retries, Chunk int
		Retry, Risk                                                      bool
		Started                                                          time.Time
		Millis                                                           float64
	}
	err := db.QueryRow(`SELECT records, added, updated, errors, warnings, calls, retries, chunk, retry, disable_risk_scan,
		started_at, extract(epoch FROM duration) * 1000 FROM algoreg_etl.run_chunks WHERE run_id = $1`, run).
		Scan(&c.Records, &c.Added, &c.Updated, &c.Errors, &c.Warnings, &c.Calls, &c.Retries, &c.Chunk, &c.Retry, &c.Risk, &c.Started, &c.Millis)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Records, c.Added, c.Updated, c.Errors, c.Warnings, c.Calls, c.Retries, c.Chunk, c.Retry, c.Risk); got != "3 1 1 1 2 4 2 3 true true" {
		t.Errorf("run_chunks: records added updated errors warnings calls retries chunk retry risk = %s", got)
	}
	if !c.Started.Equal(start) || c.Millis != 1500 {
		t.Errorf("run_chunks: started %v, %v ms; want %v, 1500 ms", c.Started, c.Millis, start)
	}
}

func TestRecordHistoryRefusesBadRecords(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	run := startRun(t, s, "customers", state.KindRun)
	good := state.HistoryRecord{ExternalID: "C-1", Hash: hash16(1), Outcome: state.OutcomeUpdated}
	tests := []struct {
		name string
		bad  state.HistoryRecord
	}{
		{"no external id", state.HistoryRecord{Hash: hash16(2), Outcome: state.OutcomeAdded}},
		{"short hash", state.HistoryRecord{ExternalID: "C-2", Hash: []byte{1, 2}, Outcome: state.OutcomeAdded}},
		{"unknown outcome", state.HistoryRecord{ExternalID: "C-2", Hash: hash16(2), Outcome: "skipped"}},
		{"no outcome", state.HistoryRecord{ExternalID: "C-2", Hash: hash16(2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RecordHistory(ctx, state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers",
				Records: []state.HistoryRecord{good, tt.bad}})
			if err == nil {
				t.Fatal("RecordHistory accepted the chunk")
			}
			t.Log(err)
		})
	}
	// Nothing of the refused chunks was written; an empty chunk writes
	// nothing either.
	if err := s.RecordHistory(ctx, state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers"}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.Get(&n, `SELECT (SELECT count(*) FROM algoreg_etl.record_history) + (SELECT count(*) FROM algoreg_etl.run_chunks)`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d rows written", n)
	}
}

// TestAuditSchemaIsDocumented: every table and view of the state schema
// has a comment, so that a BI tool or an auditor can read what it holds.
func TestAuditSchemaIsDocumented(t *testing.T) {
	_, db := newStore(t)
	var missing []string
	err := db.Select(&missing, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1`, state.DefaultSchema)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("tables and views without a comment: %v", missing)
	}
	var views []string
	if err := db.Select(&views, `SELECT viewname FROM pg_views WHERE schemaname = $1 ORDER BY 1`, state.DefaultSchema); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(views); got != "[customer_last_sync daily_counts open_errors_by_code run_summary]" {
		t.Errorf("views: %s", got)
	}
}

// TestRecordHistoryOfPlainChunks checks the chunks most runs send: customers
// sent again (no parent, child, customer_id, warnings or payload in the whole
// chunk) and relations, which have a parent and a child but no customer_id.
// Each record is stored, with 0 warnings and NULL for what it lacks.
func TestRecordHistoryOfPlainChunks(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	run := startRun(t, s, "customers", state.KindBackfill)
	for _, c := range []state.ChunkHistory{
		{RunID: run, Job: "customers", Stream: "customers", StartedAt: time.Now(), Calls: 1, Records: []state.HistoryRecord{
			{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1), Outcome: state.OutcomeUpdated},
			{ExternalID: "C-2", SourceKey: "2", Hash: hash16(2), Outcome: state.OutcomeUpdated},
		}},
		{RunID: run, Job: "customers", Stream: "relations", StartedAt: time.Now(), Calls: 1, Records: []state.HistoryRecord{
			{ExternalID: "R-1", SourceKey: "r1", ParentExternalID: "C-1", ChildExternalID: "C-2", Hash: hash16(3), Outcome: state.OutcomeUpdated},
			{ExternalID: "R-2", SourceKey: "r2", ParentExternalID: "C-2", ChildExternalID: "C-1", Hash: hash16(4), Outcome: state.OutcomeError},
		}},
	} {
		if err := s.RecordHistory(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := db.Select(&got, `SELECT concat_ws(' ', stream, external_id, source_key, coalesce(parent_external_id, 'NULL'),
			coalesce(child_external_id, 'NULL'), outcome, warnings, coalesce(customer_id, 'NULL'), coalesce(payload::text, 'NULL'))
		FROM algoreg_etl.record_history ORDER BY external_id`); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"customers C-1 1 NULL NULL updated 0 NULL NULL",
		"customers C-2 2 NULL NULL updated 0 NULL NULL",
		"relations R-1 r1 C-1 C-2 updated 0 NULL NULL",
		"relations R-2 r2 C-2 C-1 error 0 NULL NULL",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("record_history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
