package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

func exampleQuery(t *testing.T) Query {
	t.Helper()
	q, err := etlsql.Example("customers.sql")
	if err != nil {
		t.Fatal(err)
	}
	return Query{SQL: q}
}

func readAll(t *testing.T, db *sqlx.DB, q Query, w Window, pageSize int) []Row {
	t.Helper()
	var rows []Row
	err := Read(context.Background(), db, q, w, Options{PageSize: pageSize}, func(r Row) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func refs(rows []Row) []string {
	var out []string
	for _, r := range rows {
		v, _ := r.Get("external_id")
		out = append(out, v.(string))
	}
	return out
}

// Rows that share one updated_at across page boundaries arrive exactly once,
// and a window that starts in the middle of such a group resumes after its
// position.
func TestReadEqualTimestampsAcrossPages(t *testing.T) {
	db := sqltest.NewDB(t)
	same := time.Date(2025, 3, 1, 9, 0, 0, 123456000, time.UTC)
	for i := 1; i <= 7; i++ {
		mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES ($1, 'person', 'Doe', $2)`,
			fmt.Sprintf("C-%d", i), same)
	}
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES ('C-early', 'person', 'Doe', $1)`, same.Add(-time.Microsecond))
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES ('C-late', 'person', 'Doe', $1)`, same.Add(time.Microsecond))

	q := exampleQuery(t)
	w := Window{Until: same}
	for _, pageSize := range []int{1, 2, 3, 7, 100} {
		got := refs(readAll(t, db.DB, q, w, pageSize))
		want := []string{"C-early", "C-1", "C-2", "C-3", "C-4", "C-5", "C-6", "C-7"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("page size %d: got %v, want %v", pageSize, got, want)
		}
	}

	// Resume after the third row of the group.
	all := readAll(t, db.DB, q, Window{Until: same.Add(time.Hour)}, 2)
	got := refs(readAll(t, db.DB, q, Window{After: all[3].Pos, Until: same.Add(time.Hour)}, 2))
	want := []string{"C-4", "C-5", "C-6", "C-7", "C-late"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resumed after %v: got %v, want %v", all[3].Pos, got, want)
	}
	// A position without a key starts with every row of its instant.
	got = refs(readAll(t, db.DB, q, Window{After: Position{UpdatedAt: same}, Until: same.Add(time.Hour)}, 2))
	want = []string{"C-1", "C-2", "C-3", "C-4", "C-5", "C-6", "C-7", "C-late"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("since %v: got %v, want %v", same, got, want)
	}
	if !all[1].Pos.UpdatedAt.Equal(same) {
		t.Errorf("position %v lost precision; want %v", all[1].Pos.UpdatedAt, same)
	}
}

// Options.Page sees every page of a read: where it starts, its rows and
// its last row, the last page short.
func TestReadReportsPages(t *testing.T) {
	db := sqltest.NewDB(t)
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES ($1, 'person', 'Doe', $2)`,
			fmt.Sprintf("C-%d", i), at)
	}
	var pages []Page
	var rows []Row
	err := Read(context.Background(), db.DB, exampleQuery(t), Window{Until: at}, Options{PageSize: 2, Page: func(p Page) { pages = append(pages, p) }},
		func(r Row) error { rows = append(rows, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 3 || pages[0].Rows != 2 || pages[1].Rows != 2 || pages[2].Rows != 1 {
		t.Fatalf("pages %+v, want 2, 2 and 1 rows", pages)
	}
	if !pages[0].After.UpdatedAt.IsZero() || pages[1].After != rows[1].Pos || pages[2].Last != rows[4].Pos || pages[2].Took <= 0 {
		t.Errorf("pages %+v of rows at %v", pages, rows)
	}
}

// A session TimeZone other than UTC shifts neither a timestamptz cursor nor
// a timestamp (without time zone) cursor read in its configured Location.
func TestReadNonUTCSession(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `ALTER DATABASE `+db.Name+` SET timezone TO 'Asia/Kathmandu'`)
	mustExec(t, db.DB, `CREATE TABLE events (id int PRIMARY KEY, ref text, at_tz timestamptz, at_naive timestamp)`)
	session, err := sqlx.Open("postgres", db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	var tz string
	if err := session.Get(&tz, `SHOW timezone`); err != nil || tz != "Asia/Kathmandu" {
		t.Fatalf("session time zone %q, %v", tz, err)
	}

	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	until := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	// Three rows: one a microsecond before the window's end, one exactly at
	// it, one a microsecond after. The naive column holds Zurich wall clocks.
	for i, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond} {
		at := until.Add(d)
		wall := at.In(zurich).Format("2006-01-02 15:04:05.999999")
		mustExec(t, session, `INSERT INTO events VALUES ($1, $2, $3, $4::timestamp)`, i, fmt.Sprintf("E-%d", i), at, wall)
	}

	for _, col := range []string{"at_tz", "at_naive"} {
		q := Query{SQL: `SELECT ` + col + ` AS cursor_updated_at, id AS cursor_key, ref AS external_id FROM events`, Location: zurich}
		rows := readAll(t, session, q, Window{Until: until}, 1)
		if got := refs(rows); !reflect.DeepEqual(got, []string{"E-0", "E-1"}) {
			t.Errorf("%s: got %v, want E-0 and E-1", col, got)
			continue
		}
		if !rows[1].Pos.UpdatedAt.Equal(until) {
			t.Errorf("%s: position %v, want %v", col, rows[1].Pos.UpdatedAt, until)
		}
		rest := refs(readAll(t, session, q, Window{After: rows[0].Pos, Until: until.Add(time.Second)}, 1))
		if !reflect.DeepEqual(rest, []string{"E-1", "E-2"}) {
			t.Errorf("%s: after %v got %v", col, rows[0].Pos, rest)
		}
	}
}

// Every column type the example query uses arrives as the documented Go type.
func TestReadValues(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, residence_country, risk_tier, attributes, closed_at)
		VALUES ('C-1', 'person', 'Zoë', 'Ångström', '1980-02-29', 'CH', 2, '{"segment":"retail"}', now())`)
	mustExec(t, db.DB, `INSERT INTO client_nationalities (client_id, country) SELECT id, c FROM clients, unnest(ARRAY['SE','CH']) c`)
	rows := readAll(t, db.DB, exampleQuery(t), Window{Until: time.Now().Add(time.Hour)}, 10)
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	want := map[string]any{
		"external_id":       "C-1",
		"account_type":      "person",
		"first_name":        "Zoë",
		"middle_name":       nil,
		"last_name":         "Ångström",
		"date_of_birth":     time.Date(1980, 2, 29, 0, 0, 0, 0, time.UTC),
		"nationality_codes": []string{"CH", "SE"},
		"domicile_codes":    []string{"CH"},
		"kyc_level":         int64(2),
		"disabled":          true,
		"fields":            json.RawMessage(`{"segment": "retail"}`),
	}
	checkValues(t, rows[0], want)
	if _, ok := rows[0].Get(CursorKey); ok {
		t.Error("cursor columns must not be passed on as row columns")
	}
}

// The nightly read of the example query uses the (updated_at, id) index, for
// the first page and the pages after it, on a table large enough for the
// planner to prefer it.
func TestExampleQueryUsesIndex(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at)
		SELECT 'C-' || g, 'person', 'Doe', timestamptz '2025-01-01' + g * interval '1 second' FROM generate_series(1, 20000) g`)
	mustExec(t, db.DB, `ANALYZE clients`)
	q := exampleQuery(t)
	for _, from := range []from{fromStart, fromSince, fromAfter} {
		args := []any{time.Date(2025, 1, 1, 5, 0, 0, 0, time.UTC), 500}
		switch from {
		case fromSince:
			args = append(args, time.Date(2025, 1, 1, 4, 0, 0, 0, time.UTC))
		case fromAfter:
			args = append(args, time.Date(2025, 1, 1, 4, 0, 0, 0, time.UTC), "14000")
		}
		var plan []string
		if err := db.Select(&plan, "EXPLAIN "+q.pageSQL(from), args...); err != nil {
			t.Fatal(err)
		}
		// The rows come straight from the index under the LIMIT: no sort,
		// no scan of the whole table.
		text := strings.Join(plan, "\n")
		top := strings.TrimSpace(plan[1])
		if !strings.HasPrefix(plan[0], "Limit") || !strings.HasPrefix(top, "->  Index Scan using clients_updated_at_id") ||
			(from == fromAfter && !strings.Contains(text, "ROW(updated_at, id) >")) {
			t.Errorf("from=%v: plan does not read the (updated_at, id) index in order:\n%s", from, text)
		}
	}
}

// The relations query reads client_links through its (updated_at, id)
// index and each customer by its key: no page reads the clients whole.
func TestRelationsQueryUsesIndexes(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name) SELECT 'C-' || g, 'person', 'Doe' FROM generate_series(1, 20000) g`)
	mustExec(t, db.DB, `INSERT INTO client_links (company_id, party_id, link_kind, updated_at)
		SELECT g, g + 1, 'director', timestamptz '2025-01-01' + g * interval '1 second' FROM generate_series(1, 10000) g`)
	mustExec(t, db.DB, `ANALYZE clients; ANALYZE client_links`)
	text, err := etlsql.Example("relations.sql")
	if err != nil {
		t.Fatal(err)
	}
	q := Query{SQL: text}
	var plan []string
	err = db.Select(&plan, "EXPLAIN "+q.pageSQL(fromAfter), time.Date(2025, 1, 1, 5, 0, 0, 0, time.UTC), 5000, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "0")
	if err != nil {
		t.Fatal(err)
	}
	p := strings.Join(plan, "\n")
	if !strings.HasPrefix(strings.TrimSpace(plan[1]), "->  Index Scan using client_links_updated_at_id") || strings.Contains(p, "Seq Scan on clients") {
		t.Errorf("plan of a relations page:\n%s", p)
	}
}

func TestDescribe(t *testing.T) {
	db := sqltest.NewDB(t)
	cols, err := Describe(context.Background(), db.DB, exampleQuery(t))
	if err != nil {
		t.Fatal(err)
	}
	if cols[0] != "external_id" || len(cols) < 10 {
		t.Errorf("columns %v", cols)
	}
	for _, tc := range []struct{ sql, want string }{
		{`SELECT id AS cursor_key, client_ref AS external_id FROM clients`, "must select the columns"},
		{`SELECT client_ref AS cursor_updated_at, id AS cursor_key FROM clients`, "must be timestamp or timestamptz"},
		{`SELECT updated_at AS cursor_updated_at, id AS cursor_key, nope FROM clients`, "nope"},
	} {
		_, err := Describe(context.Background(), db.DB, Query{SQL: tc.sql})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Describe(%q) = %v, want an error containing %q", tc.sql, err, tc.want)
		}
	}
}

func mustExec(t *testing.T, db *sqlx.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestCountAndReadKeys(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (id, client_ref, kind, family_name, updated_at)
		SELECT g, 'C-' || g, 'person', 'Doe', timestamptz '2025-01-01' + g * interval '1 minute' FROM generate_series(1, 10) g`)
	q := exampleQuery(t)
	ctx := context.Background()
	at := func(m int) time.Time { return time.Date(2025, 1, 1, 0, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		w    Window
		want int64
	}{
		{Window{Until: at(10)}, 10},
		{Window{Until: at(9)}, 9},
		{Window{After: Position{UpdatedAt: at(3)}, Until: at(10)}, 8},
		{Window{After: Position{UpdatedAt: at(3), Key: "3"}, Until: at(10)}, 7},
	} {
		n, err := Count(ctx, db.DB, q, tc.w)
		if err != nil || n != tc.want {
			t.Errorf("Count(%v) = %d, %v; want %d", tc.w, n, err, tc.want)
		}
		if got := int64(len(readAll(t, db.DB, q, tc.w, 3))); got != tc.want {
			t.Errorf("Read(%v) read %d rows, Count says %d", tc.w, got, tc.want)
		}
	}
	var got []string
	err := ReadKeys(ctx, db.DB, q, []string{"7", "2", "99"}, func(r Row) error {
		got = append(got, r.Pos.Key)
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []string{"2", "7"}) {
		t.Errorf("ReadKeys = %v, %v; want keys 2 and 7 in order", got, err)
	}
}

// Rows with a NULL cursor_updated_at are in no window; ReadNullCursor reads
// each of them once, page by page, flagged, and CountNullCursor counts them.
func TestReadNullCursor(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `ALTER TABLE clients ALTER updated_at DROP NOT NULL`)
	mustExec(t, db.DB, `INSERT INTO clients (id, client_ref, kind, family_name, updated_at)
		SELECT g, 'C-' || g, 'person', 'Doe', CASE WHEN g % 2 = 0 THEN NULL ELSE timestamptz '2025-01-01' END
		FROM generate_series(1, 11) g`)
	q := exampleQuery(t)
	ctx := context.Background()
	if got := refs(readAll(t, db.DB, q, Window{Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, 2)); len(got) != 6 {
		t.Errorf("the window holds %v, want the 6 rows with a cursor", got)
	}
	var keys []string
	err := ReadNullCursor(ctx, db.DB, q, Options{PageSize: 2}, func(r Row) error {
		if !r.NullCursor || !r.Pos.UpdatedAt.IsZero() {
			t.Errorf("row %s: NullCursor %v, position %v", r.Pos.Key, r.NullCursor, r.Pos)
		}
		keys = append(keys, r.Pos.Key)
		return nil
	})
	if want := []string{"2", "4", "6", "8", "10"}; err != nil || !reflect.DeepEqual(keys, want) {
		t.Errorf("ReadNullCursor = %v, %v; want keys %v", keys, err, want)
	}
	if n, err := CountNullCursor(ctx, db.DB, q); n != 5 || err != nil {
		t.Errorf("CountNullCursor = %d, %v; want 5", n, err)
	}
	keys = nil
	err = ReadKeys(ctx, db.DB, q, []string{"3", "4"}, func(r Row) error {
		if r.NullCursor != (r.Pos.Key == "4") {
			t.Errorf("ReadKeys: row %s: NullCursor %v", r.Pos.Key, r.NullCursor)
		}
		keys = append(keys, r.Pos.Key)
		return nil
	})
	if err != nil || len(keys) != 2 {
		t.Errorf("ReadKeys = %v, %v", keys, err)
	}
	// A row without a key can be neither paged past nor named: an error.
	err = Read(ctx, db.DB, Query{SQL: `SELECT updated_at AS cursor_updated_at, NULL::bigint AS cursor_key, client_ref AS external_id FROM clients`},
		Window{Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, Options{PageSize: 5}, func(Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "NULL cursor_key") {
		t.Errorf("Read of rows without a key: %v", err)
	}
}

// The read of the rows with a NULL cursor uses the (updated_at, id) index,
// in order, on a table where updated_at may be NULL.
func TestNullCursorQueryUsesIndex(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `ALTER TABLE clients ALTER updated_at DROP NOT NULL`)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at)
		SELECT 'C-' || g, 'person', 'Doe', CASE WHEN g % 100 = 0 THEN NULL ELSE timestamptz '2025-01-01' + g * interval '1 second' END
		FROM generate_series(1, 20000) g`)
	mustExec(t, db.DB, `ANALYZE clients`)
	q := exampleQuery(t)
	for _, after := range []bool{false, true} {
		args := []any{500}
		if after {
			args = append(args, "14000")
		}
		var plan []string
		if err := db.Select(&plan, "EXPLAIN "+q.nullCursorSQL(after), args...); err != nil {
			t.Fatal(err)
		}
		text := strings.Join(plan, "\n")
		if !strings.HasPrefix(plan[0], "Limit") || !strings.HasPrefix(strings.TrimSpace(plan[1]), "->  Index Scan using clients_updated_at_id") ||
			!strings.Contains(text, "updated_at IS NULL") {
			t.Errorf("after=%v: plan does not read the (updated_at, id) index in order:\n%s", after, text)
		}
	}
}

// byKeyQuery is the example query without its cursor_updated_at: a query
// with no change order, read whole by key.
func byKeyQuery(t *testing.T) Query {
	t.Helper()
	q := exampleQuery(t)
	const line = "c.updated_at        AS cursor_updated_at,"
	if !strings.Contains(q.SQL, line) {
		t.Fatalf("the example query no longer holds %q", line)
	}
	return Query{SQL: strings.Replace(q.SQL, line, "", 1), ByKey: true}
}

// A query read by key is read whole, in key order (compared in the key's
// own type: 10 after 9), each row once whatever the page size, and its
// rows have no time; CountAll counts them.
func TestReadAll(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (id, client_ref, kind, family_name, updated_at)
		SELECT g, 'C-' || g, 'person', 'Doe', timestamptz '2025-01-01' FROM generate_series(1, 11) g`)
	q := byKeyQuery(t)
	ctx := context.Background()
	var want []string
	for i := 1; i <= 11; i++ {
		want = append(want, fmt.Sprint(i))
	}
	for _, pageSize := range []int{1, 2, 5, 11, 100} {
		var keys []string
		err := ReadAll(ctx, db.DB, q, Options{PageSize: pageSize}, func(r Row) error {
			if !r.Pos.UpdatedAt.IsZero() || r.NullCursor {
				t.Errorf("row %s: position %v, NullCursor %v", r.Pos.Key, r.Pos, r.NullCursor)
			}
			if v, _ := r.Get("external_id"); v != "C-"+r.Pos.Key {
				t.Errorf("row %s: external_id %v", r.Pos.Key, v)
			}
			keys = append(keys, r.Pos.Key)
			return nil
		})
		if err != nil || !reflect.DeepEqual(keys, want) {
			t.Errorf("page size %d: ReadAll = %v, %v; want %v", pageSize, keys, err, want)
		}
	}
	if n, err := CountAll(ctx, db.DB, q); n != 11 || err != nil {
		t.Errorf("CountAll = %d, %v; want 11", n, err)
	}
	var keys []string
	err := ReadKeys(ctx, db.DB, q, []string{"10", "3", "99"}, func(r Row) error {
		keys = append(keys, r.Pos.Key)
		return nil
	})
	if err != nil || !reflect.DeepEqual(keys, []string{"3", "10"}) {
		t.Errorf("ReadKeys = %v, %v; want keys 3 and 10 in order", keys, err)
	}
	// Windows and NULL cursors mean nothing for it.
	if err := Read(ctx, db.DB, q, Window{Until: time.Now()}, Options{PageSize: 5}, func(Row) error { return nil }); err == nil {
		t.Error("Read of a query read by key: no error")
	}
	if _, err := CountNullCursor(ctx, db.DB, q); err == nil {
		t.Error("CountNullCursor of a query read by key: no error")
	}
}

// A query read by key must select cursor_key and must not select
// cursor_updated_at, which it would never read.
func TestDescribeByKey(t *testing.T) {
	db := sqltest.NewDB(t)
	ctx := context.Background()
	cols, err := Describe(ctx, db.DB, byKeyQuery(t))
	if err != nil || cols[0] != "external_id" {
		t.Fatalf("Describe = %v, %v", cols, err)
	}
	for _, tc := range []struct{ sql, want string }{
		{`SELECT client_ref AS external_id FROM clients`, "must select the column cursor_key"},
		{`SELECT updated_at AS cursor_updated_at, id AS cursor_key, client_ref AS external_id FROM clients`, "selects cursor_updated_at, but it is read whole by cursor_key alone"},
	} {
		_, err := Describe(ctx, db.DB, Query{SQL: tc.sql, ByKey: true})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Describe(%q) = %v, want an error containing %q", tc.sql, err, tc.want)
		}
	}
	err = ReadAll(ctx, db.DB, Query{SQL: `SELECT NULL::bigint AS cursor_key, 'x' AS external_id`, ByKey: true}, Options{PageSize: 5}, func(Row) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "NULL cursor_key") {
		t.Errorf("ReadAll of a row without a key: %v", err)
	}
}

// Each page of a query read by key reads the table's primary key in
// order, under the LIMIT: no sort, no scan of the whole table.
func TestReadAllUsesIndex(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name) SELECT 'C-' || g, 'person', 'Doe' FROM generate_series(1, 20000) g`)
	mustExec(t, db.DB, `ANALYZE clients`)
	q := byKeyQuery(t)
	for _, after := range []string{"", "14000"} {
		raw, err := Explain(context.Background(), db.DB, q, Window{After: Position{Key: after}}, Options{PageSize: 500})
		if err != nil {
			t.Fatal(err)
		}
		var plan []struct {
			Plan struct {
				Type  string `json:"Node Type"`
				Plans []struct {
					Type  string `json:"Node Type"`
					Index string `json:"Index Name"`
				} `json:"Plans"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plan); err != nil {
			t.Fatal(err)
		}
		top := plan[0].Plan
		if top.Type != "Limit" || len(top.Plans) != 1 || top.Plans[0].Type != "Index Scan" || top.Plans[0].Index != "clients_pkey" {
			t.Errorf("after %q: the page does not read clients_pkey in order:\n%s", after, raw)
		}
	}
}

// Ahead counts the rows at or after the source's clock: those dated in the
// future, and every row of a cursor computed as now() or clock_timestamp(),
// for a timestamptz cursor and for a timestamp one read in its location.
func TestAhead(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at) VALUES
		('C-past', 'person', 'Doe', now() - interval '1 hour'), ('C-now', 'person', 'Doe', now() - interval '1 second'),
		('C-future', 'person', 'Doe', now() + interval '1 hour')`)
	stored := exampleQuery(t)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		cursor string
		loc    *time.Location
		want   int64
	}{
		{"stored", "c.updated_at", nil, 1},
		{"stored, timestamp in Berlin", "(c.updated_at AT TIME ZONE 'Europe/Berlin')", berlin, 1},
		{"now()", "now()", nil, 3},
		{"clock_timestamp()", "clock_timestamp()", nil, 3},
		{"now() as a timestamp in Berlin", "(now() AT TIME ZONE 'Europe/Berlin')", berlin, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := Query{SQL: strings.Replace(stored.SQL, "c.updated_at        AS cursor_updated_at", tt.cursor+" AS cursor_updated_at", 1), Location: tt.loc}
			if n, err := Ahead(ctx, db.DB, q); err != nil || n != tt.want {
				t.Errorf("Ahead: %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

// The count of rows ahead of the clock, which every run makes, reads the
// (updated_at, id) index: its cost is the rows ahead, not the table.
func TestAheadUsesIndex(t *testing.T) {
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name, updated_at)
		SELECT 'C-' || g, 'person', 'Doe', timestamptz '2025-01-01' + g * interval '1 second' FROM generate_series(1, 20000) g`)
	mustExec(t, db.DB, `ANALYZE clients`)
	var plan []string
	if err := db.Select(&plan, "EXPLAIN "+exampleQuery(t).aheadSQL(), time.Now()); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "clients_updated_at_id") || strings.Contains(text, "Seq Scan") {
		t.Errorf("plan does not read the (updated_at, id) index:\n%s", text)
	}
}

// Columns of types that the driver hands over in another form than
// Row.Values gives them (numeric, uuid, oid, time, name, interval as text
// or bytes) arrive as the documented Go type, as do the types it decodes;
// NULL is nil whatever the type.
func TestReadOtherTypes(t *testing.T) {
	db := sqltest.NewDB(t)
	q := Query{SQL: `SELECT now() AS cursor_updated_at, 'k' AS cursor_key,
		12.50::numeric AS num, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, 42::oid AS o,
		'12:34:56.5'::time AS t, 'abc'::name AS nm, '1 day 02:00'::interval AS iv, 'ab'::char(3) AS ch,
		7::int2 AS i2, 1.5::float4 AS f4, 2.25::float8 AS f8, 'x'::varchar AS vc, true AS b,
		'2024-02-29'::date AS d, '2024-02-29 10:11:12.5+00'::timestamptz AS ts,
		NULL::numeric AS null_num, NULL::int8 AS null_int, NULL::text AS null_text, NULL::date AS null_date`}
	rows := readAll(t, db.DB, q, Window{Until: time.Now().Add(time.Hour)}, 10)
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	want := map[string]any{
		"num": "12.50", "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "o": int64(42), "t": "0000-01-01T12:34:56.5Z",
		"nm": "abc", "iv": "1 day 02:00:00", "ch": "ab ", "i2": int64(7), "f4": float64(1.5), "f8": float64(2.25),
		"vc": "x", "b": true, "d": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"ts":       time.Date(2024, 2, 29, 10, 11, 12, 500000000, time.UTC),
		"null_num": nil, "null_int": nil, "null_text": nil, "null_date": nil,
	}
	checkValues(t, rows[0], want)
}

// checkValues checks that row holds the values of want, by column name;
// times are compared as instants.
func checkValues(t *testing.T, row Row, want map[string]any) {
	t.Helper()
	for name, w := range want {
		got, ok := row.Get(name)
		if !ok {
			t.Errorf("no column %s", name)
			continue
		}
		if gt, ok := got.(time.Time); ok {
			if wt, ok := w.(time.Time); !ok || !gt.Equal(wt) {
				t.Errorf("%s = %v, want %v", name, got, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", name, got, w)
		}
	}
}
