package state

import (
	"context"
	"fmt"
	"time"
)

// An OpenError sums up the unresolved error-severity record errors of one
// source row: the row's key, its attempts, and the latest problem.
type OpenError struct {
	SourceKey  string
	ExternalID string // of the latest error; "" when unknown
	Code       string // of the latest error
	Field      string // of the latest error; "" when unknown
	Message    string // of the latest error
	// LastRunID is the latest run that recorded one of the errors, or met
	// one again (see [Store.RecordFailures]).
	LastRunID int64
	// Attempts is the row's highest open attempt: how many times it failed,
	// each time with other content or for another reason.
	Attempts  int
	FirstSeen time.Time
	LastSeen  time.Time // when LastRunID recorded or met the problem
}

// OpenErrors returns, one per source key, the open errors of job's stream
// that have failed fewer than maxAttempts attempts and that run runID has
// not met yet (0: any run): the rows a run should read again to retry
// them. They come least recently seen first, at most limit of them (limit
// <= 0: no limit).
//
// Errors recorded by dry runs (verify, offline, reconcile --dry-run) are
// findings, not failures of a delivery: they are left out. The latest error is the one recorded
// last. Errors without a source key cannot be read again by key and are
// left out; they are still resolved by external id when their record is
// accepted ([Store.Accept]).
func (s *Store) OpenErrors(ctx context.Context, job, stream string, maxAttempts int, runID int64, limit int) ([]OpenError, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	errs, err := s.openErrors(ctx, s.q.openErrors, job, stream, maxAttempts, lim, runID)
	if err != nil {
		return nil, fmt.Errorf("state: open errors of %s/%s: %w", job, stream, err)
	}
	return errs, nil
}

// Held returns, one per source key, the rows of job's stream that run
// runID last held back for a customer not yet accepted (open errors of
// stage dependency that the run recorded or met again), least recently
// seen first, at most limit of them (limit <= 0: no limit): the rows the
// run tries again once other records of the run were accepted.
func (s *Store) Held(ctx context.Context, runID int64, job, stream string, limit int) ([]OpenError, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	errs, err := s.openErrors(ctx, s.q.heldErrors, job, stream, runID, lim)
	if err != nil {
		return nil, fmt.Errorf("state: rows of %s/%s held by run %d: %w", job, stream, runID, err)
	}
	return errs, nil
}

// StuckErrors returns, one per source key, the open errors of job's stream
// that have failed maxAttempts attempts or more, least recently seen first:
// the rows that retries have given up on and that need a person. Attempts
// are counted as in [Store.OpenErrors].
func (s *Store) StuckErrors(ctx context.Context, job, stream string, maxAttempts int) ([]OpenError, error) {
	errs, err := s.openErrors(ctx, s.q.stuckErrors, job, stream, maxAttempts)
	if err != nil {
		return nil, fmt.Errorf("state: stuck errors of %s/%s: %w", job, stream, err)
	}
	return errs, nil
}

func (s *Store) openErrors(ctx context.Context, query string, args ...any) ([]OpenError, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var errs []OpenError
	for rows.Next() {
		var e OpenError
		if err := rows.Scan(&e.SourceKey, &e.ExternalID, &e.Code, &e.Field, &e.Message, &e.LastRunID, &e.Attempts, &e.FirstSeen, &e.LastSeen); err != nil {
			return nil, err
		}
		e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
		errs = append(errs, e)
	}
	return errs, rows.Err()
}

// openErrorsOf sums up the open errors of $1/$2 per source key, using the
// partial index record_errors_open_source_key; {where} and {having} select
// the keys and {limit} ends the query. The latest error is fetched by its
// id after the keys are chosen, so only those rows are read twice.
const openErrorsOf = `SELECT k.source_key, coalesce(e.external_id, ''), e.code, coalesce(e.field, ''), e.message,
	k.last_run, k.attempts, k.first_seen, k.last_seen
FROM (
	SELECT source_key, max(attempt) AS attempts, min(created_at) AS first_seen,
		max(coalesce(last_seen_at, created_at)) AS last_seen, max(coalesce(last_run_id, run_id)) AS last_run,
		max(id) AS latest
	FROM {s}.record_errors
	WHERE job = $1 AND stream = $2 AND resolved_at IS NULL AND severity = 'error' AND source_key IS NOT NULL {where}
		AND NOT EXISTS (SELECT 1 FROM {s}.runs AS r WHERE r.id = run_id AND r.dry_run)
	GROUP BY source_key
	HAVING {having}
	ORDER BY last_seen, source_key
	{limit}
) AS k
JOIN {s}.record_errors AS e ON e.id = k.latest
ORDER BY k.last_seen, k.source_key`
