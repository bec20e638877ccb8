package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// fillHistory gives job customers runs runs that each sent perRun records,
// nine customers (C-1, C-2, ...) for one relation (R-n, from C-n to
// C-n+1): what months of nightly full runs leave. The first run added the
// customers; one in 50 records was refused, and its error resolved by the
// next run. sent_records holds every customer.
func fillHistory(tb testing.TB, db *sqltest.DB, runs, perRun int) {
	tb.Helper()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO algoreg_etl.runs (job, kind, status, started_at, finished_at, sent)
		SELECT 'customers', 'run', 'succeeded', now() - (i || ' days')::interval, now() - (i || ' days')::interval + interval '5 minutes', $2
		FROM generate_series($1, 1, -1) AS i`, []any{runs, perRun}},
		{`INSERT INTO algoreg_etl.record_history (run_id, job, stream, external_id, source_key, parent_external_id, child_external_id,
			hash, outcome, customer_id, disable_risk_scan, created_at)
		SELECT r.id, 'customers', CASE WHEN c % 10 = 0 THEN 'relations' ELSE 'customers' END,
			CASE WHEN c % 10 = 0 THEN 'R-' ELSE 'C-' END || c, c::text,
			CASE WHEN c % 10 = 0 THEN 'C-' || (c - 1) END, CASE WHEN c % 10 = 0 THEN 'C-' || (c + 1) END,
			decode(md5(r.id || '/' || c), 'hex'),
			CASE WHEN c % 50 = 1 THEN 'error' WHEN r.n = 1 AND c % 10 <> 0 THEN 'added' ELSE 'updated' END,
			CASE WHEN r.n = 1 AND c % 10 <> 0 AND c % 50 <> 1 THEN c::text END, r.n = 1, r.started_at
		FROM (SELECT id, started_at, row_number() OVER (ORDER BY id) AS n FROM algoreg_etl.runs) AS r, generate_series(1, $1) AS c`,
			[]any{perRun}},
		// Each error is resolved by the next run; those of the last run
		// are open.
		{`INSERT INTO algoreg_etl.record_errors (run_id, job, stream, source_key, external_id, stage, code, message, created_at,
			resolved_at, resolved_run_id)
		SELECT h.run_id, h.job, h.stream, h.source_key, h.external_id, 'api', 'invalid_value', 'refused', h.created_at,
			next.started_at, next.id
		FROM algoreg_etl.record_history AS h
		LEFT JOIN LATERAL (SELECT id, started_at FROM algoreg_etl.runs WHERE id > h.run_id ORDER BY id LIMIT 1) AS next ON true
		WHERE h.outcome = 'error'`, nil},
		{`INSERT INTO algoreg_etl.sent_records (job, stream, external_id, hash, source_key, run_id, sent_at)
		SELECT DISTINCT ON (stream, external_id) job, stream, external_id, hash, source_key, run_id, created_at
		FROM algoreg_etl.record_history ORDER BY stream, external_id, id DESC`, nil},
		{`ANALYZE algoreg_etl.runs`, nil},
		{`ANALYZE algoreg_etl.record_history`, nil},
		{`ANALYZE algoreg_etl.record_errors`, nil},
		{`ANALYZE algoreg_etl.sent_records`, nil},
	} {
		if _, err := db.Exec(q.sql, q.args...); err != nil {
			tb.Fatalf("%.70s: %v", q.sql, err)
		}
	}
}

// TestReportQueriesUseIndexes checks, on 100,000 history rows, that the
// queries of `report customer` read the indexes of one customer and never
// a whole table but runs.
func TestReportQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a history of 100,000 rows")
	}
	s, db := newStore(t)
	fillHistory(t, db, 10, 10000)
	queries := s.CustomerReportQueries()
	tests := []struct {
		query   string
		indexes []string
	}{
		{"history", []string{"record_history_external_id"}},
		{"relations", []string{"record_history_parent", "record_history_child"}},
		{"errors", []string{"record_errors_job_external_id"}},
		{"sync", []string{"sent_records_pkey", "record_history_external_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			p := explain(t, db, false, queries[tt.query], "C-4321")
			for _, table := range []string{"record_history", "record_errors", "sent_records", "run_chunks"} {
				if strings.Contains(p, "Seq Scan on "+table) {
					t.Errorf("plan reads %s whole:\n%s", table, p)
				}
			}
			for _, index := range tt.indexes {
				if !strings.Contains(p, index) {
					t.Errorf("plan does not use index %s:\n%s", index, p)
				}
			}
		})
	}
}

// BenchmarkCustomerReport times `report customer X` on a history of a
// million rows: 10 nightly runs of 100,000 records each. Filling it takes
// a while, once.
//
//	go test -run '^$' -bench CustomerReport -benchtime 200x ./state/
func BenchmarkCustomerReport(b *testing.B) {
	ctx := context.Background()
	s, db := newStore(b)
	start := time.Now()
	fillHistory(b, db, 10, 100000)
	var rows int
	if err := db.Get(&rows, `SELECT count(*) FROM algoreg_etl.record_history`); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d history rows filled in %v", rows, time.Since(start).Round(time.Millisecond))
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		c := 1 + rng.IntN(100000)
		if c%10 == 0 {
			c++
		}
		rep, err := s.CustomerReport(ctx, fmt.Sprintf("C-%d", c))
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Events) != 10 || len(rep.Sync) != 1 {
			b.Fatalf("C-%d: %d events, %d sync rows; want 10 and 1", c, len(rep.Events), len(rep.Sync))
		}
	}
}

// BenchmarkRecordHistory measures what the audit trail adds to a chunk of
// 500 records: one RecordHistory call, with and without payloads, next to
// the Accept every chunk already makes.
//
//	go test -run '^$' -bench 'RecordHistory' -benchtime 200x ./state/
func BenchmarkRecordHistory(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	const n = 500
	payload := json.RawMessage(`{"external_id":"C-1","account_type":"N","first_name":"Anna","last_name":"Meier","date_of_birth":"1980-04-12","nationality_codes":["CH"],"fields":{"segment":"retail","branch":"ZH-01"}}`)
	chunk := func(payloads bool, round int) state.ChunkHistory {
		h := state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers", StartedAt: time.Now(), Duration: time.Second, Calls: 1,
			Records: make([]state.HistoryRecord, n)}
		for i := range h.Records {
			id := round*n + i
			h.Records[i] = state.HistoryRecord{ExternalID: fmt.Sprintf("C-%d", id), SourceKey: fmt.Sprint(id),
				Hash: hash16(byte(i)), Outcome: state.OutcomeUpdated}
			if payloads {
				h.Records[i].Payload = payload
			}
		}
		return h
	}
	for _, payloads := range []bool{false, true} {
		b.Run(fmt.Sprintf("payloads=%v", payloads), func(b *testing.B) {
			round := 0
			for b.Loop() {
				round++
				if err := s.RecordHistory(ctx, chunk(payloads, round)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("Accept for comparison", func(b *testing.B) {
		round := 0
		for b.Loop() {
			round++
			h := chunk(false, round)
			recs := make([]state.SentRecord, n)
			for i, r := range h.Records {
				recs[i] = state.SentRecord{ExternalID: r.ExternalID, SourceKey: r.SourceKey, Hash: r.Hash}
			}
			if _, err := s.Accept(ctx, run, "customers", "customers", recs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
