package state

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lib/pq"
)

// Two unlogged tables hold scratch rows of running runs only, keyed by run:
// run_claims (the external ids a run sends first, see [Store.Claim]) and
// reconcile_seen (the external ids a reconcile saw, see [Store.MarkSeen]).
// No run reads another run's rows, so rows a killed process left are
// garbage, not state: [Store.AbandonRuns] drops those of the runs it
// closes, and a run that ends drops its own.
//
// Deleting rows leaves them dead in the table until it is vacuumed, and
// every later delete, and every scan the planner makes of the table, visits
// them: a backfill of a million records leaves a million dead claims. So a
// run that ends empties the table with TRUNCATE, which leaves nothing to
// vacuum, when no other run is running; otherwise it deletes its own rows.

// scratchQueries is the SQL that empties one scratch table.
type scratchQueries struct {
	// lock takes the table for the transaction, or fails at once when
	// another session uses it.
	lock string
	// state tells, under the lock, whether the table has pages and
	// whether a run other than $1 is running, whose rows it may hold.
	state string
	// truncate empties the table.
	truncate string
	// clear deletes the rows of run $1.
	clear string
	// clearRuns deletes the rows of the runs $1 (a bigint[]).
	clearRuns string
}

// newScratchQueries returns the SQL that empties table, whose name is
// qualified by q's schema placeholder "{s}" and replaced by s.
func newScratchQueries(s func(string) string, table string) scratchQueries {
	r := strings.NewReplacer("{t}", table).Replace
	return scratchQueries{
		lock: s(r(`LOCK TABLE {s}.{t} IN ACCESS EXCLUSIVE MODE NOWAIT`)),
		state: s(r(`SELECT pg_relation_size('{s}.{t}') = 0,
	EXISTS (SELECT 1 FROM {s}.runs WHERE status = 'running' AND id <> $1)`)),
		truncate:  s(r(`TRUNCATE {s}.{t}`)),
		clear:     s(r(`DELETE FROM {s}.{t} WHERE run_id = $1`)),
		clearRuns: s(r(`DELETE FROM {s}.{t} WHERE run_id = ANY($1::bigint[])`)),
	}
}

// clearScratch drops the rows of run runID from a scratch table, which it
// empties when no other run is running. A session that uses the table at
// that moment (another job's run writing its rows), or a role that may not
// truncate it, leaves it to a delete of the run's rows.
func (s *Store) clearScratch(ctx context.Context, q scratchQueries, runID int64) error {
	done, err := s.emptyScratch(ctx, q, runID)
	if err != nil || !done {
		// The rows of the run go whatever kept the table from being
		// emptied; a failed attempt is not the run's error.
		_, err = s.db.ExecContext(ctx, q.clear, runID)
	}
	return err
}

// emptyScratch empties a scratch table if it can take it at once and no
// run but runID is running, and reports whether the table holds no row
// of runID afterwards.
func (s *Store) emptyScratch(ctx context.Context, q scratchQueries, runID int64) (done bool, err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || !done {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, q.lock); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "55P03" { // lock_not_available
			return false, nil
		}
		return false, err
	}
	var empty, others bool
	if err := tx.QueryRowContext(ctx, q.state, runID).Scan(&empty, &others); err != nil {
		return false, err
	}
	switch {
	case empty:
	case others:
		return false, nil
	default:
		if _, err := tx.ExecContext(ctx, q.truncate); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

// ClearClaims drops the claims of run runID (see [Store.Claim]), when it
// ends.
func (s *Store) ClearClaims(ctx context.Context, runID int64) error {
	if err := s.clearScratch(ctx, s.q.claims, runID); err != nil {
		return fmt.Errorf("state: clear the claims of run %d: %w", runID, err)
	}
	return nil
}

// ClearSeen drops the marks of reconcile run runID (see [Store.MarkSeen]),
// when it ends.
func (s *Store) ClearSeen(ctx context.Context, runID int64) error {
	if err := s.clearScratch(ctx, s.q.seen, runID); err != nil {
		return fmt.Errorf("state: clear the marks of run %d: %w", runID, err)
	}
	return nil
}

// clearRunsScratch drops the rows of runs ids from every scratch table.
func (s *Store) clearRunsScratch(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	for _, q := range []scratchQueries{s.q.claims, s.q.seen} {
		if _, err := s.db.ExecContext(ctx, q.clearRuns, pq.Array(ids)); err != nil {
			return err
		}
	}
	return nil
}
