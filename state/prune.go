package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// DefaultPruneBatch is how many rows one statement of [Store.Prune]
// deletes when PruneOptions.Batch is not set.
const DefaultPruneBatch = 5000

// PruneOptions say what [Store.Prune] deletes.
type PruneOptions struct {
	Job    string    // the job whose runs are pruned; required
	Before time.Time // runs that started before this instant are pruned
	Batch  int       // rows per DELETE; <= 0: DefaultPruneBatch
	DryRun bool      // count what would be deleted, delete nothing
}

// PruneResult says what [Store.Prune] deleted, or would delete.
type PruneResult struct {
	Runs    int64 // runs whose history was deleted (now marked history_pruned_at)
	History int64 // rows of record_history
	Chunks  int64 // rows of run_chunks
	Errors  int64 // rows of record_errors: warnings and resolved errors
}

// Prune deletes the audit trail of the job's finished runs that started
// before o.Before: their record_history and run_chunks rows, and their
// warnings and resolved record errors. It keeps the run rows (with their
// counts, marked with history_pruned_at), the open record errors (until a
// later run resolves them: the next prune then deletes them), and
// sent_records and watermarks, which the pipeline needs.
//
// It deletes in batches of o.Batch rows, each in its own short
// transaction, so that runs and reports are never blocked for long; a
// prune that is interrupted leaves nothing half done that the next prune
// does not finish.
func (s *Store) Prune(ctx context.Context, o PruneOptions) (PruneResult, error) {
	var res PruneResult
	if o.Job == "" {
		return res, errors.New("state: prune: no job")
	}
	if o.Batch <= 0 {
		o.Batch = DefaultPruneBatch
	}
	fail := func(err error) (PruneResult, error) {
		return res, fmt.Errorf("state: prune job %q before %s: %w", o.Job, o.Before.UTC().Format(time.RFC3339), err)
	}
	q := s.audit()
	var (
		all, unpruned []int64
	)
	rows, err := s.db.QueryContext(ctx, q.runsToPrune, o.Job, o.Before)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var (
			id     int64
			pruned bool
		)
		if err := rows.Scan(&id, &pruned); err != nil {
			rows.Close()
			return fail(err)
		}
		all = append(all, id)
		if !pruned {
			unpruned = append(unpruned, id)
		}
	}
	if err := closeRows(rows); err != nil {
		return fail(err)
	}
	if len(all) == 0 {
		return res, nil
	}

	if o.DryRun {
		for _, c := range []struct {
			query string
			ids   []int64
			n     *int64
		}{{q.countHistory, unpruned, &res.History}, {q.countChunks, unpruned, &res.Chunks}, {q.countErrors, all, &res.Errors}} {
			if err := s.db.QueryRowContext(ctx, c.query, pq.Int64Array(c.ids)).Scan(c.n); err != nil {
				return fail(err)
			}
		}
		res.Runs = int64(len(unpruned))
		return res, nil
	}

	for _, id := range unpruned {
		n, err := s.deleteInBatches(ctx, q.pruneHistory, o.Batch, id)
		res.History += n
		if err != nil {
			return fail(fmt.Errorf("history of run %d: %w", id, err))
		}
		r, err := s.db.ExecContext(ctx, q.pruneChunks, id)
		if err == nil {
			n, err = r.RowsAffected()
			res.Chunks += n
		}
		if err != nil {
			return fail(fmt.Errorf("chunks of run %d: %w", id, err))
		}
		if _, err := s.db.ExecContext(ctx, q.markPruned, id); err != nil {
			return fail(fmt.Errorf("mark run %d pruned: %w", id, err))
		}
		res.Runs++
	}
	n, err := s.deleteInBatches(ctx, q.pruneErrors, o.Batch, pq.Int64Array(all))
	res.Errors += n
	if err != nil {
		return fail(fmt.Errorf("record errors: %w", err))
	}
	if _, err := s.deleteInBatches(ctx, q.pruneSightings, o.Batch, pq.Int64Array(all)); err != nil {
		return fail(fmt.Errorf("record errors met again: %w", err))
	}
	return res, nil
}

// deleteInBatches runs a DELETE of at most batch rows ($2) until it
// deletes fewer, and returns how many rows it deleted.
func (s *Store) deleteInBatches(ctx context.Context, query string, batch int, arg any) (int64, error) {
	var total int64
	for {
		r, err := s.db.ExecContext(ctx, query, arg, batch)
		if err != nil {
			return total, err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// runsToPrune lists the job's finished runs that started before $2, and
// whether their history is already pruned.
const runsToPrune = `SELECT id, history_pruned_at IS NOT NULL FROM {s}.runs
WHERE job = $1 AND started_at < $2 AND status <> 'running'
ORDER BY id`

// pruneHistory deletes up to $2 rows of run $1, found through the index on
// run_id and deleted by their location: record_history has no key to
// index, and its rows are never updated, so a row stays where it was read.
const pruneHistory = `DELETE FROM {s}.record_history
WHERE ctid = ANY (ARRAY(SELECT ctid FROM {s}.record_history WHERE run_id = $1 LIMIT $2))`

const pruneChunks = `DELETE FROM {s}.run_chunks WHERE run_id = $1`

const markPruned = `UPDATE {s}.runs SET history_pruned_at = now() WHERE id = $1`

// pruneErrors deletes the warnings and resolved errors of runs $1: those
// the last run that recorded or met them again is one of.
const pruneErrors = `DELETE FROM {s}.record_errors
WHERE id IN (
	SELECT id FROM {s}.record_errors
	WHERE coalesce(last_run_id, run_id) = ANY ($1::bigint[]) AND (severity = 'warning' OR resolved_at IS NOT NULL)
	LIMIT $2
)`

// pruneSightings deletes the marks of runs $1 that they met an open error
// again.
const pruneSightings = `DELETE FROM {s}.record_error_runs
WHERE (run_id, error_id) IN (
	SELECT run_id, error_id FROM {s}.record_error_runs WHERE run_id = ANY ($1::bigint[]) LIMIT $2
)`

const countHistory = `SELECT count(*) FROM {s}.record_history WHERE run_id = ANY ($1::bigint[])`

const countChunks = `SELECT count(*) FROM {s}.run_chunks WHERE run_id = ANY ($1::bigint[])`

const countErrors = `SELECT count(*) FROM {s}.record_errors
WHERE coalesce(last_run_id, run_id) = ANY ($1::bigint[]) AND (severity = 'warning' OR resolved_at IS NOT NULL)`
