package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/lib/pq"
)

// A SentRecord is the last version of a record that the API accepted, as
// kept in the sent_records table: what skip-unchanged compares a new
// version with, and what the next send needs to compute removals.
type SentRecord struct {
	ExternalID string          // the record's external_id in Algoreg
	SourceKey  string          // the key of the source row it was sent from; "" for unknown
	Hash       []byte          // the 16-byte content hash of the accepted input
	Delta      json.RawMessage // written by the pipeline and returned as is; nil for none
}

// hashSize is the length of a content hash, as sent_records checks it.
const hashSize = 16

// Sent returns the stored records of job's stream whose external ids are
// in externalIDs, keyed by external id; ids never accepted are absent from
// the map. It is one query, meant for batches of up to a few thousand ids.
func (s *Store) Sent(ctx context.Context, job, stream string, externalIDs []string) (map[string]SentRecord, error) {
	sent := make(map[string]SentRecord)
	if len(externalIDs) == 0 {
		return sent, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.sent, job, stream, pq.Array(externalIDs))
	if err != nil {
		return nil, fmt.Errorf("state: sent records of %s/%s: %w", job, stream, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r     SentRecord
			delta []byte
		)
		if err := rows.Scan(&r.ExternalID, &r.SourceKey, &r.Hash, &delta); err != nil {
			return nil, fmt.Errorf("state: sent records of %s/%s: %w", job, stream, err)
		}
		if delta != nil {
			r.Delta = json.RawMessage(delta)
		}
		sent[r.ExternalID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: sent records of %s/%s: %w", job, stream, err)
	}
	return sent, nil
}

// sentRecords looks each id up by the primary key, whatever the planner's
// statistics say: with "external_id = ANY($3)" a table whose statistics are
// stale (a first backfill, before autovacuum's analyze) is scanned whole
// for every chunk, which at a million records costs about a second a call.
const sentRecords = `SELECT r.external_id, r.source_key, r.hash, r.delta
FROM unnest($3::text[]) AS ids(external_id)
CROSS JOIN LATERAL (
	SELECT s.external_id, coalesce(s.source_key, '') AS source_key, s.hash, s.delta
	FROM {s}.sent_records AS s
	WHERE s.job = $1 AND s.stream = $2 AND s.external_id = ids.external_id
	LIMIT 1
) AS r`

// Accept records that the API accepted recs in run runID, and resolves the
// errors they settle, in one transaction. It stores each of recs in
// sent_records, replacing what was stored for its external id, with the
// run and the time; and it marks resolved by runID, now, as accepted, the
// open error-severity record errors of job's stream whose source key is
// the SourceKey of one of recs, or that have no source key and the
// ExternalID of one of recs. An error of another source row with the same
// external id stays open: that row is not settled. Warnings stay as they
// are. It returns how many errors of earlier runs it resolved.
//
// Each record needs an ExternalID and a 16-byte Hash; when recs holds an
// external id twice, the last one is stored. The batch is one statement,
// however many records it holds.
func (s *Store) Accept(ctx context.Context, runID int64, job, stream string, recs []SentRecord) (resolved int64, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("state: accept %d records of %s/%s in run %d: %w", len(recs), job, stream, runID, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if resolved, err = s.accept(ctx, tx, runID, job, stream, recs); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("state: accept %d records of %s/%s in run %d: %w", len(recs), job, stream, runID, err)
	}
	return resolved, nil
}

// accept writes what Accept does through q, a transaction.
func (s *Store) accept(ctx context.Context, q conn, runID int64, job, stream string, recs []SentRecord) (resolved int64, err error) {
	if len(recs) == 0 {
		return 0, nil
	}
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("state: accept %d records of %s/%s in run %d: %w", len(recs), job, stream, runID, err)
	}
	// ON CONFLICT cannot update one row twice in a statement: keep the last
	// of each external id.
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		if r.ExternalID == "" {
			return fail(fmt.Errorf("record %d (source key %q) has no external id", i, r.SourceKey))
		}
		if len(r.Hash) != hashSize {
			return fail(fmt.Errorf("record %q: hash of %d bytes, want %d", r.ExternalID, len(r.Hash), hashSize))
		}
		last[r.ExternalID] = i
	}
	var (
		ids, sourceKeys, keys []string
		hashes                [][]byte
		deltas                []sql.NullString
	)
	for i, r := range recs {
		if r.SourceKey != "" {
			keys = append(keys, r.SourceKey)
		}
		if last[r.ExternalID] != i {
			continue
		}
		ids, sourceKeys, hashes = append(ids, r.ExternalID), append(sourceKeys, r.SourceKey), append(hashes, r.Hash)
		d := sql.NullString{String: string(r.Delta), Valid: r.Delta != nil}
		deltas = append(deltas, d)
	}

	var run bool
	if err := q.QueryRowContext(ctx, s.q.accept, job, stream, runID,
		pq.Array(ids), pq.ByteaArray(hashes), pq.Array(deltas), pq.Array(sourceKeys), pq.Array(keys)).Scan(&resolved, &run); err != nil {
		return fail(err)
	}
	if !run {
		return fail(fmt.Errorf("no such run: %w", sql.ErrNoRows))
	}
	return resolved, nil
}

// accept stores the records and resolves the errors they settle in one
// statement, a round trip per chunk, and counts the errors of earlier runs
// it resolved; a data-modifying WITH runs to completion whether or not the
// query reads it. It writes nothing, and says so, when run $3 does not
// exist: checked once here, where a foreign key would check each record.
const accept = `WITH run AS (
	SELECT id FROM {s}.runs WHERE id = $3
), upserted AS (
	INSERT INTO {s}.sent_records AS r (job, stream, external_id, hash, delta, source_key, run_id, sent_at)
	SELECT $1, $2, t.external_id, t.hash, t.delta::jsonb, NULLIF(t.source_key, ''), run.id, now()
	FROM run, unnest($4::text[], $5::bytea[], $6::text[], $7::text[]) AS t(external_id, hash, delta, source_key)
	ON CONFLICT (job, stream, external_id) DO UPDATE SET
		hash = excluded.hash, delta = excluded.delta, source_key = excluded.source_key,
		run_id = excluded.run_id, sent_at = excluded.sent_at
), resolved AS (
	UPDATE {s}.record_errors SET resolved_at = now(), resolved_run_id = $3, resolution = 'accepted'
	WHERE job = $1 AND stream = $2 AND resolved_at IS NULL AND severity = 'error'
		AND (source_key = ANY($8::text[]) OR (source_key IS NULL AND external_id = ANY($4::text[])))
		AND EXISTS (SELECT FROM run)
	RETURNING run_id
)
SELECT (SELECT count(*) FROM resolved WHERE run_id <> $3), EXISTS (SELECT FROM run)`

// Resolve marks resolved by runID, now, as unchanged, the open
// error-severity record errors of job's stream whose source key is one of
// sourceKeys, without touching sent_records, and returns how many errors
// of earlier runs it resolved. A run calls it for rows it finds unchanged
// since they were last accepted: whatever failed for them since has been
// settled.
func (s *Store) Resolve(ctx context.Context, runID int64, job, stream string, sourceKeys []string) (int64, error) {
	return s.resolve(ctx, s.db, runID, job, stream, ResolutionUnchanged, sourceKeys)
}

// ResolveMoved marks resolved by runID, now, as moved, the open
// error-severity record errors of job's stream whose source key is one of
// sourceKeys, and returns how many it resolved. A run calls it for rows
// the source no longer returns whose external id the API accepted from
// another source row: the row moved.
func (s *Store) ResolveMoved(ctx context.Context, runID int64, job, stream string, sourceKeys []string) (int64, error) {
	return s.resolve(ctx, s.db, runID, job, stream, ResolutionMoved, sourceKeys)
}

// resolve resolves, through q, the open errors of sourceKeys as resolution.
func (s *Store) resolve(ctx context.Context, q conn, runID int64, job, stream, resolution string, sourceKeys []string) (int64, error) {
	if len(sourceKeys) == 0 {
		return 0, nil
	}
	var n int64
	if err := q.QueryRowContext(ctx, s.q.resolve, job, stream, runID, pq.Array(sourceKeys), resolution).Scan(&n); err != nil {
		return 0, fmt.Errorf("state: resolve errors of %d source keys of %s/%s in run %d: %w", len(sourceKeys), job, stream, runID, err)
	}
	return n, nil
}

const resolve = `WITH resolved AS (
	UPDATE {s}.record_errors SET resolved_at = now(), resolved_run_id = $3, resolution = $5
	WHERE job = $1 AND stream = $2 AND resolved_at IS NULL AND severity = 'error'
		AND source_key = ANY($4::text[])
	RETURNING run_id
)
SELECT count(*) FROM resolved WHERE run_id <> $3`
