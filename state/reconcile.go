package state

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lib/pq"
)

// A reconcile compares the whole source with sent_records. While it reads
// the source it marks each external id it sees (MarkSeen); the sent records
// not so marked are missing from the source, deleted there (CountMissing,
// Missing). ClearSeen drops the marks when the reconcile ends.

// MarkSeen records that reconcile run runID saw these external ids of
// stream in the source. Ids already marked are ignored.
func (s *Store) MarkSeen(ctx context.Context, runID int64, stream string, externalIDs []string) error {
	if len(externalIDs) == 0 {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q.markSeen, runID, stream, pq.Array(externalIDs)); err != nil {
		return fmt.Errorf("state: mark %d %s seen by run %d: %w", len(externalIDs), stream, runID, err)
	}
	return nil
}

const markSeen = `INSERT INTO {s}.reconcile_seen (run_id, stream, external_id)
SELECT $1, $2, id FROM unnest($3::text[]) AS id
ON CONFLICT DO NOTHING`

// CountMissing returns how many of job's sent records of stream reconcile
// run runID did not see in the source, and how many sent records there are.
func (s *Store) CountMissing(ctx context.Context, runID int64, job, stream string) (missing, total int64, err error) {
	// The marks were all written since the table was last analyzed, if
	// ever: without fresh statistics the planner may join them row by row
	// with the sent records, in time growing with the square of their
	// number.
	if _, err := s.db.ExecContext(ctx, s.q.analyzeSeen); err != nil {
		return 0, 0, fmt.Errorf("state: analyze reconcile_seen: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, s.q.countMissing, job, stream, runID).Scan(&missing, &total); err != nil {
		return 0, 0, fmt.Errorf("state: count %s of %s missing from the source: %w", stream, job, err)
	}
	return missing, total, nil
}

const countMissing = `SELECT count(*) FILTER (WHERE seen.external_id IS NULL), count(*)
FROM {s}.sent_records AS r
LEFT JOIN {s}.reconcile_seen AS seen ON seen.run_id = $3 AND seen.stream = r.stream AND seen.external_id = r.external_id
WHERE r.job = $1 AND r.stream = $2`

// Missing returns, in external id order, up to limit of job's sent records
// of stream that reconcile run runID did not see, starting after the
// external id after ("" for the first).
func (s *Store) Missing(ctx context.Context, runID int64, job, stream, after string, limit int) ([]SentRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q.missing, job, stream, runID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("state: %s of %s missing from the source: %w", stream, job, err)
	}
	defer rows.Close()
	var recs []SentRecord
	for rows.Next() {
		var (
			r     SentRecord
			delta []byte
		)
		if err := rows.Scan(&r.ExternalID, &r.SourceKey, &r.Hash, &delta); err != nil {
			return nil, fmt.Errorf("state: %s of %s missing from the source: %w", stream, job, err)
		}
		if delta != nil {
			r.Delta = json.RawMessage(delta)
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

const missing = `SELECT r.external_id, coalesce(r.source_key, ''), r.hash, r.delta
FROM {s}.sent_records AS r
WHERE r.job = $1 AND r.stream = $2 AND r.external_id > $4
  AND NOT EXISTS (SELECT 1 FROM {s}.reconcile_seen AS seen
                  WHERE seen.run_id = $3 AND seen.stream = r.stream AND seen.external_id = r.external_id)
ORDER BY r.external_id
LIMIT $5`

// Forget removes the sent records of these external ids: the API has been
// told they are gone (sent disabled), so that a later reconcile does not
// find them missing again, and a row that comes back is sent as new.
func (s *Store) Forget(ctx context.Context, job, stream string, externalIDs []string) error {
	return s.forgetIDs(ctx, s.db, job, stream, externalIDs)
}

// forgetIDs does what Forget does through q.
func (s *Store) forgetIDs(ctx context.Context, q conn, job, stream string, externalIDs []string) error {
	if len(externalIDs) == 0 {
		return nil
	}
	if _, err := q.ExecContext(ctx, s.q.forget, job, stream, pq.Array(externalIDs)); err != nil {
		return fmt.Errorf("state: forget %d %s of %s: %w", len(externalIDs), stream, job, err)
	}
	return nil
}

const forget = `DELETE FROM {s}.sent_records WHERE job = $1 AND stream = $2 AND external_id = ANY($3::text[])`

// SetRunWarning stores what a run found wrong with the job itself although
// it went on (runs.warning); "" for none.
func (s *Store) SetRunWarning(ctx context.Context, runID int64, warning string) error {
	if _, err := s.db.ExecContext(ctx, s.q.setRunWarning, runID, warning); err != nil {
		return fmt.Errorf("state: warning of run %d: %w", runID, err)
	}
	return nil
}

// SetRunDetails stores what a run found beyond its counts, as JSON.
func (s *Store) SetRunDetails(ctx context.Context, runID int64, details json.RawMessage) error {
	if _, err := s.db.ExecContext(ctx, s.q.setRunDetails, runID, []byte(details)); err != nil {
		return fmt.Errorf("state: details of run %d: %w", runID, err)
	}
	return nil
}
