// Package state keeps what algoreg-etl remembers between runs, in a schema of
// a PostgreSQL database: how far each job has read the source (watermarks),
// one row per run with its window, counts and outcome, the records that
// could not be sent or that the API refused (record errors, open until a
// later run settles them), and the last version of each record the API
// accepted (sent records), so that unchanged rows are not sent again. It
// also gives each job a lock, so that two processes never run one job at
// once.
//
// The schema is created and upgraded by [Store.Migrate] from the migrations
// embedded in the binary; [Store.CheckVersion] tells a process that it is
// talking to a schema older than it needs.
package state

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/appname"
)

// DefaultSchema is the PostgreSQL schema that holds the state when none is
// configured.
const DefaultSchema = "algoreg_etl"

// validSchema is the form a schema name must have: an unquoted, lower-case
// PostgreSQL identifier, so that it reads the same quoted or not.
var validSchema = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// A Store reads and writes the state of algoreg-etl in one schema of a
// PostgreSQL database. It is safe for concurrent use.
type Store struct {
	db     *sqlx.DB
	schema string
	q      queries
}

// Open connects to the state database at dsn (a lib/pq URL or key=value
// string) and returns a Store for schema, or for [DefaultSchema] when schema
// is empty. It checks that the database answers, but not that the schema
// exists or is current: see [Store.Migrate] and [Store.CheckVersion].
//
// Errors never contain the DSN's password.
func Open(ctx context.Context, dsn, schema string) (*Store, error) {
	if schema == "" {
		schema = DefaultSchema
	}
	if len(schema) > 63 || !validSchema.MatchString(schema) {
		return nil, fmt.Errorf("state: schema name %q: must match [a-z_][a-z0-9_]* and be at most 63 bytes", schema)
	}
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, redact(fmt.Errorf("state: open %s: %w", redactDSN(dsn), err), dsn)
	}
	// Each session is named after the work of its query's context.
	db, err := appname.Open(cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("state: open %s: %w", redactDSN(dsn), err), dsn)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, redact(fmt.Errorf("state: connect to %s: %w", redactDSN(dsn), err), dsn)
	}
	// A run writes state from each of its chunks in process: keep their
	// connections, rather than database/sql's default of 2 idle, so that
	// each write does not start a new server backend.
	db.SetMaxIdleConns(16)
	return &Store{db: db, schema: schema, q: newQueries(schema)}, nil
}

// Close closes the Store's connections. Locks still held are released by
// the server when their connections close.
func (s *Store) Close() error { return s.db.Close() }

// DB returns the Store's connection pool, for reports and tests.
func (s *Store) DB() *sqlx.DB { return s.db }

// Schema returns the name of the PostgreSQL schema that holds the state.
func (s *Store) Schema() string { return s.schema }

// queries holds the Store's SQL, with table names qualified by its schema.
type queries struct {
	schemaExists, createSchema, createVersionTable, versionTableExists, versions, recordVersion, searchPath string

	watermark string

	startRun, setRunWindow, checkpointRun, checkpointRunWatermark, finishRun, setRiskScan, runStatus, run, runs, runsOfJob, abandonRuns string
	setRunProgress, lastInterruptedBackfill                                                                                             string

	insertRecordErrors, recordErrorsOfRun string
	openErrors, heldErrors, stuckErrors   string

	lockOpenErrors, seenAgain, insertSeenBy, supersede, runErrors, release string
	claim, setTenant, tenantJobs, accepted                                 string
	claims, seen                                                           scratchQueries

	sent, accept, resolve string

	markSeen, analyzeSeen, countMissing, missing, forget, setRunDetails, setRunWarning string
}

// newQueries builds the Store's SQL once, replacing "{s}" with the quoted
// schema name.
func newQueries(schema string) queries {
	s := strings.NewReplacer("{s}", pq.QuoteIdentifier(schema)).Replace
	return queries{
		schemaExists:       `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`,
		createSchema:       s(`CREATE SCHEMA {s}`),
		createVersionTable: s(createVersionTable),
		versionTableExists: s(`SELECT to_regclass('{s}.schema_version') IS NOT NULL`),
		versions:           s(`SELECT version FROM {s}.schema_version ORDER BY version`),
		recordVersion:      s(`INSERT INTO {s}.schema_version (version, name) VALUES ($1, $2)`),
		searchPath:         s(`SET LOCAL search_path TO {s}`),

		watermark: s(`SELECT updated_at, key FROM {s}.watermarks WHERE job = $1 AND stream = $2`),

		startRun:               s(startRun),
		setRunWindow:           s(setRunWindow),
		checkpointRun:          s(checkpointRun),
		checkpointRunWatermark: s(checkpointRunWatermark),
		finishRun:              s(finishRun),
		setRiskScan:            s(`UPDATE {s}.runs SET disable_risk_scan = $2 WHERE id = $1`),
		runStatus:              s(`SELECT status FROM {s}.runs WHERE id = $1`),
		run:                    s(`SELECT ` + runColumns + ` FROM {s}.runs WHERE id = $1`),
		runs:                   s(`SELECT ` + runColumns + ` FROM {s}.runs ORDER BY started_at DESC, id DESC LIMIT $1`),
		runsOfJob:              s(`SELECT ` + runColumns + ` FROM {s}.runs WHERE job = $2 ORDER BY started_at DESC, id DESC LIMIT $1`),
		abandonRuns:            s(abandonRuns),

		setRunProgress:          s(setRunProgress),
		lastInterruptedBackfill: s(lastInterruptedBackfill),

		insertRecordErrors: s(insertRecordErrors),
		recordErrorsOfRun: s(`SELECT ` + recordErrorColumns + ` FROM {s}.record_errors
			WHERE run_id = $1 OR id IN (SELECT error_id FROM {s}.record_error_runs WHERE run_id = $1) ORDER BY id`),
		openErrors: s(strings.NewReplacer("{where}", "", "{limit}", "LIMIT $4",
			"{having}", "max(attempt) < $3 AND ($5 = 0 OR max(coalesce(last_run_id, run_id)) <> $5)").Replace(openErrorsOf)),
		heldErrors: s(strings.NewReplacer("{where}", "AND stage = 'dependency'", "{limit}", "LIMIT $4",
			"{having}", "max(coalesce(last_run_id, run_id)) = $3").Replace(openErrorsOf)),
		stuckErrors:    s(strings.NewReplacer("{where}", "", "{having}", "max(attempt) >= $3", "{limit}", "").Replace(openErrorsOf)),
		lockOpenErrors: s(lockOpenErrors),
		insertSeenBy:   s(insertSeenBy),
		seenAgain:      s(seenAgain),
		supersede:      s(supersede),
		runErrors:      s(runErrors),
		release:        s(release),
		claim:          s(claim),
		claims:         newScratchQueries(s, "run_claims"),
		seen:           newScratchQueries(s, "reconcile_seen"),
		setTenant:      s(setTenant),
		tenantJobs:     s(tenantJobs),
		accepted:       s(accepted),

		sent:    s(sentRecords),
		accept:  s(accept),
		resolve: s(resolve),

		markSeen:      s(markSeen),
		analyzeSeen:   s(`ANALYZE {s}.reconcile_seen, {s}.sent_records`),
		countMissing:  s(countMissing),
		missing:       s(missing),
		forget:        s(forget),
		setRunDetails: s(`UPDATE {s}.runs SET details = $2 WHERE id = $1`),
		setRunWarning: s(`UPDATE {s}.runs SET warning = NULLIF($2, '') WHERE id = $1`),
	}
}
