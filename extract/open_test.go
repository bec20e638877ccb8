package extract

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// A job's query that writes to the source fails, through Read as through
// any statement, even when the DSN asks for read-write transactions.
func TestOpenIsReadOnly(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t)
	mustExec(t, db.DB, `INSERT INTO clients (client_ref, kind, family_name) VALUES ('C-1', 'person', 'Doe')`)
	// A function that writes, as a careless or hostile query might call.
	mustExec(t, db.DB, `CREATE FUNCTION touch_clients() RETURNS bigint LANGUAGE sql AS
		$$ UPDATE clients SET notes = 'written by the pipeline'; SELECT 1::bigint $$`)
	writing := Query{SQL: `SELECT c.updated_at AS cursor_updated_at, c.id AS cursor_key, touch_clients() AS kyc_level FROM clients c`}

	with := func(param, value string) string {
		u, err := url.Parse(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set(param, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	for name, dsn := range map[string]string{
		"plain DSN":                  db.URL,
		"DSN parameter off":          with(ReadOnlySetting, "off"),
		"DSN options off":            with("options", "-c "+ReadOnlySetting+"=off"),
		"key=value DSN":              "dbname=" + db.Name + " " + strings.TrimPrefix(kvHost(t, db.URL), " "),
		"key=value DSN with off":     "dbname=" + db.Name + " " + kvHost(t, db.URL) + " " + ReadOnlySetting + "=off",
		"key=value options with off": "dbname=" + db.Name + " " + kvHost(t, db.URL) + " options='-c " + ReadOnlySetting + "=off'",
	} {
		t.Run(name, func(t *testing.T) {
			src, err := Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			err = Read(ctx, src, writing, Window{Until: time.Now().Add(time.Hour)}, Options{PageSize: 10}, func(Row) error { return nil })
			if err == nil || !strings.Contains(err.Error(), "read-only transaction") {
				t.Errorf("a query that writes: Read = %v, want a read-only transaction error", err)
			}
			for _, stmt := range []string{`UPDATE clients SET notes = 'x'`, `CREATE TABLE pipeline_scratch (i int)`, `SELECT nextval('clients_id_seq')`} {
				if _, err := src.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
					t.Errorf("%s: %v, want a read-only transaction error", stmt, err)
				}
			}
		})
	}
	var written int
	if err := db.Get(&written, `SELECT count(*) FROM clients WHERE notes IS NOT NULL`); err != nil || written != 0 {
		t.Errorf("%d rows written to the source (%v)", written, err)
	}
}

// kvHost returns the host, port and user of a URL DSN in key=value form.
func kvHost(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	s := "host=" + u.Hostname()
	if p := u.Port(); p != "" {
		s += " port=" + p
	}
	if n := u.User.Username(); n != "" {
		s += " user=" + n
	}
	for _, k := range []string{"sslmode"} {
		if v := u.Query().Get(k); v != "" {
			s += " " + k + "=" + v
		}
	}
	return s
}
