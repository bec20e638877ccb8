package extract

import (
	"context"
	"slices"
	"testing"
	"time"

	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/lib/pq"
)

// BenchmarkScanTextArray scans text[] values as the driver hands them over:
// a short list, a longer one with quoted elements, and one with a NULL.
func BenchmarkScanTextArray(b *testing.B) {
	for _, bc := range []struct{ name, src string }{
		{"short", `{CH,SE}`},
		{"quoted", `{retail,"Risk; High",private,"a \"b\" c","x,y",ops@example.com}`},
		{"null", `{GB,NULL,IE}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := []byte(bc.src)
			var n nullStrings
			b.ReportAllocs()
			for b.Loop() {
				if err := n.Scan(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRead reads a page of 500 clients through the example query,
// each with two nationalities, aliases and attributes: the rows' decoding as
// a run does it, the server's share included.
func BenchmarkRead(b *testing.B) {
	db := sqltest.NewDB(b)
	const n = 500
	if _, err := db.DB.Exec(`INSERT INTO clients (client_ref, kind, given_name, family_name, birth_date, residence_country, risk_tier, attributes, aliases)
		SELECT 'C-' || i, 'person', 'Ann', 'Lee', DATE '1980-01-01' + i, 'GB', i % 3, '{"segment":"retail"}', ARRAY['A-' || i, 'old ' || i]
		FROM generate_series(1, $1) i`, n); err != nil {
		b.Fatal(err)
	}
	if _, err := db.DB.Exec(`INSERT INTO client_nationalities (client_id, country) SELECT id, c FROM clients, unnest(ARRAY['SE','CH']) c`); err != nil {
		b.Fatal(err)
	}
	if _, err := db.DB.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	q := Query{SQL: mustExample(b)}
	w := Window{Until: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		rows := 0
		err := Read(context.Background(), db.DB, q, w, Options{PageSize: n}, func(Row) error { rows++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if rows != n {
			b.Fatalf("read %d rows, want %d", rows, n)
		}
	}
}

func mustExample(b *testing.B) string {
	b.Helper()
	q, err := etlsql.Example("customers.sql")
	if err != nil {
		b.Fatal(err)
	}
	return q
}

// A text[] is read as its elements in order, NULL elements left out, the
// text "NULL" (quoted) kept; an empty array is an empty, non-nil list; a
// NULL array is nil; an array of arrays fails.
func TestScanTextArray(t *testing.T) {
	for _, tc := range []struct {
		src  any
		want []string
		err  bool
	}{
		{src: nil},
		{src: []byte(`{}`), want: []string{}},
		{src: []byte(`{CH,SE}`), want: []string{"CH", "SE"}},
		{src: []byte(`{GB,NULL,"NULL",IE,NULL}`), want: []string{"GB", "NULL", "IE"}},
		{src: []byte(`{NULL}`), want: []string{}},
		{src: []byte(`{"a \"b\" c","x,y",""}`), want: []string{`a "b" c`, "x,y", ""}},
		{src: []byte(`{{a,b},{c,d}}`), err: true},
		{src: []byte(`{{a,NULL},{c,d}}`), err: true},
		{src: []byte(`{a`), err: true},
	} {
		n := nullStrings{list: []string{"stale"}, valid: true}
		err := n.Scan(tc.src)
		if (err != nil) != tc.err {
			t.Errorf("Scan(%s): %v", tc.src, err)
			continue
		}
		if tc.err {
			continue
		}
		got := value(&n)
		if tc.want == nil {
			if got != nil {
				t.Errorf("Scan(%s) = %#v, want nil", tc.src, got)
			}
			continue
		}
		if list, ok := got.([]string); !ok || list == nil || !slices.Equal(list, tc.want) {
			t.Errorf("Scan(%s) = %#v, want %#v", tc.src, got, tc.want)
		}
	}
}

// FuzzScanTextArray holds the reading of text[] values to pq.StringArray's:
// whatever it reads, it reads as pq does.
func FuzzScanTextArray(f *testing.F) {
	for _, s := range []string{`{}`, `{CH,SE}`, `{retail,"Risk; High",private,"a \"b\" c","x,y",ops@example.com}`,
		`{GB,NULL,IE}`, `{"NULL",""}`, `{{a,b},{c,d}}`, `[0:1]={a,b}`, `{"a\\\\"}`, `{"\\`, `{a,}`, `{,a}`, `{a}}`, `{"a"b}`,
		`{ a , b }`, `{é,"ü\\ö"}`, `{"}"}`, `{a"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		list, ok := scanTextArray(src)
		if !ok {
			return
		}
		var want pq.StringArray
		if err := want.Scan(src); err != nil {
			t.Fatalf("scanTextArray(%q) = %q, but pq fails: %v", src, list, err)
		}
		if list == nil || !slices.Equal(list, []string(want)) {
			t.Errorf("scanTextArray(%q) = %#v, pq reads %#v", src, list, want)
		}
	})
}
