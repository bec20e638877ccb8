package sqltest_test

import (
	"testing"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

func TestNewDBIsIsolated(t *testing.T) {
	a, b := sqltest.NewDB(t), sqltest.NewDB(t)
	if _, err := a.Exec(`INSERT INTO clients (client_ref, kind) VALUES ('C1', 'person')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.Get(&n, `SELECT count(*) FROM clients`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database sees %d clients of the first", n)
	}
}
