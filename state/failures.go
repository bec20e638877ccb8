package state

import (
	"bytes"
	"context"
	"fmt"

	"github.com/lib/pq"
)

// The lifecycle of a record error. A source row that a run could not have
// accepted keeps one open error per reason (code) until a later run settles
// it: [Store.Accept] when the API accepts its record, [Store.Resolve] when
// it is found unchanged since it was accepted, or [Store.RecordFailures]
// when it fails again, with other content or for another reason, which
// supersedes the errors that no longer apply.
//
// An attempt is counted only when the row's content (hash) or the reason
// changed: a lookback that reads an unchanged failing row again, or a retry
// that finds the same reason, is not an attempt, and records no new row. A
// row whose open errors reach a job's stuck_after attempts is stuck: runs
// no longer retry it until [Store.Release].

// RecordFailures records the errors that run runID of job's stream met with
// the rows it tried, and returns how many errors it stored as new rows.
// Each of errs has the run, job and stream given; warnings, and errors
// without a source key, are stored as new rows as [Store.RecordErrors]
// does. The error-severity errors of one source key are the row's outcome,
// compared with the row's open errors (the findings of dry runs left
// out), in one transaction:
//
//   - an open error with the same code and hash (or no hash) is the same
//     problem met again: it is marked seen by the run (last_seen_at,
//     last_run_id, the latest message and hash, and a row of
//     record_error_runs) and no error is added;
//   - any other error is stored as a new row: the row failed with other
//     content or for another reason, a new attempt, numbered one after the
//     row's highest open attempt (1 for a row with none), which the open
//     errors met again take too;
//   - the row's open errors that are not met again are resolved by the run
//     as superseded.
func (s *Store) RecordFailures(ctx context.Context, runID int64, job, stream string, errs []RecordError) (stored int, err error) {
	if len(errs) == 0 {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("state: record %d failures of %s/%s in run %d: %w", len(errs), job, stream, runID, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if stored, err = s.recordFailures(ctx, tx, runID, job, stream, errs); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("state: record %d failures of %s/%s in run %d: %w", len(errs), job, stream, runID, err)
	}
	return stored, nil
}

// recordFailures writes what RecordFailures does through tx, a
// transaction.
func (s *Store) recordFailures(ctx context.Context, tx conn, runID int64, job, stream string, errs []RecordError) (stored int, err error) {
	if len(errs) == 0 {
		return 0, nil
	}
	fail := func(err error) (int, error) {
		return 0, fmt.Errorf("state: record %d failures of %s/%s in run %d: %w", len(errs), job, stream, runID, err)
	}
	rows := make(map[string][]int) // error-severity errors by source key
	var keys []string
	for i := range errs {
		e := &errs[i]
		e.RunID, e.Job, e.Stream = runID, job, stream
		if e.SourceKey == "" || (e.Severity != "" && e.Severity != SeverityError) {
			continue
		}
		if _, ok := rows[e.SourceKey]; !ok {
			keys = append(keys, e.SourceKey)
		}
		rows[e.SourceKey] = append(rows[e.SourceKey], i)
	}

	type openError struct {
		id      int64
		code    string
		hash    []byte
		attempt int64
	}
	open := make(map[string][]openError, len(keys))
	if len(keys) > 0 {
		rs, err := tx.QueryContext(ctx, s.q.lockOpenErrors, job, stream, pq.Array(keys))
		if err != nil {
			return fail(err)
		}
		for rs.Next() {
			var (
				key string
				o   openError
			)
			if err := rs.Scan(&o.id, &key, &o.code, &o.hash, &o.attempt); err != nil {
				rs.Close()
				return fail(err)
			}
			open[key] = append(open[key], o)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return fail(err)
		}
	}

	var (
		seenIDs            []int64
		seenMsgs, seenFlds []string
		seenHashes         [][]byte
		seenAttempts       []int64
		superseded         []int64
	)
	attempts := make([]int64, len(errs)) // of the errors to store; 0: met again, not stored
	for i := range attempts {
		attempts[i] = 1
	}
	for _, key := range keys {
		prev := open[key]
		var highest int64
		for _, o := range prev {
			highest = max(highest, o.attempt)
		}
		met := make(map[int64]bool, len(prev))
		var added []int
		firstSeen := len(seenIDs)
		for _, i := range rows[key] {
			e := errs[i]
			same := false
			for _, o := range prev {
				if o.code == e.Code && (o.hash == nil || bytes.Equal(o.hash, e.Hash)) && !met[o.id] {
					met[o.id], same = true, true
					seenIDs, seenMsgs, seenFlds, seenHashes = append(seenIDs, o.id), append(seenMsgs, e.Message), append(seenFlds, e.Field), append(seenHashes, e.Hash)
					break
				}
			}
			attempts[i] = 0
			if !same {
				added = append(added, i)
			}
		}
		// Every open error of the row carries the row's attempt.
		attempt := highest
		if len(added) > 0 {
			attempt++
		}
		for _, i := range added {
			attempts[i] = attempt
		}
		for range seenIDs[firstSeen:] {
			seenAttempts = append(seenAttempts, attempt)
		}
		for _, o := range prev {
			if !met[o.id] {
				superseded = append(superseded, o.id)
			}
		}
	}
	var (
		insert      []RecordError
		insAttempts []int64
	)
	for i, e := range errs {
		if attempts[i] > 0 {
			insert, insAttempts = append(insert, e), append(insAttempts, attempts[i])
		}
	}

	if len(seenIDs) > 0 {
		if _, err := tx.ExecContext(ctx, s.q.seenAgain, runID, pq.Array(seenIDs), pq.Array(seenMsgs), pq.Array(seenFlds), pq.ByteaArray(seenHashes),
			pq.Array(seenAttempts)); err != nil {
			return fail(err)
		}
		if _, err := tx.ExecContext(ctx, s.q.insertSeenBy, runID, pq.Array(seenIDs)); err != nil {
			return fail(err)
		}
	}
	if len(superseded) > 0 {
		if _, err := tx.ExecContext(ctx, s.q.supersede, runID, pq.Array(superseded)); err != nil {
			return fail(err)
		}
	}
	if len(insert) > 0 {
		if _, err := tx.ExecContext(ctx, s.q.insertRecordErrors, insertArgs(insert, insAttempts)...); err != nil {
			return fail(err)
		}
	}
	return len(insert), nil
}

// lockOpenErrors reads, and locks, the open error-severity errors of
// $1/$2 of the source keys $3, leaving out the findings of dry runs
// (verify, offline, reconcile --dry-run).
const lockOpenErrors = `SELECT e.id, e.source_key, e.code, e.hash, e.attempt
FROM {s}.record_errors AS e
WHERE e.job = $1 AND e.stream = $2 AND e.source_key = ANY($3::text[]) AND e.resolved_at IS NULL AND e.severity = 'error'
	AND NOT EXISTS (SELECT 1 FROM {s}.runs AS r WHERE r.id = e.run_id AND r.dry_run)
ORDER BY e.id
FOR UPDATE OF e`

const seenAgain = `UPDATE {s}.record_errors AS e
SET last_seen_at = now(), last_run_id = $1, message = t.message, field = NULLIF(t.field, ''),
	hash = coalesce(NULLIF(t.hash, ''::bytea), e.hash), attempt = t.attempt
FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bytea[], $6::int[]) AS t(id, message, field, hash, attempt)
WHERE e.id = t.id`

// insertSeenBy marks errors $2 met again by run $1, but those it recorded.
const insertSeenBy = `INSERT INTO {s}.record_error_runs (run_id, error_id)
SELECT $1, e.id FROM {s}.record_errors AS e
WHERE e.id = ANY($2::bigint[]) AND e.run_id <> $1
ON CONFLICT DO NOTHING`

const supersede = `UPDATE {s}.record_errors
SET resolved_at = now(), resolved_run_id = $1, resolution = 'superseded'
WHERE id = ANY($2::bigint[])`

// RunErrors sums up the errors a run leaves, for its run row.
type RunErrors struct {
	// New counts the open errors the run recorded for a source row and
	// code that had no open error before the run.
	New int64
	// Stuck counts the job's source rows whose open errors have reached
	// stuckAfter attempts.
	Stuck int64
}

// RunErrorsOf returns the errors that run runID of job leaves: those it
// recorded that are new and still open, and the job's stuck rows, those
// whose open errors reached stuckAfter attempts.
func (s *Store) RunErrorsOf(ctx context.Context, runID int64, job string, stuckAfter int) (RunErrors, error) {
	var re RunErrors
	if err := s.db.QueryRowContext(ctx, s.q.runErrors, runID, job, stuckAfter).Scan(&re.New, &re.Stuck); err != nil {
		return re, fmt.Errorf("state: errors left by run %d: %w", runID, err)
	}
	return re, nil
}

// runErrors counts, of run $1, the open errors that no error of the same
// row and code superseded (a new error), and the stuck rows of job $2 at
// $3 attempts. A dry run records its findings as they are, settling no
// error: a finding is new when the row has no open error with its code, as
// it would be to the real run.
const runErrors = `SELECT
	(SELECT count(*) FROM {s}.record_errors AS e JOIN {s}.runs AS r ON r.id = e.run_id
	 WHERE e.run_id = $1 AND e.severity = 'error' AND e.resolved_at IS NULL
		AND CASE WHEN r.dry_run THEN NOT EXISTS (SELECT 1 FROM {s}.record_errors AS old
			WHERE old.job = e.job AND old.stream = e.stream AND old.source_key = e.source_key AND old.code = e.code
				AND old.resolved_at IS NULL AND old.severity = 'error'
				AND NOT EXISTS (SELECT 1 FROM {s}.runs AS o WHERE o.id = old.run_id AND o.dry_run))
		ELSE NOT EXISTS (SELECT 1 FROM {s}.record_errors AS old
			WHERE old.job = e.job AND old.stream = e.stream AND old.source_key = e.source_key AND old.code = e.code
				AND old.resolved_run_id = $1 AND old.resolution = 'superseded' AND old.id < e.id) END),
	(SELECT count(*) FROM (
		SELECT 1 FROM {s}.record_errors AS e
		WHERE e.job = $2 AND e.resolved_at IS NULL AND e.severity = 'error' AND e.source_key IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM {s}.runs AS r WHERE r.id = e.run_id AND r.dry_run)
		GROUP BY e.stream, e.source_key
		HAVING max(e.attempt) >= $3) AS stuck)`

// A Release selects the stuck rows of a job that [Store.Release] releases.
// The zero Release selects none: set All, or Codes or Keys.
type Release struct {
	Job        string
	StuckAfter int  // the job's stuck_after
	All        bool // every stuck row of the job
	// Codes selects the rows with an open error of one of these codes.
	Codes []string
	// Keys selects rows by source key (cursor_key) or external id.
	Keys []string
}

// Release makes the stuck rows that rel selects retried again by the next
// runs: their open errors go back to attempt 0, marked released_at now. It
// returns how many rows it released.
func (s *Store) Release(ctx context.Context, rel Release) (int64, error) {
	if !rel.All && len(rel.Codes) == 0 && len(rel.Keys) == 0 {
		return 0, fmt.Errorf("state: release stuck rows of %s: nothing selected", rel.Job)
	}
	var n int64
	err := s.db.QueryRowContext(ctx, s.q.release, rel.Job, rel.StuckAfter, pq.Array(nonNil(rel.Codes)), pq.Array(nonNil(rel.Keys))).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("state: release stuck rows of %s: %w", rel.Job, err)
	}
	return n, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// release sets back the attempts of the stuck rows of job $1 ($2 attempts)
// that have an open error with a code in $3, or a source key or external
// id in $4 (an empty array selects every row), and counts the rows.
const release = `WITH stuck AS (
	SELECT e.stream, e.source_key
	FROM {s}.record_errors AS e
	WHERE e.job = $1 AND e.resolved_at IS NULL AND e.severity = 'error' AND e.source_key IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM {s}.runs AS r WHERE r.id = e.run_id AND r.dry_run)
	GROUP BY e.stream, e.source_key
	HAVING max(e.attempt) >= $2
		AND (cardinality($3::text[]) = 0 OR bool_or(e.code = ANY($3::text[])))
		AND (cardinality($4::text[]) = 0 OR e.source_key = ANY($4::text[]) OR bool_or(e.external_id = ANY($4::text[])))
), released AS (
	UPDATE {s}.record_errors AS e SET attempt = 0, released_at = now()
	FROM stuck
	WHERE e.job = $1 AND e.stream = stuck.stream AND e.source_key = stuck.source_key
		AND e.resolved_at IS NULL AND e.severity = 'error'
	RETURNING e.stream, e.source_key
)
SELECT count(DISTINCT (stream, source_key)) FROM released`

// Claims is what [Store.Claim] returns: for each external id, the source
// key of the row that claimed it first in the run.
type Claims map[string]string

// Claim records that run runID of job sends the external ids of stream ids
// from the source rows keys (ids[i] from keys[i]; ids unique), unless an
// earlier chunk of the run claimed them from another row. It returns, for
// each of ids, the source key whose claim holds: keys[i], or the other
// row's.
func (s *Store) Claim(ctx context.Context, runID int64, job, stream string, ids, keys []string) (Claims, error) {
	claims := make(Claims, len(ids))
	if len(ids) == 0 {
		return claims, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.claim, runID, job, stream, pq.Array(ids), pq.Array(keys))
	if err != nil {
		return nil, fmt.Errorf("state: claim %d external ids of %s/%s in run %d: %w", len(ids), job, stream, runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			return nil, fmt.Errorf("state: claim external ids of %s/%s in run %d: %w", job, stream, runID, err)
		}
		claims[id] = key
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: claim external ids of %s/%s in run %d: %w", job, stream, runID, err)
	}
	return claims, nil
}

// claim inserts the claims; one already held is left as it is, and the
// no-op update makes RETURNING give its source key.
const claim = `INSERT INTO {s}.run_claims AS c (run_id, job, stream, external_id, source_key)
SELECT $1, $2, $3, external_id, source_key FROM unnest($4::text[], $5::text[]) AS t(external_id, source_key)
ON CONFLICT (run_id, stream, external_id) DO UPDATE SET source_key = c.source_key
RETURNING external_id, source_key`

// SetTenant records that job sends to tenant (the API's base URL), so that
// the jobs of one tenant share what the API accepted.
func (s *Store) SetTenant(ctx context.Context, job, tenant string) error {
	if _, err := s.db.ExecContext(ctx, s.q.setTenant, job, tenant); err != nil {
		return fmt.Errorf("state: tenant of %s: %w", job, err)
	}
	return nil
}

const setTenant = `INSERT INTO {s}.job_tenants (job, tenant) VALUES ($1, $2)
ON CONFLICT (job) DO UPDATE SET tenant = excluded.tenant, updated_at = now()
	WHERE job_tenants.tenant <> excluded.tenant`

// TenantJobs returns the jobs that last ran against tenant, job included
// whatever its record says.
func (s *Store) TenantJobs(ctx context.Context, job, tenant string) ([]string, error) {
	var jobs []string
	if err := s.db.SelectContext(ctx, &jobs, s.q.tenantJobs, job, tenant); err != nil {
		return nil, fmt.Errorf("state: jobs of the tenant of %s: %w", job, err)
	}
	return jobs, nil
}

const tenantJobs = `SELECT $1::text UNION SELECT job FROM {s}.job_tenants WHERE tenant = $2 ORDER BY 1`

// Accepted returns which of externalIDs the API accepted, as records of
// stream, through any of jobs.
func (s *Store) Accepted(ctx context.Context, jobs []string, stream string, externalIDs []string) (map[string]bool, error) {
	have := make(map[string]bool)
	if len(externalIDs) == 0 {
		return have, nil
	}
	rows, err := s.db.QueryContext(ctx, s.q.accepted, pq.Array(jobs), stream, pq.Array(externalIDs))
	if err != nil {
		return nil, fmt.Errorf("state: %s accepted through %v: %w", stream, jobs, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("state: %s accepted through %v: %w", stream, jobs, err)
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: %s accepted through %v: %w", stream, jobs, err)
	}
	return have, nil
}

// accepted looks each id up by the primary key of sent_records, job by
// job, as sentRecords does.
const accepted = `SELECT ids.external_id
FROM unnest($3::text[]) AS ids(external_id)
WHERE EXISTS (
	SELECT 1 FROM unnest($1::text[]) AS j(job)
	JOIN {s}.sent_records AS s ON s.job = j.job AND s.stream = $2 AND s.external_id = ids.external_id)`
