package state

import (
	"context"
	"fmt"
	"time"
)

// An OpenError sums up the unresolved error-severity record errors of one
// source row: the row's key, how many runs failed on it, and the latest
// problem.
type OpenError struct {
	SourceKey  string
	ExternalID string // of the latest error; "" when unknown
	Code       string // of the latest error
	Field      string // of the latest error; "" when unknown
	Message    string // of the latest error
	RunID      int64  // the run that recorded the latest error
	Attempts   int    // the number of distinct runs that recorded an open error for the row
	FirstSeen  time.Time
	LastSeen   time.Time
}

// OpenErrors returns, one per source key, the open errors of job's stream
// that have failed fewer than maxAttempts times: the rows a run should
// read again to retry them. They come least recently seen first, at most
// limit of them (limit <= 0: no limit).
//
// Attempts counts runs, not rows of record_errors: one run may record
// several errors for one record (the API lists each problem), and that is
// one attempt. Errors recorded by verify and offline runs are findings, not
// failures of a delivery: they are left out. The latest error is the one
// recorded last. Errors without a
// source key cannot be read again by key and are left out; they are still
// resolved by external id when their record is accepted ([Store.Accept]).
func (s *Store) OpenErrors(ctx context.Context, job, stream string, maxAttempts, limit int) ([]OpenError, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	errs, err := s.openErrors(ctx, s.q.openErrors, job, stream, maxAttempts, lim)
	if err != nil {
		return nil, fmt.Errorf("state: open errors of %s/%s: %w", job, stream, err)
	}
	return errs, nil
}

// StuckErrors returns, one per source key, the open errors of job's stream
// that have failed maxAttempts times or more, least recently seen first:
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
		if err := rows.Scan(&e.SourceKey, &e.ExternalID, &e.Code, &e.Field, &e.Message, &e.RunID, &e.Attempts, &e.FirstSeen, &e.LastSeen); err != nil {
			return nil, err
		}
		e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
		errs = append(errs, e)
	}
	return errs, rows.Err()
}

// openErrorsOf sums up the open errors of $1/$2 per source key, using the
// partial index record_errors_open_source_key; {having} selects the keys
// and {limit} ends the query. The latest error is fetched by its id after
// the keys are chosen, so only those rows are read twice.
const openErrorsOf = `SELECT k.source_key, coalesce(e.external_id, ''), e.code, coalesce(e.field, ''), e.message,
	e.run_id, k.attempts, k.first_seen, k.last_seen
FROM (
	SELECT source_key, count(DISTINCT run_id) AS attempts, min(created_at) AS first_seen, max(created_at) AS last_seen,
		max(id) AS latest
	FROM {s}.record_errors
	WHERE job = $1 AND stream = $2 AND resolved_at IS NULL AND severity = 'error' AND source_key IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM {s}.runs AS r WHERE r.id = run_id AND r.kind IN ('verify', 'offline'))
	GROUP BY source_key
	HAVING {having}
	ORDER BY last_seen, source_key
	{limit}
) AS k
JOIN {s}.record_errors AS e ON e.id = k.latest
ORDER BY k.last_seen, k.source_key`
