package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// A node is one node of a plan, as EXPLAIN (VERBOSE, FORMAT JSON) gives it.
type node struct {
	Type     string   `json:"Node Type"`
	Relation string   `json:"Relation Name"`
	Schema   string   `json:"Schema"`
	Alias    string   `json:"Alias"`
	Index    string   `json:"Index Name"`
	Output   []string `json:"Output"`
	Plans    []*node  `json:"Plans"`
}

// parsePlan decodes the output of EXPLAIN (FORMAT JSON).
func parsePlan(raw []byte) (*node, error) {
	var out []struct {
		Plan *node `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 || out[0].Plan == nil {
		return nil, fmt.Errorf("preflight: unexpected EXPLAIN output (%d bytes): %v", len(raw), err)
	}
	return out[0].Plan, nil
}

// walk calls fn for n and every node below it.
func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// A table is a table that a plan reads.
type table struct{ schema, name string }

// String returns the table's qualified name, quoted where needed.
func (t table) String() string { return ident(t.schema) + "." + ident(t.name) }

// plainIdent is an identifier that needs no quotes.
var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func ident(s string) string {
	if plainIdent.MatchString(s) {
		return s
	}
	return pq.QuoteIdentifier(s)
}

// columnRef matches an output expression that is a plain column of a
// table: alias.column, either part possibly quoted.
var columnRef = regexp.MustCompile(`^("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)\.("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)$`)

// unquote returns an identifier as PostgreSQL prints it, without quotes.
func unquote(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

// cursorIndex checks that the page query reads the cursor columns through an
// index, rather than the whole table, and reports the index to create when
// it does not. upd and key are the positions of the cursor columns among
// the query's columns, which are the top node's output; upd is -1 for a
// query read by key (incremental: diff), whose pages need an index on
// cursor_key alone.
func (c *checker) cursorIndex(ctx context.Context, src *sqlx.DB, subject string, p *node, upd, key int) {
	subject += " cursor"
	if upd < 0 {
		upd = key // one column: the key
	}
	if upd >= len(p.Output) || key >= len(p.Output) {
		c.report(Warn, subject, "cannot tell which columns the cursor columns are from the plan")
		return
	}
	ue, ke := p.Output[upd], p.Output[key]
	um, km := columnRef.FindStringSubmatch(ue), columnRef.FindStringSubmatch(ke)
	switch {
	case upd == key && km == nil:
		c.report(Warn, subject, "cursor_key (%s) is not a plain column of a table, so no index can serve the page query: select a column of the main table", ke)
		return
	case um == nil || km == nil || um[1] != km[1]:
		c.report(Warn, subject, "cursor_updated_at (%s) and cursor_key (%s) are not plain columns of one table, so no index can serve the page query: "+
			"select a column of the main table for each", ue, ke)
		return
	}
	var (
		cursorTable *table
		used        string // the index a scan of the cursor table reads
		seq         []table
	)
	p.walk(func(n *node) {
		if n.Relation == "" {
			return
		}
		t := table{n.Schema, n.Relation}
		if n.Alias == unquote(um[1]) && cursorTable == nil {
			cursorTable = &t
			if n.Index != "" {
				used = n.Index
			}
		}
		if n.Type == "Seq Scan" {
			seq = append(seq, t)
		}
	})
	if cursorTable == nil {
		c.report(Warn, subject, "cannot find the table of %s in the plan", ue)
		return
	}
	updCol, keyCol := unquote(um[2]), unquote(km[2])
	columns := updCol + ", " + keyCol // as the messages name them
	create := fmt.Sprintf("CREATE INDEX CONCURRENTLY ON %s (%s, %s);", cursorTable, ident(updCol), ident(keyCol))
	var index string
	err := src.GetContext(ctx, &index, `SELECT coalesce(min(i.indexrelid::regclass::text), '')
		FROM pg_index i
		JOIN pg_attribute a0 ON a0.attrelid = i.indrelid AND a0.attnum = i.indkey[0]
		JOIN pg_attribute a1 ON a1.attrelid = i.indrelid AND a1.attnum = i.indkey[1]
		WHERE i.indrelid = to_regclass($1) AND i.indnkeyatts >= 2 AND i.indisvalid AND i.indpred IS NULL
		  AND a0.attname = $2 AND a1.attname = $3`, cursorTable.String(), updCol, keyCol)
	if upd == key {
		columns = keyCol
		create = fmt.Sprintf("CREATE UNIQUE INDEX CONCURRENTLY ON %s (%s);", cursorTable, ident(keyCol))
		err = src.GetContext(ctx, &index, `SELECT coalesce(min(i.indexrelid::regclass::text), '')
			FROM pg_index i
			JOIN pg_attribute a0 ON a0.attrelid = i.indrelid AND a0.attnum = i.indkey[0]
			WHERE i.indrelid = to_regclass($1) AND i.indisvalid AND i.indpred IS NULL AND a0.attname = $2`, cursorTable.String(), keyCol)
	}
	if err != nil {
		c.report(Fail, subject, "reading the indexes of %s: %v", cursorTable, err)
		return
	}
	warned := false
	for _, t := range seq {
		rows, err := c.rows(ctx, src, t)
		if err != nil {
			c.report(Fail, subject, "%v", err)
			return
		}
		if rows < c.opts.LargeTable {
			continue
		}
		warned = true
		switch {
		case t != *cursorTable:
			c.report(Warn, subject, "each page reads all of %s (about %d rows): read its values by key, in a scalar subquery, "+
				"or index the column the query joins it on", t, rows)
		case index != "":
			c.report(Warn, subject, "each page reads all of %s (about %d rows) although index %s is on (%s): run ANALYZE %s", t, rows, index, columns, t)
		default:
			c.report(Warn, subject, "each page reads all of %s (about %d rows): add the index on the cursor columns: %s", t, rows, create)
		}
	}
	switch {
	case warned:
	case used != "":
		c.report(OK, subject, "pages read %s in order through index %s", cursorTable, used)
	case index != "":
		c.report(OK, subject, "index %s is on %s (%s); at this size the planner reads the table whole", index, cursorTable, columns)
	default:
		c.report(OK, subject, "%s is small enough to read whole, but it has no index on (%s); before it grows: %s", cursorTable, columns, create)
	}
}

// rows returns the number of rows of t: the planner's estimate, or, when
// the table was never analysed, a count of up to LargeTable rows.
func (c *checker) rows(ctx context.Context, src *sqlx.DB, t table) (int64, error) {
	var n float64
	if err := src.GetContext(ctx, &n, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, t.String()); err != nil {
		return 0, fmt.Errorf("size of %s: %w", t, err)
	}
	if n >= 0 {
		return int64(n), nil
	}
	var count int64
	err := src.GetContext(ctx, &count, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM %s LIMIT %d) AS t`, t, c.opts.LargeTable))
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", t, err)
	}
	return count, nil
}

// privileges warns when the source role could write to a table the query
// reads: the connections are read-only, but a role that can write is one
// mistake away from doing it.
func (c *checker) privileges(ctx context.Context, src *sqlx.DB, subject string, p *node) {
	seen := map[table]bool{}
	var tables []table
	p.walk(func(n *node) {
		if t := (table{n.Schema, n.Relation}); n.Relation != "" && !seen[t] {
			seen[t] = true
			tables = append(tables, t)
		}
	})
	var who struct {
		Role  string `db:"role"`
		Super bool   `db:"super"`
	}
	if err := src.GetContext(ctx, &who, `SELECT current_user AS role, rolsuper AS super FROM pg_roles WHERE rolname = current_user`); err != nil {
		c.report(Fail, subject+" privileges", "%v", err)
		return
	}
	role := who.Role
	var names []string
	for _, t := range tables {
		names = append(names, t.String())
	}
	if who.Super {
		c.report(Warn, subject+" privileges", "role %s is a superuser: it could write to %s; connect as a role with SELECT only (README, \"Least privilege\")",
			role, strings.Join(names, ", "))
		return
	}
	writable := false
	for _, t := range tables {
		var can struct {
			Privileges pq.StringArray `db:"privileges"`
			Owner      bool           `db:"owner"`
		}
		err := src.GetContext(ctx, &can, `SELECT
			array_remove(ARRAY[
				CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
				CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
				CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
				CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL) AS privileges,
			pg_has_role(c.relowner, 'USAGE') AS owner
			FROM pg_class c WHERE c.oid = to_regclass($1)`, t.String())
		if err != nil {
			c.report(Fail, subject+" privileges", "privileges on %s: %v", t, err)
			return
		}
		switch {
		case can.Owner:
			writable = true
			c.report(Warn, subject+" privileges", "role %s owns %s, so it could write to it; connect as a role with SELECT only (README, \"Least privilege\")", role, t)
		case len(can.Privileges) > 0:
			writable = true
			c.report(Warn, subject+" privileges", "role %s could write to %s (%s); the pipeline's connections are read-only, "+
				"but take that away: REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %s FROM %s;", role, t, strings.Join(can.Privileges, ", "), t, ident(role))
		}
	}
	if !writable {
		c.report(OK, subject+" privileges", "role %s can read, not write, the tables the query reads: %s", role, strings.Join(names, ", "))
	}
}
