package state_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// TestQueriesUseIndexes checks, on tables of 100,000 rows, that the
// queries a run makes for every chunk read an index, not the whole table.
//
// The record errors are what months of nightly runs leave: most resolved,
// some warnings, a few hundred open, spread over several jobs.
func TestQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("fills tables of 100,000 rows")
	}
	ctx := context.Background()
	s, db := newStore(t)
	run := startRun(t, s, "customers", state.KindBackfill)
	for _, q := range []string{
		`INSERT INTO algoreg_etl.sent_records (job, stream, external_id, hash, delta, source_key, run_id)
		SELECT CASE WHEN i % 10 = 0 THEN 'people' ELSE 'customers' END, 'customers', 'C-' || i,
			decode(md5(i::text), 'hex'), jsonb_build_object('review_groups', jsonb_build_array('g' || i % 7)), i::text, $1
		FROM generate_series(1, 100000) AS i`,
		`INSERT INTO algoreg_etl.record_errors (run_id, job, stream, source_key, external_id, stage, severity, code, message,
			created_at, resolved_at, resolved_run_id)
		SELECT $1, CASE WHEN i % 4 = 0 THEN 'people' ELSE 'customers' END, CASE WHEN i % 5 = 0 THEN 'relations' ELSE 'customers' END,
			(i % 30000)::text, 'C-' || (i % 30000), 'api', CASE WHEN i % 9 = 0 THEN 'warning' ELSE 'error' END, 'invalid_date', 'not a date',
			now() - (i || ' minutes')::interval,
			CASE WHEN i % 30000 >= 300 THEN now() END, CASE WHEN i % 30000 >= 300 THEN $1::bigint END
		FROM generate_series(1, 100000) AS i`,
	} {
		if _, err := db.ExecContext(ctx, q, run); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	idsOf := func(n int) any { return pq.Array(numbered("C-", n)) }
	// Before any ANALYZE, as in a first backfill on a server whose
	// autovacuum has not caught up: Sent still reads by the key.
	if p := explain(t, db, false, s.SentQuery(), "customers", "customers", idsOf(500)); strings.Contains(p, "Seq Scan on sent_records") ||
		!strings.Contains(p, "Index Scan using sent_records_pkey") {
		t.Errorf("with stale statistics, Sent does not read by the key:\n%s", p)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE algoreg_etl.sent_records; ANALYZE algoreg_etl.record_errors`); err != nil {
		t.Fatal(err)
	}
	keysOf := func(n int) any { return pq.Array(numbered("", n)) }
	acceptArgs := func(n int) []any {
		hashes, deltas := make([][]byte, n), make([]string, n)
		for i := range hashes {
			hashes[i] = make([]byte, 16)
		}
		return []any{"customers", "customers", run, idsOf(n), pq.ByteaArray(hashes), pq.Array(deltas), keysOf(n), keysOf(n)}
	}
	// The pipeline asks about one chunk at a time (500 records by default);
	// Sent reads each id by the key however many there are.
	tests := []struct {
		name      string
		query     string
		args      []any
		noSeqScan bool   // plan with enable_seqscan off
		table     string // the big table that must not be read whole
		index     string // an index (or prefix of index names) the plan must use
	}{
		{"Sent of a chunk", s.SentQuery(), []any{"customers", "customers", idsOf(500)}, false, "sent_records", "sent_records_pkey"},
		{"Sent of 3000 ids", s.SentQuery(), []any{"customers", "customers", idsOf(3000)}, false, "sent_records", "sent_records_pkey"},
		{"OpenErrors", s.OpenErrorsQuery(), []any{"customers", "customers", 3, 500, 0}, false, "record_errors", "record_errors_open_source_key"},
		{"Accept of a chunk", s.AcceptQuery(), acceptArgs(500), false,
			"record_errors", "record_errors_open_"},
		{"RecordFailures of a chunk", "SELECT * FROM (" + s.LockOpenErrorsQuery() + ") AS q", []any{"customers", "customers", keysOf(500)}, false,
			"record_errors", "record_errors_open_source_key"},
		{"Accepted of a chunk", s.AcceptedQuery(), []any{pq.Array([]string{"customers", "people"}), "customers", idsOf(500)}, false,
			"sent_records", "sent_records_pkey"},
		// Few errors are open: the planner reads them all through either
		// partial index and filters them.
		{"Accept of 3000 records", s.AcceptQuery(), acceptArgs(3000), false,
			"record_errors", "record_errors_open_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := explain(t, db, tt.noSeqScan, tt.query, tt.args...)
			if strings.Contains(p, "Seq Scan on "+tt.table) || !strings.Contains(p, tt.index) {
				t.Errorf("plan does not read %s through index %s:\n%s", tt.table, tt.index, p)
			}
		})
	}
}

// numbered returns n strings: prefix followed by 1, 8, 15, ...
func numbered(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, 1+i*7)
	}
	return s
}

// explain returns the plan of query, each line cut to 160 characters so that
// array literals do not flood the log.
func explain(t *testing.T, db *sqltest.DB, noSeqScan bool, query string, args ...any) string {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if noSeqScan {
		if _, err := tx.Exec(`SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.Query("EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		if len(line) > 160 {
			line = line[:160] + "..."
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
