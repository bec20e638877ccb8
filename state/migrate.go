package state

import (
	"context"
	"fmt"

	etlsql "github.com/algoreg/algoreg-etl/sql"
)

// migrateLockClass is the first key of the transaction-level advisory lock
// that serialises migrations of one schema; the second is hashtext(schema).
const migrateLockClass = 0x616c6d67 // "almg"

// createVersionTable is the one table the migrator makes itself: it must
// exist before the migrator can tell which migrations are missing.
const createVersionTable = `CREATE TABLE IF NOT EXISTS {s}.schema_version (
	version    int         PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate creates the Store's schema if needed and applies the migrations
// embedded in the binary that it lacks, in version order, each with its
// record in schema_version in one transaction. It returns the versions it
// applied: none when the schema is current.
//
// Migrate is safe to run again and from several processes at once: each
// transaction first takes an advisory lock on the schema's name, so one
// process applies a migration and the others then find it applied.
func (s *Store) Migrate(ctx context.Context) (applied []int, err error) {
	ms, err := etlsql.Migrations()
	if err != nil {
		return nil, fmt.Errorf("state: migrate: %w", err)
	}
	for {
		v, err := s.migrateOne(ctx, ms)
		if err != nil {
			return applied, fmt.Errorf("state: migrate schema %s: %w", s.schema, err)
		}
		if v == 0 {
			return applied, nil
		}
		applied = append(applied, v)
	}
}

// migrateOne applies the first of ms that the schema lacks and returns its
// version, or 0 when none is missing.
func (s *Store) migrateOne(ctx context.Context, ms []etlsql.Migration) (version int, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	// The lock comes first: CREATE SCHEMA IF NOT EXISTS and CREATE TABLE IF
	// NOT EXISTS are not safe against a concurrent twin.
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, migrateLockClass, s.schema); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	// CREATE SCHEMA needs the CREATE privilege on the database even when the
	// schema exists, so a schema made beforehand by an administrator is
	// left alone.
	var exists bool
	if err := tx.GetContext(ctx, &exists, s.q.schemaExists, s.schema); err != nil {
		return 0, err
	}
	if !exists {
		if _, err := tx.ExecContext(ctx, s.q.createSchema); err != nil {
			return 0, err
		}
	}
	if _, err := tx.ExecContext(ctx, s.q.createVersionTable); err != nil {
		return 0, err
	}
	var have []int
	if err := tx.SelectContext(ctx, &have, s.q.versions); err != nil {
		return 0, err
	}
	m, ok := firstMissing(ms, have)
	if !ok {
		return 0, tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, s.q.searchPath); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return 0, fmt.Errorf("%s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, s.q.recordVersion, m.Version, m.Name); err != nil {
		return 0, fmt.Errorf("%s: record version: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("%s: commit: %w", m.Name, err)
	}
	return m.Version, nil
}

// firstMissing returns the first of ms whose version is not in have.
func firstMissing(ms []etlsql.Migration, have []int) (etlsql.Migration, bool) {
	applied := make(map[int]bool, len(have))
	for _, v := range have {
		applied[v] = true
	}
	for _, m := range ms {
		if !applied[m.Version] {
			return m, true
		}
	}
	return etlsql.Migration{}, false
}

// A VersionError reports that the state schema lacks migrations that this
// binary needs.
type VersionError struct {
	Schema string // the state schema
	Have   int    // the version up to which every migration is applied; 0 for none
	Want   int    // the latest migration this binary knows
}

// Error says which version the schema is at, which it needs, and what to run.
func (e *VersionError) Error() string {
	return fmt.Sprintf("state schema %s is at version %d, this binary needs %d: run `algoreg-etl migrate`", e.Schema, e.Have, e.Want)
}

// CheckVersion returns a *VersionError when the schema lacks any migration
// embedded in the binary, including when it does not exist at all. A schema
// newer than the binary passes: migrations only add to the schema.
func (s *Store) CheckVersion(ctx context.Context) error {
	ms, err := etlsql.Migrations()
	if err != nil {
		return fmt.Errorf("state: check version: %w", err)
	}
	var exists bool
	if err := s.db.GetContext(ctx, &exists, s.q.versionTableExists); err != nil {
		return fmt.Errorf("state: check version of schema %s: %w", s.schema, err)
	}
	var have []int
	if exists {
		if err := s.db.SelectContext(ctx, &have, s.q.versions); err != nil {
			return fmt.Errorf("state: check version of schema %s: %w", s.schema, err)
		}
	}
	m, missing := firstMissing(ms, have)
	if !missing {
		return nil
	}
	e := &VersionError{Schema: s.schema, Want: ms[len(ms)-1].Version}
	for _, prev := range ms {
		if prev.Version >= m.Version {
			break
		}
		e.Have = prev.Version
	}
	return e
}
