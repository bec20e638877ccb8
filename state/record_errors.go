package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Stages at which a record error arises, stored in record_errors.stage.
const (
	StageExtract    = "extract"    // the source row could not be read again
	StageTransform  = "transform"  // refused before sending
	StageDependency = "dependency" // waiting for a customer the record names
	StageAPI        = "api"        // reported by the Algoreg API
)

// Severities of a record error, stored in record_errors.severity.
const (
	SeverityError   = "error"   // the record was not accepted
	SeverityWarning = "warning" // the record was accepted with a remark
)

// A RecordError is one problem with one record of a run: a row that failed
// validation, or an error or warning the API returned for a record.
type RecordError struct {
	ID         int64 // set by the database
	RunID      int64
	Job        string
	Stream     string // "customers" or "relations"
	SourceKey  string // the source row's key; identifies it when ExternalID is missing
	ExternalID string
	Stage      string // one of the Stage constants
	Code       string // a short machine-readable reason
	Field      string // the input field concerned, if known
	Message    string
	Severity   string          // SeverityError (the default when empty) or SeverityWarning
	Payload    json.RawMessage // the record as sent or as it would have been; nil for none
	// Hash is the 16-byte content hash of the failing row: of its record,
	// or of the source row when it could not be mapped; nil for none.
	// [Store.RecordFailures] compares it with the row's open errors.
	Hash      []byte
	CreatedAt time.Time // set by the database

	// Attempt is the attempt of the source row that failed (see
	// [Store.RecordFailures]); set by the database, 1 for an error stored
	// by RecordErrors. LastSeenAt and LastRunID tell when and by which run
	// the same problem was last met again, nil and 0 if never.
	Attempt    int
	LastSeenAt *time.Time
	LastRunID  int64

	// ResolvedAt is when a later run settled the record (see
	// [Store.Accept] and [Store.Resolve]) or superseded the error (see
	// [Store.RecordFailures]); nil while the error is open, and always for
	// warnings. ResolvedRunID is the run that settled it, and Resolution
	// how: one of the Resolution constants. RecordErrors ignores them.
	ResolvedAt    *time.Time
	ResolvedRunID int64
	Resolution    string
}

// How a resolved error was settled, stored in record_errors.resolution.
const (
	ResolutionAccepted   = "accepted"   // the API accepted the row's record
	ResolutionUnchanged  = "unchanged"  // the row was unchanged since its record was last accepted
	ResolutionSuperseded = "superseded" // the row failed again with other content or for another reason
	ResolutionMoved      = "moved"      // the source no longer returns the row; the API accepted its external id from another row
)

// RecordErrors stores errs in one INSERT statement, each as a new row: the
// findings of verify and offline runs, and warnings. A run's failures to
// deliver go through [Store.RecordFailures]. Empty SourceKey, ExternalID
// and Field are stored as NULL, an empty Severity as [SeverityError]; the
// fields set by the database are ignored. Rows get IDs in the order of
// errs.
//
// The batch is one INSERT ... SELECT FROM unnest($1, ..., $11), one array
// per column, rather than COPY (pq.CopyInSchema). Measured on loopback
// against PostgreSQL 15, median of 60 alternating batches: equal for 1 to
// 50 rows (0.5 ms and 1 ms), COPY about 10% faster at 500 rows (5.9 ms
// against 6.8 ms). But COPY needs a transaction and four round trips where
// the INSERT needs two, which outweighs that as soon as the state database
// is across a network, and most batches of record errors are small.
func (s *Store) RecordErrors(ctx context.Context, errs []RecordError) error {
	return s.recordErrors(ctx, s.db, errs)
}

// recordErrors does what RecordErrors does through q.
func (s *Store) recordErrors(ctx context.Context, q conn, errs []RecordError) error {
	if len(errs) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, s.q.insertRecordErrors, insertArgs(errs, nil)...); err != nil {
		return fmt.Errorf("state: record %d errors of run %d: %w", len(errs), errs[0].RunID, err)
	}
	return nil
}

// insertArgs returns the arguments of insertRecordErrors for errs, each
// with its attempt (nil: 1 each).
func insertArgs(errs []RecordError, attempts []int64) []any {
	n := len(errs)
	if attempts == nil {
		attempts = make([]int64, n)
		for i := range attempts {
			attempts[i] = 1
		}
	}
	text := func() []string { return make([]string, n) }
	runIDs, payloads := make([]int64, n), make([]sql.NullString, n)
	jobs, streams, sourceKeys, externalIDs := text(), text(), text(), text()
	stages, severities, codes, fields, msgs := text(), text(), text(), text(), text()
	hashes := make([][]byte, n)
	for i, e := range errs {
		runIDs[i], jobs[i], streams[i], sourceKeys[i], externalIDs[i] = e.RunID, e.Job, e.Stream, e.SourceKey, e.ExternalID
		stages[i], severities[i], codes[i], fields[i], msgs[i] = e.Stage, e.Severity, e.Code, e.Field, e.Message
		if e.Payload != nil {
			payloads[i] = sql.NullString{String: string(e.Payload), Valid: true}
		}
		hashes[i] = e.Hash
	}
	return []any{pq.Array(runIDs), pq.Array(jobs), pq.Array(streams), pq.Array(sourceKeys), pq.Array(externalIDs),
		pq.Array(stages), pq.Array(severities), pq.Array(codes), pq.Array(fields), pq.Array(msgs), pq.Array(payloads),
		pq.ByteaArray(hashes), pq.Array(attempts)}
}

// insertRecordErrors stores one row per element of its arrays; an empty
// hash is stored as NULL.
const insertRecordErrors = `INSERT INTO {s}.record_errors
	(run_id, job, stream, source_key, external_id, stage, severity, code, field, message, payload, hash, attempt)
SELECT run_id, job, stream, NULLIF(source_key, ''), NULLIF(external_id, ''), stage,
	coalesce(NULLIF(severity, ''), 'error'), code, NULLIF(field, ''), message, payload::jsonb,
	NULLIF(hash, ''::bytea), attempt
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
		$12::bytea[], $13::int[])
	WITH ORDINALITY AS t(run_id, job, stream, source_key, external_id, stage, severity, code, field, message, payload, hash, attempt, n)
ORDER BY n`

// RecordErrorsOfRun returns the record errors of a run in the order they
// were recorded: those it recorded, and the open errors of earlier runs it
// met again (see [Store.RecordFailures]), with their first run's RunID.
func (s *Store) RecordErrorsOfRun(ctx context.Context, runID int64) ([]RecordError, error) {
	rows, err := s.db.QueryContext(ctx, s.q.recordErrorsOfRun, runID)
	if err != nil {
		return nil, fmt.Errorf("state: record errors of run %d: %w", runID, err)
	}
	defer rows.Close()
	var errs []RecordError
	for rows.Next() {
		var (
			e       RecordError
			payload []byte
		)
		if err := rows.Scan(&e.ID, &e.RunID, &e.Job, &e.Stream, &e.SourceKey, &e.ExternalID, &e.Stage, &e.Severity,
			&e.Code, &e.Field, &e.Message, &payload, &e.CreatedAt, &e.ResolvedAt, &e.ResolvedRunID,
			&e.Hash, &e.Attempt, &e.LastSeenAt, &e.LastRunID, &e.Resolution); err != nil {
			return nil, fmt.Errorf("state: record errors of run %d: %w", runID, err)
		}
		if payload != nil {
			e.Payload = json.RawMessage(payload)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		e.ResolvedAt, e.LastSeenAt = utc(e.ResolvedAt), utc(e.LastSeenAt)
		errs = append(errs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: record errors of run %d: %w", runID, err)
	}
	return errs, nil
}

const recordErrorColumns = `id, run_id, job, stream, coalesce(source_key, ''), coalesce(external_id, ''), stage, severity,
	code, coalesce(field, ''), message, payload, created_at, resolved_at, coalesce(resolved_run_id, 0),
	hash, attempt, last_seen_at, coalesce(last_run_id, 0), coalesce(resolution, '')`
