package extract

import "time"

// Position is a place in a source's change order: rows are read in
// (UpdatedAt, Key) order, and a watermark is the Position of the last row
// settled. Key breaks ties among the many rows that may share one UpdatedAt.
//
// A Position with an empty Key stands before every row of its UpdatedAt: a
// window after it starts with the rows of that instant. Lookbacks and
// backfills start so.
type Position struct {
	UpdatedAt time.Time // microsecond precision, as PostgreSQL stores it
	Key       string    // the row's key, as text whatever its column type
}

// IsZero reports whether p is the position before every row.
func (p Position) IsZero() bool { return p.UpdatedAt.IsZero() && p.Key == "" }

// Columns names the columns of a query's rows, other than the cursor columns.
// One Columns value is shared by every row of a stream.
type Columns []string

// Row is one row read from a source query.
type Row struct {
	Pos     Position
	Columns Columns // shared by all rows of a stream; do not modify
	// Values holds one value per column, nil for SQL NULL. Their Go types
	// are: string for text types, int64 for integer types, float64 for
	// float types, bool, time.Time for date and timestamp types, []string
	// for text arrays, json.RawMessage for json and jsonb, and string
	// (PostgreSQL's text form) for any other type.
	Values []any
	// NullCursor is true for a row whose cursor_updated_at is NULL: it has
	// no place in the change order, so no Window holds it, and Pos holds
	// only its Key. Only [ReadNullCursor], [ReadKeys] and [ReadAll] return
	// such rows.
	NullCursor bool
}

// Get returns the value of the named column and whether the row has it.
func (r Row) Get(name string) (any, bool) {
	for i, c := range r.Columns {
		if c == name {
			return r.Values[i], true
		}
	}
	return nil, false
}
