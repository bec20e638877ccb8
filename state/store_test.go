package state_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// newStore returns a Store on a fresh database, migrated, closed at the end
// of the test.
func newStore(t testing.TB) (*state.Store, *sqltest.DB) {
	t.Helper()
	db := sqltest.NewDB(t)
	s := open(t, db.URL, "")
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, db
}

// open opens a Store closed at the end of the test.
func open(t testing.TB, dsn, schema string) *state.Store {
	t.Helper()
	s, err := state.Open(context.Background(), dsn, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

func TestOpenErrorHidesPassword(t *testing.T) {
	port := closedPort(t)
	tests := []struct {
		name, dsn, password string
	}{
		{"url", "postgres://etl:S3cr3t-pw@127.0.0.1:" + port + "/state?sslmode=disable", "S3cr3t-pw"},
		{"url with escaped password", "postgres://etl:p%40ss%2Fw0rd@127.0.0.1:" + port + "/state?sslmode=disable", "p@ss/w0rd"},
		{"url password in query", "postgres://etl@127.0.0.1:" + port + "/state?sslmode=disable&password=Qu3ryS3cret", "Qu3ryS3cret"},
		{"unparsable url", "postgres://etl:S3cr3t-pw@127.0.0.1:notaport/state", "S3cr3t-pw"},
		{"key=value", "host=127.0.0.1 port=" + port + " user=etl password=S3cr3t-pw dbname=state sslmode=disable", "S3cr3t-pw"},
		{"key=value quoted", "host=127.0.0.1 port=" + port + ` user=etl password='S3cr3t pw' dbname=state sslmode=disable`, "S3cr3t pw"},
		{"bad key=value", "host=127.0.0.1 port=" + port + " password=S3cr3t-pw dbname='state", "S3cr3t-pw"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := state.Open(context.Background(), tt.dsn, "")
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded against a closed port")
			}
			for e := error(err); e != nil; e = unwrap(e) {
				if strings.Contains(e.Error(), tt.password) || strings.Contains(e.Error(), "S3cr3t") {
					t.Fatalf("error reveals the password: %v", e)
				}
			}
			t.Logf("error: %v", err)
		})
	}
}

func unwrap(err error) error {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return nil
	}
	return u.Unwrap()
}

func TestOpenRefusesBadSchemaName(t *testing.T) {
	db := sqltest.NewDB(t)
	for _, schema := range []string{"Algoreg", "1st", "a-b", `x"; DROP TABLE clients; --`, "état", strings.Repeat("a", 64)} {
		s, err := state.Open(context.Background(), db.URL, schema)
		if err == nil {
			s.Close()
			t.Errorf("Open accepted schema name %q", schema)
		}
	}
}
