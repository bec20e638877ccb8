package transform

import "testing"

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
