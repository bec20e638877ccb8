package appname_test

import (
	"context"
	"testing"

	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/appname"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// A session takes the name of its query's context: at its start, and with
// a SET when a later query's context names it otherwise, also on a pinned
// connection.
func TestSessionsTakeTheNameOfTheirContext(t *testing.T) {
	db := sqltest.NewDB(t)
	cfg, err := pq.NewConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := appname.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	run := appname.With(ctx, appname.Of("customers", 42))
	if got := appname.Of("customers", 42); got != "algoreg-etl/customers/42" {
		t.Errorf("Of = %q", got)
	}

	var got string
	if err := pool.QueryRowContext(ctx, `SELECT current_setting('application_name')`).Scan(&got); err != nil || got != "algoreg-etl" {
		t.Errorf("no name: %q, %v", got, err)
	}
	if err := pool.QueryRowContext(run, `SELECT current_setting('application_name')`).Scan(&got); err != nil || got != "algoreg-etl/customers/42" {
		t.Errorf("a run's: %q, %v", got, err)
	}

	// A pinned connection, as a lock's, renamed by a later query.
	conn, err := pool.Conn(appname.With(ctx, appname.Of("customers")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var pid int
	if err := conn.QueryRowContext(appname.With(ctx, appname.Of("customers")), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	seen := func() string {
		t.Helper()
		var app string
		if err := db.QueryRow(`SELECT application_name FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&app); err != nil {
			t.Fatal(err)
		}
		return app
	}
	if app := seen(); app != "algoreg-etl/customers" {
		t.Errorf("pg_stat_activity shows %q, want algoreg-etl/customers", app)
	}
	if _, err := conn.ExecContext(run, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if app := seen(); app != "algoreg-etl/customers/42" {
		t.Errorf("pg_stat_activity shows %q after a query of run 42", app)
	}
	// Within a transaction too.
	tx, err := conn.BeginTx(appname.With(ctx, appname.Of("customers", 43)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(appname.With(ctx, appname.Of("customers", 43)), `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if app := seen(); app != "algoreg-etl/customers/43" {
		t.Errorf("pg_stat_activity shows %q after a transaction of run 43", app)
	}
}
