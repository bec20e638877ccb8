package extract

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/appname"
)

// ReadOnlySetting is the server setting Open turns on for every connection to
// the source: each transaction is read-only, so a job's query cannot write,
// whatever it calls (a function that inserts, nextval, ...).
const ReadOnlySetting = "default_transaction_read_only"

// Open returns a pool of connections to the source database at dsn (a
// postgres:// URL or a key=value string) on which every transaction is
// read-only: Open sets default_transaction_read_only=on as a parameter of
// each connection's start, over any value the DSN gives (as a parameter or
// in options), so the pipeline cannot write to the source even under a role
// that could. The source role should still hold only SELECT on the tables
// its queries read (README, "Least privilege").
//
// Each session is named after the work of its query's context
// (package appname). Open checks that the database answers. Its errors never hold the DSN, so
// they cannot leak its password; callers name the database themselves.
func Open(ctx context.Context, dsn string) (*sqlx.DB, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("extract: connection string: %w", err)
	}
	if cfg.Runtime == nil {
		cfg.Runtime = make(map[string]string)
	}
	// A parameter of the startup packet is applied after the options
	// parameter, so this value wins over "-c default_transaction_read_only=off".
	cfg.Runtime[ReadOnlySetting] = "on"
	db, err := appname.Open(cfg)
	if err != nil {
		return nil, fmt.Errorf("extract: connection string: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("extract: connect: %w", err)
	}
	return db, nil
}
