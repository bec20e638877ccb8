package main

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/state"
)

// createDatabase creates the database name, which must not exist, on the
// server at server, with the example source schema and the state schema,
// and returns its URL and a function that drops it again (unless keep).
func createDatabase(ctx context.Context, server, name string, keep bool) (string, func(), error) {
	admin, err := openDB(ctx, server)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	q := pq.QuoteIdentifier(name)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+q); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop := func() {
		if keep {
			fmt.Fprintf(os.Stderr, "kept database %s\n", name)
			return
		}
		a, err := openDB(context.Background(), server)
		if err != nil {
			return
		}
		defer a.Close()
		a.Exec("DROP DATABASE IF EXISTS " + q + " WITH (FORCE)")
	}
	u, err := url.Parse(server)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	u.Path = "/" + name
	dbURL := u.String()

	schema, err := etlsql.Example("schema.sql")
	if err != nil {
		drop()
		return "", nil, err
	}
	db, err := openDB(ctx, dbURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	_, err = db.ExecContext(ctx, schema)
	db.Close()
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("example schema: %w", err)
	}
	st, err := state.Open(ctx, dbURL, "")
	if err != nil {
		drop()
		return "", nil, err
	}
	_, err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		drop()
		return "", nil, err
	}
	return dbURL, drop, nil
}

// openDB connects to the database at dsn.
func openDB(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}
