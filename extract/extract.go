package extract

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Names of the two cursor columns every query selects. They are not passed
// on as Row columns.
const (
	CursorUpdatedAt = "cursor_updated_at"
	CursorKey       = "cursor_key"
)

// Query is a job's extraction query: a SELECT over the source that names its
// columns after the API's fields and adds the two cursor columns. Query wraps
// it to read a window page by page:
//
//	SELECT * FROM (<query>) AS src
//	WHERE (src.cursor_updated_at, src.cursor_key) > ($after, $key)
//	  AND src.cursor_updated_at <= $until
//	ORDER BY src.cursor_updated_at, src.cursor_key
//	LIMIT $page
//
// PostgreSQL pulls the simple SELECT up into the outer query, so an index on
// the cursor columns serves both the condition and the order.
type Query struct {
	// SQL is the query's text, without a trailing semicolon.
	SQL string
	// Location is the time zone in which a `timestamp without time zone`
	// cursor column was written. Values of such a column are read and
	// compared as wall-clock times in Location, whatever the session's
	// TimeZone, so that a session setting cannot shift a window. A
	// timestamptz column needs no Location. Nil means UTC.
	Location *time.Location
	// ByKey is set for a query with no change order: it selects
	// cursor_key (unique) but no cursor_updated_at, and is read whole, in
	// cursor_key order, by [ReadAll] (a job with incremental: diff). Read,
	// Count and ReadNullCursor refuse such a query, and its rows' Pos has
	// only a Key.
	ByKey bool
}

// Window is the part of a source read by one run: the rows after After, up
// to and including Until.
type Window struct {
	After Position // the zero Position reads from the first row
	Until time.Time
}

// Options tune a Read.
type Options struct {
	PageSize int // rows per query; at least 1
	// Page, if not nil, is called after each page, for logs.
	Page func(Page)
}

// A Page is one query of a read, as Options.Page sees it.
type Page struct {
	After Position      // where the page starts; for a read by key, its Key alone
	Rows  int           // the rows it held
	Last  Position      // its last row; the zero Position when it held none
	Took  time.Duration // from sending the query to handling its last row
}

func (o Options) page(p Page) {
	if o.Page != nil {
		o.Page(p)
	}
}

// Describe returns the columns of q's rows, without running it over any row,
// and checks that q selects both cursor columns with usable types (only
// cursor_key, and no cursor_updated_at, when q.ByKey). A job can so be
// checked before anything is read.
func Describe(ctx context.Context, db *sqlx.DB, q Query) (Columns, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM ("+body(q.SQL)+"\n) AS src LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("extract: query: %w", err)
	}
	defer rows.Close()
	s, err := newScanner(rows, q)
	if err != nil {
		return nil, err
	}
	return s.cols, rows.Err()
}

// Read streams the rows of window w in (cursor_updated_at, cursor_key)
// order, calling fn for each. Memory stays bounded by one page whatever the
// window's size. Read stops at the first error from fn and returns it.
//
// Rows are read by keyset pagination: each page starts after the last row of
// the one before, so rows sharing one cursor_updated_at across a page
// boundary are neither lost nor repeated.
//
// A row whose cursor_updated_at is NULL is in no window: [ReadNullCursor]
// reads those.
func Read(ctx context.Context, db *sqlx.DB, q Query, w Window, opts Options, fn func(Row) error) error {
	if opts.PageSize < 1 {
		return errors.New("extract: page size must be at least 1")
	}
	if q.ByKey {
		return errByKey
	}
	loc := q.location()
	// Times are passed in loc: a timestamptz column reads the offset, a
	// timestamp column ignores it and sees the wall clock in loc.
	queries := [...]string{q.pageSQL(fromStart), q.pageSQL(fromSince), q.pageSQL(fromAfter)}
	until := w.Until.In(loc)
	after := w.After
	for {
		from, args := pageArgs(after, until, opts.PageSize, loc)
		began := time.Now()
		rows, err := db.QueryContext(ctx, queries[from], args...)
		if err != nil {
			return fmt.Errorf("extract: query page after %v: %w", after, err)
		}
		n, last, err := readPage(rows, q, fn)
		if err != nil {
			return err
		}
		opts.page(Page{After: after, Rows: n, Last: last, Took: time.Since(began)})
		if n < opts.PageSize {
			return nil
		}
		after = last
	}
}

// errByKey is the error of a function that reads windows, or rows with a
// NULL cursor_updated_at, given a query read by key.
var errByKey = errors.New("extract: the query has no cursor_updated_at (Query.ByKey): it has no windows; read it with ReadAll")

// ReadAll streams every row of q in cursor_key order, calling fn for each:
// the whole query, whatever the rows' cursor_updated_at, for a query read by
// key (Query.ByKey). Like Read, it pages by keyset (opts.PageSize rows per
// query, each after the last key of the one before, never OFFSET), so
// memory stays bounded by a page, and an index on the key column serves
// it:
//
//	SELECT * FROM (<query>) AS src WHERE src.cursor_key > $2 ORDER BY src.cursor_key LIMIT $1
//
// Keys are compared in the column's own type and collation. Given a query
// with a cursor_updated_at, ReadAll returns its rows with a NULL one too,
// with NullCursor set.
func ReadAll(ctx context.Context, db *sqlx.DB, q Query, opts Options, fn func(Row) error) error {
	if opts.PageSize < 1 {
		return errors.New("extract: page size must be at least 1")
	}
	first, next := q.allSQL(false), q.allSQL(true)
	after := ""
	for page := 0; ; page++ {
		var rows *sql.Rows
		var err error
		began := time.Now()
		if page == 0 {
			rows, err = db.QueryContext(ctx, first, opts.PageSize)
		} else {
			rows, err = db.QueryContext(ctx, next, opts.PageSize, after)
		}
		if err != nil {
			return fmt.Errorf("extract: query the page after key %q: %w", after, err)
		}
		n, last, err := readPage(rows, q, fn)
		if err != nil {
			return err
		}
		opts.page(Page{After: Position{Key: after}, Rows: n, Last: last, Took: time.Since(began)})
		if n < opts.PageSize {
			return nil
		}
		after = last.Key
	}
}

// CountAll returns the number of rows that [ReadAll] reads.
func CountAll(ctx context.Context, db *sqlx.DB, q Query) (int64, error) {
	var n int64
	if err := db.GetContext(ctx, &n, "SELECT count(*) FROM ("+body(q.SQL)+"\n) AS src"); err != nil {
		return 0, fmt.Errorf("extract: count the rows: %w", err)
	}
	return n, nil
}

// allSQL returns the query that reads one page of ReadAll: $1 is the page
// size, and $2, when after, the key of the last row of the page before.
func (q Query) allSQL(after bool) string {
	var b strings.Builder
	b.WriteString("SELECT * FROM (")
	b.WriteString(body(q.SQL))
	b.WriteString("\n) AS src")
	if after {
		b.WriteString(" WHERE src." + CursorKey + " > $2")
	}
	b.WriteString(" ORDER BY src." + CursorKey + " LIMIT $1")
	return b.String()
}

// Count returns the number of rows in window w. It reads the same index as
// Read, without fetching the rows.
func Count(ctx context.Context, db *sqlx.DB, q Query, w Window) (int64, error) {
	if q.ByKey {
		return 0, errByKey
	}
	loc := q.location()
	text := "SELECT count(*) FROM (" + body(q.SQL) + "\n) AS src WHERE src." + CursorUpdatedAt + " <= $1"
	args := []any{w.Until.In(loc)}
	switch {
	case w.After.IsZero():
	case w.After.Key == "":
		text += " AND src." + CursorUpdatedAt + " >= $2"
		args = append(args, w.After.UpdatedAt.In(loc))
	default:
		text += " AND (src." + CursorUpdatedAt + ", src." + CursorKey + ") > ($2, $3)"
		args = append(args, w.After.UpdatedAt.In(loc), w.After.Key)
	}
	var n int64
	if err := db.GetContext(ctx, &n, text, args...); err != nil {
		return 0, fmt.Errorf("extract: count rows after %v: %w", w.After, err)
	}
	return n, nil
}

// ReadNullCursor streams the rows whose cursor_updated_at is NULL, in
// cursor_key order, calling fn for each; their NullCursor is true. Such
// rows have no place in the change order, so no [Window] holds them: Read
// never returns them, and a caller that must account for every row reads
// them here. Like Read, it pages by key (opts.PageSize rows per query), so
// memory stays bounded by a page, and an index on the cursor columns
// serves it.
func ReadNullCursor(ctx context.Context, db *sqlx.DB, q Query, opts Options, fn func(Row) error) error {
	if opts.PageSize < 1 {
		return errors.New("extract: page size must be at least 1")
	}
	if q.ByKey {
		return errByKey
	}
	first, next := q.nullCursorSQL(false), q.nullCursorSQL(true)
	after := ""
	for {
		var rows *sql.Rows
		var err error
		began := time.Now()
		if after == "" {
			rows, err = db.QueryContext(ctx, first, opts.PageSize)
		} else {
			rows, err = db.QueryContext(ctx, next, opts.PageSize, after)
		}
		if err != nil {
			return fmt.Errorf("extract: query rows with a NULL %s after key %q: %w", CursorUpdatedAt, after, err)
		}
		n, last, err := readPage(rows, q, fn)
		if err != nil {
			return err
		}
		opts.page(Page{After: Position{Key: after}, Rows: n, Last: last, Took: time.Since(began)})
		if n < opts.PageSize {
			return nil
		}
		after = last.Key
	}
}

// CountNullCursor returns the number of rows that [ReadNullCursor] reads.
func CountNullCursor(ctx context.Context, db *sqlx.DB, q Query) (int64, error) {
	if q.ByKey {
		return 0, errByKey
	}
	var n int64
	text := "SELECT count(*) FROM (" + body(q.SQL) + "\n) AS src WHERE src." + CursorUpdatedAt + " IS NULL"
	if err := db.GetContext(ctx, &n, text); err != nil {
		return 0, fmt.Errorf("extract: count rows with a NULL %s: %w", CursorUpdatedAt, err)
	}
	return n, nil
}

// nullCursorSQL returns the query that reads one page of the rows with a
// NULL cursor_updated_at: $1 is the page size, and $2, when after, the key
// of the last row of the page before. It orders by both cursor columns, as
// an index on them is ordered, so that the index serves it without a sort.
func (q Query) nullCursorSQL(after bool) string {
	var b strings.Builder
	b.WriteString("SELECT * FROM (")
	b.WriteString(body(q.SQL))
	b.WriteString("\n) AS src WHERE src." + CursorUpdatedAt + " IS NULL")
	if after {
		b.WriteString(" AND src." + CursorKey + " > $2")
	}
	b.WriteString(" ORDER BY src." + CursorUpdatedAt + ", src." + CursorKey + " LIMIT $1")
	return b.String()
}

// Ahead counts the rows of q whose cursor_updated_at is at or after the
// source's clock (now()) as it counts them. No window can hold such a row
// yet, since a window ends at the source's now() less a safety lag: a
// cursor computed when the query runs (now(), clock_timestamp()) is never
// in a window, one dated in the future only once that time has passed. It
// reads the clock and the rows in one read-only transaction, so that a
// cursor computed as now() is counted.
func Ahead(ctx context.Context, db *sqlx.DB, q Query) (int64, error) {
	if q.ByKey {
		return 0, errByKey
	}
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return 0, fmt.Errorf("extract: count rows ahead of the clock: %w", err)
	}
	defer tx.Rollback()
	var now time.Time
	if err := tx.GetContext(ctx, &now, "SELECT now()"); err != nil {
		return 0, fmt.Errorf("extract: count rows ahead of the clock: %w", err)
	}
	var n int64
	if err := tx.GetContext(ctx, &n, q.aheadSQL(), now.In(q.location())); err != nil {
		return 0, fmt.Errorf("extract: count rows ahead of the clock: %w", err)
	}
	return n, nil
}

// aheadSQL counts the rows whose cursor_updated_at is at or after $1. With
// a stored cursor column and its index it reads only the index entries of
// those rows (TestAheadUsesIndex).
func (q Query) aheadSQL() string {
	return "SELECT count(*) FROM (" + body(q.SQL) + "\n) AS src WHERE src." + CursorUpdatedAt + " >= $1"
}

// ReadKeys reads the rows whose cursor_key is one of keys, in
// (cursor_updated_at, cursor_key) order (cursor_key order when q.ByKey),
// calling fn for each. Keys that
// match no row are not reported; the caller compares. It serves the retry
// of rows whose earlier sending failed, whatever their updated_at; rows
// whose cursor_updated_at is NULL come last, with NullCursor set.
func ReadKeys(ctx context.Context, db *sqlx.DB, q Query, keys []string, fn func(Row) error) error {
	if len(keys) == 0 {
		return nil
	}
	order := " ORDER BY src." + CursorUpdatedAt + ", src." + CursorKey
	if q.ByKey {
		order = " ORDER BY src." + CursorKey
	}
	text := "SELECT * FROM (" + body(q.SQL) + "\n) AS src WHERE src." + CursorKey + " = ANY($1)" + order
	rows, err := db.QueryContext(ctx, text, pq.StringArray(keys))
	if err != nil {
		return fmt.Errorf("extract: read %d rows by key: %w", len(keys), err)
	}
	_, _, err = readPage(rows, q, fn)
	return err
}

func (q Query) location() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

func readPage(rows *sql.Rows, q Query, fn func(Row) error) (int, Position, error) {
	defer rows.Close()
	s, err := newScanner(rows, q)
	if err != nil {
		return 0, Position{}, err
	}
	n := 0
	var last Position
	for rows.Next() {
		row, err := s.scan(rows)
		if err != nil {
			return n, last, err
		}
		if err := fn(row); err != nil {
			return n, last, err
		}
		last = row.Pos
		n++
	}
	if err := rows.Err(); err != nil {
		return n, last, fmt.Errorf("extract: read rows: %w", err)
	}
	return n, last, nil
}

// How a page query bounds the start of its window.
type from int

const (
	fromStart from = iota // no bound: the first row of the source
	fromSince             // cursor_updated_at >= $3: every row of that instant and after
	fromAfter             // (cursor_updated_at, cursor_key) > ($3, $4)
)

// pageArgs returns how the page after position after starts, and the
// parameters of its query (see pageSQL); until is already in loc.
func pageArgs(after Position, until time.Time, pageSize int, loc *time.Location) (from, []any) {
	switch {
	case after.IsZero():
		return fromStart, []any{until, pageSize}
	case after.Key == "":
		return fromSince, []any{until, pageSize, after.UpdatedAt.In(loc)}
	}
	return fromAfter, []any{until, pageSize, after.UpdatedAt.In(loc), after.Key}
}

// pageSQL returns the query that reads one page: $1 is the window's end,
// $2 the page size, and $3 and $4 the start as from says.
func (q Query) pageSQL(from from) string {
	var b strings.Builder
	b.WriteString("SELECT * FROM (")
	b.WriteString(body(q.SQL))
	b.WriteString("\n) AS src WHERE ")
	switch from {
	case fromAfter:
		b.WriteString("(src." + CursorUpdatedAt + ", src." + CursorKey + ") > ($3, $4) AND ")
	case fromSince:
		b.WriteString("src." + CursorUpdatedAt + " >= $3 AND ")
	}
	b.WriteString("src." + CursorUpdatedAt + " <= $1 ORDER BY src." + CursorUpdatedAt + ", src." + CursorKey + " LIMIT $2")
	return b.String()
}

// body returns the query's text without trailing semicolons or space.
func body(q string) string {
	return strings.TrimRight(strings.TrimSpace(q), "; \t\r\n")
}

// String formats p for messages and logs.
func (p Position) String() string {
	if p.IsZero() {
		return "(start)"
	}
	return fmt.Sprintf("(%s, %s)", p.UpdatedAt.UTC().Format(time.RFC3339Nano), p.Key)
}

// A scanner turns result rows into Rows, choosing for each column a
// destination by its database type.
type scanner struct {
	cols     Columns
	updated  int  // index of cursor_updated_at among the result's columns
	key      int  // index of cursor_key
	naive    bool // cursor_updated_at is a timestamp without time zone
	loc      *time.Location
	kinds    []kind // per result column
	dest     []any  // scan destinations, reused for every row
	colIndex []int  // result column of each of cols
	values   []any  // backing of the next rows' Values, allocated for several rows at once
}

// valuesBatch is how many rows' Values one allocation holds.
const valuesBatch = 64

type kind int

const (
	kText kind = iota
	kInt
	kFloat
	kBool
	kTime
	kTextArray
	kJSON
)

func newScanner(rows *sql.Rows, q Query) (*scanner, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("extract: column types: %w", err)
	}
	s := &scanner{updated: -1, key: -1, loc: q.location()}
	seen := make(map[string]bool, len(types))
	for i, t := range types {
		name := t.Name()
		if seen[name] {
			return nil, fmt.Errorf("extract: query selects column %q twice", name)
		}
		seen[name] = true
		k := kindOf(t.DatabaseTypeName())
		s.kinds = append(s.kinds, k)
		switch name {
		case CursorUpdatedAt:
			if q.ByKey {
				return nil, fmt.Errorf("extract: the query selects %s, but it is read whole by %s alone, with no change order: remove the column", CursorUpdatedAt, CursorKey)
			}
			switch t.DatabaseTypeName() {
			case "TIMESTAMP":
				s.naive = true
			case "TIMESTAMPTZ":
			default:
				return nil, fmt.Errorf("extract: column %s is %s; it must be timestamp or timestamptz", name, strings.ToLower(t.DatabaseTypeName()))
			}
			s.updated = i
		case CursorKey:
			s.key = i
		default:
			s.cols = append(s.cols, name)
			s.colIndex = append(s.colIndex, i)
		}
	}
	switch {
	case q.ByKey && s.key < 0:
		return nil, fmt.Errorf("extract: the query must select the column %s, a unique key of its rows", CursorKey)
	case !q.ByKey && (s.updated < 0 || s.key < 0):
		return nil, fmt.Errorf("extract: the query must select the columns %s and %s", CursorUpdatedAt, CursorKey)
	}
	s.dest = make([]any, len(types))
	for i, k := range s.kinds {
		switch {
		case i == s.key:
			s.dest[i] = new(sql.NullString)
		case i == s.updated:
			s.dest[i] = new(sql.NullTime)
		case k == kTextArray:
			s.dest[i] = new(nullStrings)
		case k == kJSON:
			s.dest[i] = new([]byte)
		default:
			// The driver's own value, already of the column's Go type
			// for most types: kept as it is, not copied and boxed again.
			s.dest[i] = new(any)
		}
	}
	return s, nil
}

func kindOf(dbType string) kind {
	switch dbType {
	case "INT2", "INT4", "INT8", "OID":
		return kInt
	case "FLOAT4", "FLOAT8":
		return kFloat
	case "BOOL":
		return kBool
	case "DATE", "TIMESTAMP", "TIMESTAMPTZ":
		return kTime
	case "_TEXT", "_VARCHAR", "_BPCHAR", "_NAME":
		return kTextArray
	case "JSON", "JSONB":
		return kJSON
	}
	return kText
}

func (s *scanner) scan(rows *sql.Rows) (Row, error) {
	if err := rows.Scan(s.dest...); err != nil {
		return Row{}, fmt.Errorf("extract: scan row: %w", err)
	}
	key := s.dest[s.key].(*sql.NullString)
	ts := &sql.NullTime{Valid: true} // a query read by key has no cursor_updated_at
	if s.updated >= 0 {
		ts = s.dest[s.updated].(*sql.NullTime)
	}
	if !key.Valid {
		// Without a key a row can be neither paged past nor named.
		if s.updated < 0 {
			return Row{}, fmt.Errorf("extract: a row has a NULL %s", CursorKey)
		}
		return Row{}, fmt.Errorf("extract: a row has a NULL %s (%s %v)", CursorKey, CursorUpdatedAt, ts.Time)
	}
	at := ts.Time
	if !ts.Valid {
		at = time.Time{}
	} else if s.naive {
		// The driver reads a timestamp without time zone as a wall clock in
		// UTC; it was written in s.loc.
		at = time.Date(at.Year(), at.Month(), at.Day(), at.Hour(), at.Minute(), at.Second(), at.Nanosecond(), s.loc)
	}
	n := len(s.cols)
	if len(s.values) < n {
		s.values = make([]any, n*valuesBatch)
	}
	row := Row{Pos: Position{UpdatedAt: at, Key: key.String}, Columns: s.cols, Values: s.values[:n:n], NullCursor: !ts.Valid}
	s.values = s.values[n:]
	for j, i := range s.colIndex {
		v, err := s.value(i)
		if err != nil {
			return Row{}, err
		}
		row.Values[j] = v
	}
	return row, nil
}

// value returns the value of result column i of the row just scanned, of
// the Go type that Row.Values gives its kind, nil for NULL.
func (s *scanner) value(i int) (any, error) {
	d, ok := s.dest[i].(*any)
	if !ok {
		return value(s.dest[i]), nil
	}
	v := *d
	*d = nil
	k := s.kinds[i]
	switch v.(type) {
	case nil:
		return nil, nil
	case string:
		if k == kText {
			return v, nil
		}
	case int64:
		if k == kInt {
			return v, nil
		}
	case float64:
		if k == kFloat {
			return v, nil
		}
	case bool:
		if k == kBool {
			return v, nil
		}
	case time.Time:
		if k == kTime {
			return v, nil
		}
	}
	// Any other value is converted as database/sql converts it to the
	// kind's Go type: []byte, the text form of a type that the driver
	// does not decode, to a string, for one.
	var dest sql.Scanner
	switch k {
	case kInt:
		dest = new(sql.NullInt64)
	case kFloat:
		dest = new(sql.NullFloat64)
	case kBool:
		dest = new(sql.NullBool)
	case kTime:
		dest = new(sql.NullTime)
	default:
		dest = new(sql.NullString)
	}
	if err := dest.Scan(v); err != nil {
		return nil, fmt.Errorf("extract: scan row: column %d: %w", i+1, err)
	}
	return value(dest), nil
}

// value returns the Go value held by a scan destination, nil for NULL.
func value(d any) any {
	switch d := d.(type) {
	case *sql.NullString:
		if d.Valid {
			return d.String
		}
	case *sql.NullInt64:
		if d.Valid {
			return d.Int64
		}
	case *sql.NullFloat64:
		if d.Valid {
			return d.Float64
		}
	case *sql.NullBool:
		if d.Valid {
			return d.Bool
		}
	case *sql.NullTime:
		if d.Valid {
			return d.Time
		}
	case *nullStrings:
		if d.valid {
			return d.list
		}
	case *[]byte:
		if *d != nil {
			return json.RawMessage(*d)
		}
	}
	return nil
}

// nullStrings scans a text array, dropping NULL elements.
type nullStrings struct {
	list  []string
	valid bool
}

func (n *nullStrings) Scan(src any) error {
	if src == nil {
		n.list, n.valid = nil, false
		return nil
	}
	if b, ok := src.([]byte); ok {
		if list, ok := scanTextArray(b); ok {
			n.list, n.valid = list, true
			return nil
		}
	}
	// Most other arrays hold no NULL either: pq.StringArray reads them
	// without reflection, and fails on a NULL element, which the slower
	// generic scan then drops.
	var fast pq.StringArray
	if err := fast.Scan(src); err == nil {
		n.list, n.valid = fast, true
		return nil
	}
	var elems []sql.NullString
	if err := pq.Array(&elems).Scan(src); err != nil {
		return err
	}
	list := make([]string, 0, len(elems))
	for _, e := range elems {
		if e.Valid {
			list = append(list, e.String)
		}
	}
	n.list, n.valid = list, true
	return nil
}

// scanTextArray returns the elements of src, a one-dimensional array of
// text without NULL elements in PostgreSQL's text form ({a,"b c"}), as
// pq.StringArray reads them, in two allocations for most arrays: the
// elements are parts of one string, but for quoted ones with escapes. ok
// is false for anything else (NULL elements, more dimensions, explicit
// bounds, text that is not an array), which pq reads.
func scanTextArray(src []byte) (list []string, ok bool) {
	if len(src) < 2 || src[0] != '{' || src[len(src)-1] != '}' || bytes.Contains(src, []byte("NULL")) {
		return nil, false
	}
	if len(src) == 2 {
		return []string{}, true
	}
	s := string(src)
	list = make([]string, 0, bytes.Count(src, []byte{','})+1)
	for i := 1; ; {
		var elem string
		if s[i] == '"' {
			var b []byte // the element unescaped, once an escape is met
			start, j := i+1, i+1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' {
					b = append(b, s[start:j]...)
					j++ // the escaped byte, taken as it is
					start = j
				}
			}
			if j >= len(s) {
				return nil, false
			}
			if elem = s[start:j]; b != nil {
				elem = string(append(b, elem...))
			}
			i = j + 1
		} else {
			j := i
			for ; j < len(s) && s[j] != ',' && s[j] != '}'; j++ {
				if c := s[j]; c == '{' || c == '"' || c == '\\' {
					return nil, false
				}
			}
			if elem = s[i:j]; elem == "" || elem == "NULL" {
				return nil, false
			}
			i = j
		}
		list = append(list, elem)
		switch {
		case i == len(s)-1 && s[i] == '}':
			return list, true
		case i < len(s)-1 && s[i] == ',':
			i++
		default:
			return nil, false
		}
	}
}

// Column describes one column of a query's rows.
type Column struct {
	Name string
	// DatabaseType is the column's PostgreSQL type as database/sql names
	// it: "TEXT", "INT8", "TIMESTAMPTZ", "_TEXT" (text[]), "JSONB", ...
	DatabaseType string
	// Zero is the zero value of the Go type a Row holds for the column's
	// values (see Row.Values): "" for text types, int64(0), float64(0),
	// false, time.Time{}, []string(nil) or json.RawMessage(nil).
	Zero any
}

// DescribeColumns is Describe with the type of each column: it returns
// every column of q's rows, cursor columns included, in the query's order,
// without running it over any row. It fails as Describe does.
func DescribeColumns(ctx context.Context, db *sqlx.DB, q Query) ([]Column, error) {
	rows, err := db.QueryContext(ctx, "SELECT * FROM ("+body(q.SQL)+"\n) AS src LIMIT 0")
	if err != nil {
		return nil, fmt.Errorf("extract: query: %w", err)
	}
	defer rows.Close()
	s, err := newScanner(rows, q)
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("extract: column types: %w", err)
	}
	cols := make([]Column, len(types))
	for i, t := range types {
		cols[i] = Column{Name: t.Name(), DatabaseType: t.DatabaseTypeName(), Zero: zero(s.kinds[i])}
	}
	return cols, rows.Err()
}

// zero returns the zero value of the Go type of a column of kind k.
func zero(k kind) any {
	switch k {
	case kInt:
		return int64(0)
	case kFloat:
		return float64(0)
	case kBool:
		return false
	case kTime:
		return time.Time{}
	case kTextArray:
		return []string(nil)
	case kJSON:
		return json.RawMessage(nil)
	}
	return ""
}

// Explain returns PostgreSQL's plan, as EXPLAIN (VERBOSE, FORMAT JSON)
// gives it, of the query that Read runs for the first page of window w,
// with the same parameters: whether that page reads an index on the cursor
// columns or the whole table can be seen without reading a row. For a
// query read by key (Query.ByKey) it is the plan of ReadAll's second page,
// the one every later page repeats, after the key w.After.Key (the first
// page when it is empty); w's times are ignored.
func Explain(ctx context.Context, db *sqlx.DB, q Query, w Window, opts Options) ([]byte, error) {
	if opts.PageSize < 1 {
		return nil, errors.New("extract: page size must be at least 1")
	}
	if q.ByKey {
		var plan []byte
		args := []any{opts.PageSize}
		if w.After.Key != "" {
			args = append(args, w.After.Key)
		}
		if err := db.QueryRowContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+q.allSQL(len(args) > 1), args...).Scan(&plan); err != nil {
			return nil, fmt.Errorf("extract: explain the page query after key %q: %w", w.After.Key, err)
		}
		return plan, nil
	}
	loc := q.location()
	from, args := pageArgs(w.After, w.Until.In(loc), opts.PageSize, loc)
	var plan []byte
	if err := db.QueryRowContext(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+q.pageSQL(from), args...).Scan(&plan); err != nil {
		return nil, fmt.Errorf("extract: explain the page query after %v: %w", w.After, err)
	}
	return plan, nil
}
