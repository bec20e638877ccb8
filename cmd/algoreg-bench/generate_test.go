package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/transform"
)

// TestGenerate checks that the generated data has the promised shape and
// that every row of it passes the pipeline's mapping: a benchmark whose
// rows end as record errors would measure the wrong thing.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	const n = 2000
	if err := generate(ctx, db.DB, n); err != nil {
		t.Fatal(err)
	}
	var got struct {
		People    int `db:"people"`
		Companies int `db:"companies"`
		Links     int `db:"links"`
		Linked    int `db:"linked"` // companies with 1 to 3 links
		Future    int `db:"future"`
	}
	err := db.GetContext(ctx, &got, `SELECT
		(SELECT count(*) FROM clients WHERE kind = 'person') AS people,
		(SELECT count(*) FROM clients WHERE kind = 'company') AS companies,
		(SELECT count(*) FROM client_links) AS links,
		(SELECT count(*) FROM (SELECT company_id FROM client_links GROUP BY company_id HAVING count(*) BETWEEN 1 AND 3) AS l) AS linked,
		(SELECT count(*) FROM clients WHERE updated_at > now()) AS future`)
	if err != nil {
		t.Fatal(err)
	}
	if got.People != n || got.Companies != n/20 || got.Linked != n/20 || got.Links < n/20 || got.Links > 3*n/20 || got.Future != 0 {
		t.Errorf("generated %+v; want %d people, %d companies each with 1 to 3 links, nothing updated in the future", got, n, n/20)
	}

	types := map[string]int64{"director": 1, "shareholder": 2, "ubo": 3}
	for _, tc := range []struct {
		query  string
		want   int
		mapper func(extract.Columns) (func(extract.Row) error, error)
	}{
		{"customers.sql", n + n/20, func(cols extract.Columns) (func(extract.Row) error, error) {
			m, err := transform.NewCustomers(cols, transform.Options{AccountTypes: map[string]string{"person": "N", "company": "F"}})
			if err != nil {
				return nil, err
			}
			return func(r extract.Row) error { _, err := m.Map(r); return err }, nil
		}},
		{"relations.sql", got.Links, func(cols extract.Columns) (func(extract.Row) error, error) {
			m, err := transform.NewRelations(cols, transform.RelationOptions{Types: types})
			if err != nil {
				return nil, err
			}
			return func(r extract.Row) error { _, err := m.Map(r); return err }, nil
		}},
	} {
		text, err := etlsql.Example(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		q := extract.Query{SQL: text}
		cols, err := extract.Describe(ctx, db.DB, q)
		if err != nil {
			t.Fatal(err)
		}
		mapRow, err := tc.mapper(cols)
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		err = extract.Read(ctx, db.DB, q, extract.Window{Until: time.Now()}, extract.Options{PageSize: 1000}, func(r extract.Row) error {
			rows++
			if err := mapRow(r); err != nil {
				t.Errorf("%s: row %s: %v", tc.query, r.Pos.Key, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rows != tc.want {
			t.Errorf("%s: read %d rows, want %d", tc.query, rows, tc.want)
		}
	}
}

// TestWrapped checks that the read limit's query, as psql's \copy gets it
// on one line, returns the rows the pipeline reads.
func TestWrapped(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	for _, name := range []string{"customers.sql", "relations.sql"} {
		q, err := wrapped(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(q, "\n") || strings.Contains(q, "--") {
			t.Errorf("%s: wrapped query holds a line break or a comment: %q", name, q)
		}
		var got int
		if err := db.GetContext(ctx, &got, "SELECT count(*) FROM ("+q+") AS w"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text, _ := etlsql.Example(name)
		var want int
		if err := db.GetContext(ctx, &want, "SELECT count(*) FROM ("+strings.TrimRight(strings.TrimSpace(text), ";")+"\n) AS q"); err != nil {
			t.Fatal(err)
		}
		if got != want || want == 0 {
			t.Errorf("%s: wrapped query returns %d rows, the query itself %d", name, got, want)
		}
	}
}
