// Package sqltest gives tests throwaway PostgreSQL databases that hold the
// example source schema, each cloned in milliseconds from a template.
//
// The server is found as the README says: $TEST_DATABASE_URL, else
// 127.0.0.1:5432 when it answers, else a throwaway cluster started from the
// local PostgreSQL binaries by the repository's .ci/postgres script. When
// none can be had, the test fails with a message saying how to provide one.
//
// The server may be shared: the package creates and drops only databases
// of its own, under names no one else uses. NewDB's databases,
// algoreg_etl_test_ and a random suffix, are dropped when their test ends.
// The template they are cloned from, algoreg_etl_tmpl_ and a hash of the
// example schema, is kept on the server for the next test run (built once,
// under an advisory lock, when two runs start together); a new schema gets
// a new template, and the old ones may be dropped by hand.
package sqltest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	etlsql "github.com/algoreg/algoreg-etl/sql"
)

// DB is a database created for one test and dropped when it ends.
type DB struct {
	*sqlx.DB
	URL  string // connection URL of this database
	Name string
}

var server struct {
	once sync.Once
	url  string
	err  error
}

// ServerURL returns the URL of the PostgreSQL server tests use, starting a
// throwaway one if needed.
func ServerURL(t testing.TB) string {
	t.Helper()
	server.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(file), "..", "..", ".ci", "postgres")
		out, err := exec.Command("bash", script).Output()
		if err != nil {
			msg := err.Error()
			if ee, ok := err.(*exec.ExitError); ok {
				msg = strings.TrimSpace(string(ee.Stderr))
			}
			server.err = fmt.Errorf("no PostgreSQL for tests (%s): set TEST_DATABASE_URL to a server where databases may be created", msg)
			return
		}
		server.url = strings.TrimSpace(string(out))
	})
	if server.err != nil {
		t.Fatal(server.err)
	}
	return server.url
}

// WithDatabase returns u with its database name replaced by name.
func WithDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("database url: %w", err)
	}
	p.Path = "/" + name
	return p.String(), nil
}

// NewDB creates an empty database holding the example source schema (no seed
// rows) and drops it when the test ends.
func NewDB(t testing.TB) *DB {
	t.Helper()
	ctx := context.Background()
	base := ServerURL(t)
	admin, err := sqlx.Open("postgres", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tmpl, err := template(ctx, admin, base)
	if err != nil {
		t.Fatalf("sqltest: template database: %v", err)
	}
	name := "algoreg_etl_test_" + randomHex(6)
	// CREATE DATABASE fails while another session is connected to the
	// template; that can only be a template being built, so retry briefly.
	for attempt := 0; ; attempt++ {
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(tmpl))
		if err == nil || attempt == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("sqltest: create database: %v", err)
	}
	dbURL, err := WithDatabase(base, name)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlx.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		a, err := sqlx.Open("postgres", base)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)")
	})
	return &DB{DB: db, URL: dbURL, Name: name}
}

// Seed loads the example seed data (sql/example/seed.sql) into db.
func Seed(t testing.TB, db *DB) {
	t.Helper()
	seed, err := etlsql.Example("seed.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(seed); err != nil {
		t.Fatalf("sqltest: seed: %v", err)
	}
}

// template returns the name of a template database holding the example
// schema, creating it once per server and schema version. Several test
// processes may race here: an advisory lock makes one of them build it.
func template(ctx context.Context, admin *sqlx.DB, base string) (string, error) {
	schema, err := etlsql.Example("schema.sql")
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(schema))
	name := "algoreg_etl_tmpl_" + hex.EncodeToString(sum[:6])

	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	const lockKey = 0x616c676f // "algo"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lockKey)

	var exists bool
	if err := conn.GetContext(ctx, &exists, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)", name); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// A half-built template from a crashed run is not marked as a template.
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", err
	}
	u, err := WithDatabase(base, name)
	if err != nil {
		return "", err
	}
	tdb, err := sqlx.Open("postgres", u)
	if err != nil {
		return "", err
	}
	_, err = tdb.ExecContext(ctx, schema)
	tdb.Close()
	if err != nil {
		return "", fmt.Errorf("example schema: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(name)+" WITH IS_TEMPLATE true"); err != nil {
		return "", err
	}
	return name, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
