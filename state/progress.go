package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetRunProgress records a running run's own progress, w, with its counts
// so far, c, on the run row, in one statement. It does not move the job's
// watermark: a backfill uses it to checkpoint how far it has gone, so that
// an interrupted backfill can be resumed from there (see
// [Store.LastInterruptedBackfill] and [Run.Progress]).
//
// Like [Store.Checkpoint], it stores w as given, truncated to the
// microsecond. The error wraps [ErrRunClosed] when the run is no longer
// running, and [sql.ErrNoRows] when there is no such run.
func (s *Store) SetRunProgress(ctx context.Context, runID int64, w Watermark, c Counts) error {
	res, err := s.db.ExecContext(ctx, s.q.setRunProgress, c.args(runID, w.UpdatedAt.Truncate(time.Microsecond), w.Key)...)
	if err := s.updatedRun(ctx, runID, res, err); err != nil {
		return fmt.Errorf("state: set progress: %w", err)
	}
	return nil
}

var setRunProgress = `UPDATE {s}.runs SET watermark_updated_at = $2, watermark_key = $3,
	` + setCounts(4) + `
WHERE id = $1 AND status = 'running'`

// LastInterruptedBackfill returns the newest backfill of job that ended
// interrupted or failed and that no later run resumes (no run has ResumeOf
// set to it, whatever that run's outcome); ok is false when there is none.
// A chain of resumptions thus yields its last link. A backfill that a
// newer, independent backfill made redundant is still returned: whether to
// resume it is the caller's choice.
func (s *Store) LastInterruptedBackfill(ctx context.Context, job string) (r Run, ok bool, err error) {
	r, err = scanRun(s.db.QueryRowContext(ctx, s.q.lastInterruptedBackfill, job))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("state: last interrupted backfill of job %q: %w", job, err)
	}
	return r, true, nil
}

const lastInterruptedBackfill = `SELECT ` + runColumns + ` FROM {s}.runs AS r
WHERE job = $1 AND kind = 'backfill' AND status IN ('interrupted', 'failed')
	AND NOT EXISTS (SELECT 1 FROM {s}.runs AS later WHERE later.resume_of = r.id)
ORDER BY started_at DESC, id DESC
LIMIT 1`
