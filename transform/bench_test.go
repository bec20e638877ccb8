package transform

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/algoreg/algoreg-etl/extract"
)

// BenchmarkMap maps a realistic row with every field set.
func BenchmarkMap(b *testing.B) {
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapLists maps a row that uses the array forms and variations,
// with names to normalise and an alpha-3 country code.
func BenchmarkMapLists(b *testing.B) {
	row := fullRow()
	row.Columns = append(extract.Columns{}, row.Columns...)
	row.Values = append([]any{}, row.Values...)
	set := func(name string, v any) {
		for i, c := range row.Columns {
			if c == name {
				row.Values[i] = v
				return
			}
		}
		row.Columns = append(row.Columns, name)
		row.Values = append(row.Values, v)
	}
	set("first_name", "Anne  Marie")  // to collapse
	set("last_name", "Lefe\u0300vre") // to compose
	set("nationality_codes", []string{"GBR", "ie"})
	set("review_groups", []string{"retail", "Risk; High", "private"})
	set("contacts", []string{"ops@example.com"})
	set("variations", json.RawMessage(`[{"first_name": "Ann", "last_name": "Lee"}, {"last_name": "Li"}]`))
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Map(row); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashCustomer hashes the customer of a realistic row.
func BenchmarkHashCustomer(b *testing.B) {
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.Map(row)
	if err != nil {
		b.Fatal(err)
	}
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
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
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
		buf.Write(c.Encoded) // as the request body carries it
	}
}

// BenchmarkEncodeCustomer encodes and hashes the customer of a realistic
// row, as a run does once per record.
func BenchmarkEncodeCustomer(b *testing.B) {
	row := fullRow()
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.Map(row)
	if err != nil {
		b.Fatal(err)
	}
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
	row := fullRow()
	row.Values = append([]any{}, row.Values...)
	for i, c := range row.Columns {
		if c == "review_groups" || c == "contacts" {
			row.Values[i] = []string{}
		}
	}
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	c, err := m.Map(row)
	if err != nil {
		b.Fatal(err)
	}
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
	row := fullRow()
	row.Columns = append(extract.Columns{}, row.Columns...)
	row.Values = append([]any{}, row.Values...)
	for i, c := range row.Columns {
		if c == "review_groups" || c == "contacts" {
			row.Values[i] = []string{}
		}
	}
	row.Columns = append(row.Columns, "variations")
	row.Values = append(row.Values, json.RawMessage(`[]`))
	m, err := NewCustomers(row.Columns, Options{Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := m.Map(row)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := EncodeCustomer(&c); err != nil {
			b.Fatal(err)
		}
	}
}
