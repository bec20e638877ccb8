package transform

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
)

// BenchmarkMap maps a realistic row with every field set.
func BenchmarkMap(b *testing.B) {
	benchMap(b, fullRow())
}

// BenchmarkMapLists maps a row that uses the array forms and variations,
// with names to normalise and an alpha-3 country code.
func BenchmarkMapLists(b *testing.B) {
	row := withValues(fullRow(), map[string]any{
		"first_name":        "Anne  Marie",   // to collapse
		"last_name":         "Lefe\u0300vre", // to compose
		"nationality_codes": []string{"GBR", "ie"},
		"review_groups":     []string{"retail", "Risk; High", "private"},
		"contacts":          []string{"ops@example.com"},
		"variations":        json.RawMessage(`[{"first_name": "Ann", "last_name": "Lee"}, {"last_name": "Li"}]`),
	})
	benchMap(b, row)
}

// BenchmarkHashCustomer hashes the customer of a realistic row.
func BenchmarkHashCustomer(b *testing.B) {
	c := mapOnce(b, fullRow())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HashCustomer(&c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecord does per row what a run does before the call: it maps a
// realistic row, hashes the customer and encodes it for the request body.
func BenchmarkRecord(b *testing.B) {
	benchRecord(b, fullRow())
}

// BenchmarkEncodeCustomer encodes and hashes the customer of a realistic
// row, as a run does once per record.
func BenchmarkEncodeCustomer(b *testing.B) {
	c := mapOnce(b, fullRow())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeCustomer(&c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelta computes what to send for the customer of a realistic row
// whose lists are empty arrays (the source has none), with nothing sent
// before to compare it with: Delta leaves the lists out of its encoding.
func BenchmarkDelta(b *testing.B) {
	c := mapOnce(b, withValues(fullRow(), emptyLists))
	if _, err := EncodeCustomer(&c); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if d := Delta(nil, &c); d.Encoded == nil {
			b.Fatal("Delta lost the encoding")
		}
	}
}

// BenchmarkRecordEmptyLists is BenchmarkRecord for a row whose lists are
// empty, as most rows of the example query are: review_groups and contacts
// an empty text[], variations an empty jsonb array.
func BenchmarkRecordEmptyLists(b *testing.B) {
	row := withValues(fullRow(), emptyLists)
	benchRecord(b, withValues(row, map[string]any{"variations": json.RawMessage(`[]`)}))
}

// emptyLists are the values of a row whose lists the source leaves empty.
var emptyLists = map[string]any{"review_groups": []string{}, "contacts": []string{}}

// withValues returns a copy of row with the values of set, in the columns
// they name, added where row has no such column.
func withValues(row extract.Row, set map[string]any) extract.Row {
	row.Columns = append(extract.Columns{}, row.Columns...)
	row.Values = append([]any{}, row.Values...)
	for name, v := range set {
		i := 0
		for i < len(row.Columns) && row.Columns[i] != name {
			i++
		}
		if i == len(row.Columns) {
			row.Columns = append(row.Columns, name)
			row.Values = append(row.Values, v)
		} else {
			row.Values[i] = v
		}
	}
	return row
}

// newMapper returns the mapper of row's columns.
func newMapper(b *testing.B, row extract.Row) *Customers {
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// mapOnce returns the customer of row.
func mapOnce(b *testing.B, row extract.Row) load.Customer {
	c, err := newMapper(b, row).Map(row)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchMap maps row b.N times.
func benchMap(b *testing.B, row extract.Row) {
	m := newMapper(b, row)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(row); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecord maps row, encodes and hashes its customer, and writes the
// encoding as the request body carries it, b.N times.
func benchRecord(b *testing.B, row extract.Row) {
	m := newMapper(b, row)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		c, err := m.Map(row)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeCustomer(&c); err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		buf.Write(c.Encoded)
	}
}
