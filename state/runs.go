package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kinds of run, stored in runs.kind.
const (
	KindRun       = "run"       // an incremental run, scheduled or by hand
	KindBackfill  = "backfill"  // a re-send of every row changed since an instant
	KindVerify    = "verify"    // a dry run: the API validates and persists nothing
	KindOffline   = "offline"   // reads and transforms, does not call the API
	KindRetry     = "retry"     // a re-send of the records that failed earlier
	KindReconcile = "reconcile" // a comparison of the source with what was sent
)

// Statuses of a run, stored in runs.status.
const (
	StatusRunning     = "running"     // started and not yet closed
	StatusSucceeded   = "succeeded"   // finished; every row accepted or skipped
	StatusPartial     = "partial"     // finished; some records are in record_errors
	StatusFailed      = "failed"      // stopped by an error; the watermark holds
	StatusInterrupted = "interrupted" // cancelled, or abandoned by a process that died
)

// ErrRunClosed is returned, wrapped, when a run that is no longer running is
// checkpointed or finished: another process has closed it, typically with
// [Store.AbandonRuns] after this process lost the job's lock.
var ErrRunClosed = errors.New("run is no longer running")

// Counts are a run's running totals of records.
type Counts struct {
	Extracted int64 // rows read from the source
	Sent      int64 // records sent and accepted by the API
	Added     int64 // customers the API reported as created
	Skipped   int64 // rows unchanged since last sent
	Invalid   int64 // rows refused before sending
	Rejected  int64 // records the API refused
	Warnings  int64 // warnings recorded: the API's, and invalid optional fields left out of records sent
	Retried   int64 // rows re-read to retry the open errors of earlier runs
	Resolved  int64 // open errors of earlier runs that this run resolved
	New       int64 // records sent (or, in a dry run, to send) that the API never accepted before
	Changed   int64 // records sent (or to send) whose content changed since the API last accepted it
	Missing   int64 // records the API accepted that the source no longer has (reconcile)
	Disabled  int64 // of the missing, those sent with disabled: true (reconcile)
	// NewErrors counts the errors the run recorded for a source row and
	// code that had no open error before it, still open when it ended.
	NewErrors int64
	// Stuck counts the job's source rows whose open errors had reached
	// stuck_after attempts when the run ended: runs no longer retry them.
	Stuck int64
}

// countColumns names the columns of runs that hold a run's Counts, in the
// order of [Counts.fields].
const countColumns = `extracted, sent, added, skipped, invalid, rejected, warnings, retried, resolved,
	new_records, changed_records, missing, disabled, new_errors, stuck`

// fields returns pointers to c's fields, in the order of countColumns.
func (c *Counts) fields() []*int64 {
	return []*int64{&c.Extracted, &c.Sent, &c.Added, &c.Skipped, &c.Invalid, &c.Rejected, &c.Warnings, &c.Retried, &c.Resolved,
		&c.New, &c.Changed, &c.Missing, &c.Disabled, &c.NewErrors, &c.Stuck}
}

// countFields is how many counts a run has.
var countFields = len((&Counts{}).fields())

// args returns the leading arguments followed by c's fields, in the order
// of countColumns, for a statement that sets them.
func (c Counts) args(leading ...any) []any {
	for _, f := range c.fields() {
		leading = append(leading, *f)
	}
	return leading
}

// setCounts returns the SET clause assigning countColumns from the
// parameters starting at $first.
func setCounts(first int) string {
	params := make([]string, countFields)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", first+i)
	}
	return "(" + countColumns + ") = (" + strings.Join(params, ", ") + ")"
}

// Add adds d to c, field by field.
func (c *Counts) Add(d Counts) {
	df := d.fields()
	for i, f := range c.fields() {
		*f += *df[i]
	}
}

// A Run is one run of a job, as recorded in the runs table.
type Run struct {
	ID            int64
	Job           string
	Kind          string // one of the Kind constants
	Status        string // one of the Status constants
	StartedAt     time.Time
	FinishedAt    *time.Time // nil while running
	WindowFrom    *time.Time // nil: from the beginning
	WindowFromKey string
	WindowTo      *time.Time
	Counts
	DisableRiskScan *bool // nil: not decided yet
	Error           string

	// For a backfill, the range of source updated_at it re-sends; nil
	// BackfillFrom: from the beginning.
	BackfillFrom, BackfillUntil *time.Time
	// ResumeOf is the interrupted or failed backfill this run resumes; 0
	// for none.
	ResumeOf int64
	// Progress is the run's own position: the source row up to which it
	// has settled every row (see [Store.SetRunProgress]); nil for none.
	// A backfill records its progress here instead of moving the job's
	// watermark.
	Progress *Watermark
	// DryRun is true for a run whose sends the API did not keep: a verify
	// or offline run, or a reconcile's dry run. Its Sent and Added count
	// what would have been sent and added.
	DryRun bool
	// Details holds what a run found beyond its counts, as JSON: a
	// reconcile's examples of each class of record. Nil for none.
	Details json.RawMessage
	// Warning is what the run found wrong with the job itself although it
	// went on, e.g. rows that no window holds; "" for none.
	Warning string
}

// StartRun records a new run with status running and returns its ID. It
// uses r's Job, Kind, window fields, DisableRiskScan, backfill range,
// ResumeOf, Progress (a resumed backfill starts where the run it resumes
// stopped) and DryRun, which a verify or offline run always is.
func (s *Store) StartRun(ctx context.Context, r Run) (int64, error) {
	if r.Job == "" {
		return 0, errors.New("state: start run: no job")
	}
	var (
		id          int64
		resumeOf    sql.NullInt64
		progressAt  *time.Time
		progressKey sql.NullString
	)
	if r.ResumeOf != 0 {
		resumeOf = sql.NullInt64{Int64: r.ResumeOf, Valid: true}
	}
	if p := r.Progress; p != nil {
		at := p.UpdatedAt.Truncate(time.Microsecond)
		progressAt, progressKey = &at, sql.NullString{String: p.Key, Valid: true}
	}
	err := s.db.QueryRowContext(ctx, s.q.startRun, r.Job, r.Kind, StatusRunning,
		r.WindowFrom, r.WindowFromKey, r.WindowTo, r.DisableRiskScan,
		r.BackfillFrom, r.BackfillUntil, resumeOf, progressAt, progressKey, r.DryRun || r.Kind == KindVerify || r.Kind == KindOffline).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("state: start %s run of job %q: %w", r.Kind, r.Job, err)
	}
	return id, nil
}

const startRun = `INSERT INTO {s}.runs (job, kind, status, window_from, window_from_key, window_to, disable_risk_scan,
	backfill_from, backfill_until, resume_of, watermark_updated_at, watermark_key, dry_run)
VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING id`

// SetRunWindow records what a running run reads, once it has chosen it: r's
// window fields, backfill range and ResumeOf. A run is started first, so
// that a run that fails while choosing its window is recorded too. The
// error wraps [ErrRunClosed] when the run is no longer running.
func (s *Store) SetRunWindow(ctx context.Context, id int64, r Run) error {
	var resumeOf sql.NullInt64
	if r.ResumeOf != 0 {
		resumeOf = sql.NullInt64{Int64: r.ResumeOf, Valid: true}
	}
	res, err := s.db.ExecContext(ctx, s.q.setRunWindow, id, r.WindowFrom, r.WindowFromKey, r.WindowTo, r.BackfillFrom, r.BackfillUntil, resumeOf)
	if err := s.updatedRun(ctx, id, res, err); err != nil {
		return fmt.Errorf("state: set the window of run %d: %w", id, err)
	}
	return nil
}

const setRunWindow = `UPDATE {s}.runs SET window_from = $2, window_from_key = NULLIF($3, ''), window_to = $4,
	backfill_from = $5, backfill_until = $6, resume_of = $7
WHERE id = $1 AND status = 'running'`

// A Checkpoint is the progress of a running run: its counts so far and,
// when it has moved, the watermark of one of its streams, or the run's own
// progress.
type Checkpoint struct {
	RunID     int64
	Job       string
	Stream    string     // e.g. "customers"; needed with Watermark
	Watermark *Watermark // nil: counts only
	// Progress, when not nil, is the run's own position, stored on the run
	// row as [Store.SetRunProgress] does: a backfill's, which moves no
	// watermark.
	Progress *Watermark
	Counts   Counts
}

// Checkpoint sets the run's counts and, when c.Watermark is not nil, the
// stream's watermark (and, when c.Progress is not nil, the run's
// progress), in one transaction, so that the watermark never runs ahead of
// the counts that explain it. [ChunkTx.Commit] writes a checkpoint in the
// transaction of a chunk's state.
//
// Checkpoint stores the watermark it is given: it does not check that the
// watermark moves forwards, because source keys are compared here as text
// while the source may order them as numbers. Keeping the watermark
// monotonic is the pipeline's duty.
//
// The run must be running and belong to c.Job; otherwise nothing is written
// and the error wraps [ErrRunClosed], or [sql.ErrNoRows] when there is no
// such run.
func (s *Store) Checkpoint(ctx context.Context, c Checkpoint) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state: checkpoint run %d: %w", c.RunID, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := s.checkpoint(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("state: checkpoint run %d: %w", c.RunID, err)
	}
	return nil
}

// checkpoint writes c through q, a transaction.
func (s *Store) checkpoint(ctx context.Context, q conn, c Checkpoint) error {
	if c.Watermark != nil && c.Stream == "" {
		return fmt.Errorf("state: checkpoint run %d: watermark without a stream", c.RunID)
	}
	var progressAt *time.Time
	var progressKey sql.NullString
	if p := c.Progress; p != nil {
		at := p.UpdatedAt.Truncate(time.Microsecond)
		progressAt, progressKey = &at, sql.NullString{String: p.Key, Valid: true}
	}
	args := c.Counts.args(c.RunID, c.Job, progressAt, progressKey)
	query := s.q.checkpointRun
	if w := c.Watermark; w != nil {
		// One statement: the watermark is written when the run is.
		query, args = s.q.checkpointRunWatermark, append(args, c.Stream, w.UpdatedAt.Truncate(time.Microsecond), w.Key)
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err := s.updatedRun(ctx, c.RunID, res, err); err != nil {
		return fmt.Errorf("state: checkpoint: %w", err)
	}
	return nil
}

// checkpointRun sets the counts of run $1 of job $2, and its progress to
// ($3, $4) unless $3 is NULL.
var checkpointRun = `UPDATE {s}.runs SET ` + setCounts(5) + `,
	watermark_updated_at = coalesce($3, watermark_updated_at),
	watermark_key = CASE WHEN $3::timestamptz IS NULL THEN watermark_key ELSE $4 END
WHERE id = $1 AND job = $2 AND status = 'running'`

// checkpointRunWatermark writes checkpointRun and, when it updated the
// run, the watermark of the stream given after the counts, at the position
// given after it, in one statement: one row affected when the run was
// updated. The watermark's run_id and moved_at change only when its
// position does.
var checkpointRunWatermark = `WITH run AS (
` + checkpointRun + `
	RETURNING id
)
INSERT INTO {s}.watermarks AS w (job, stream, updated_at, key, run_id, moved_at)
SELECT $2, ` + fmt.Sprintf("$%[1]d::text, $%[2]d::timestamptz, $%[3]d::text", 5+countFields, 6+countFields, 7+countFields) + `, run.id, now() FROM run
ON CONFLICT (job, stream) DO UPDATE SET
	updated_at = excluded.updated_at,
	key = excluded.key,
	run_id = CASE WHEN (w.updated_at, w.key) IS DISTINCT FROM (excluded.updated_at, excluded.key) THEN excluded.run_id ELSE w.run_id END,
	moved_at = CASE WHEN (w.updated_at, w.key) IS DISTINCT FROM (excluded.updated_at, excluded.key) THEN excluded.moved_at ELSE w.moved_at END`

// FinishRun closes a running run: it sets its status (any but
// [StatusRunning]), its final counts, its error text ("" for none) and its
// finish time. The error wraps [ErrRunClosed] when the run was already
// closed, and [sql.ErrNoRows] when there is no such run.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, c Counts, errText string) error {
	if status == StatusRunning {
		return fmt.Errorf("state: finish run %d: status %q does not close a run", id, status)
	}
	res, err := s.db.ExecContext(ctx, s.q.finishRun, c.args(id, status, errText)...)
	if err := s.updatedRun(ctx, id, res, err); err != nil {
		return fmt.Errorf("state: finish run as %s: %w", status, err)
	}
	return nil
}

var finishRun = `UPDATE {s}.runs SET status = $2, finished_at = now(), error = NULLIF($3, ''),
	` + setCounts(4) + `
WHERE id = $1 AND status = 'running'`

// updatedRun turns the result of an UPDATE of one running run into an
// error: err itself, or why no row was updated.
func (s *Store) updatedRun(ctx context.Context, id int64, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	var status string
	if err := s.db.QueryRowContext(ctx, s.q.runStatus, id).Scan(&status); err != nil {
		return fmt.Errorf("run %d: %w", id, err)
	}
	if status == StatusRunning {
		return fmt.Errorf("run %d: belongs to another job", id)
	}
	return fmt.Errorf("run %d is %s: %w", id, status, ErrRunClosed)
}

// SetRunRiskScan records the disable_risk_scan flag a run sends with its
// requests, once it has been decided.
func (s *Store) SetRunRiskScan(ctx context.Context, id int64, disable bool) error {
	res, err := s.db.ExecContext(ctx, s.q.setRiskScan, id, disable)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return fmt.Errorf("state: set disable_risk_scan of run %d: %w", id, err)
	}
	return nil
}

// AbandonRuns marks job's runs that are still running as interrupted, with
// the error "process ended without closing the run" or, for a run that
// started before the state database's server last started, "lost the state
// database: its server restarted at ..., during the run", drops the scratch
// rows they left (their claims and reconcile marks), and returns how many
// it marked. Only the holder of the job's lock can have a running run, so
// the holder calls this right after taking the lock, to close the runs of a
// process that died.
func (s *Store) AbandonRuns(ctx context.Context, job string) (int64, error) {
	var ids []int64
	if err := s.db.SelectContext(ctx, &ids, s.q.abandonRuns, job); err != nil {
		return 0, fmt.Errorf("state: abandon runs of job %q: %w", job, err)
	}
	if err := s.clearRunsScratch(ctx, ids); err != nil {
		return 0, fmt.Errorf("state: abandon runs of job %q: %w", job, err)
	}
	return int64(len(ids)), nil
}

const abandonRuns = `UPDATE {s}.runs SET
	status = 'interrupted', finished_at = now(),
	error = CASE WHEN started_at < pg_postmaster_start_time()
		THEN 'lost the state database: its server restarted at '
			|| to_char(pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC, during the run'
		ELSE 'process ended without closing the run' END
WHERE job = $1 AND status = 'running'
RETURNING id`

// Run returns the run with the given ID; the error wraps [sql.ErrNoRows]
// when there is none.
func (s *Store) Run(ctx context.Context, id int64) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q.run, id))
	if err != nil {
		return Run{}, fmt.Errorf("state: run %d: %w", id, err)
	}
	return r, nil
}

// Runs returns up to limit runs of job, newest first; job "" means every
// job, and limit <= 0 means no limit.
func (s *Store) Runs(ctx context.Context, job string, limit int) ([]Run, error) {
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	var (
		rows *sql.Rows
		err  error
	)
	if job == "" {
		rows, err = s.db.QueryContext(ctx, s.q.runs, lim)
	} else {
		rows, err = s.db.QueryContext(ctx, s.q.runsOfJob, lim, job)
	}
	if err != nil {
		return nil, fmt.Errorf("state: runs of job %q: %w", job, err)
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("state: runs of job %q: %w", job, err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: runs of job %q: %w", job, err)
	}
	return runs, nil
}

const runColumns = `id, job, kind, status, started_at, finished_at, window_from, coalesce(window_from_key, ''), window_to,
	disable_risk_scan, coalesce(error, ''), backfill_from, backfill_until, coalesce(resume_of, 0), watermark_updated_at, watermark_key,
	dry_run, coalesce(details, 'null'), coalesce(warning, ''), ` + countColumns

// scanRun reads a row of runColumns.
func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var (
		r           Run
		progressAt  *time.Time
		progressKey sql.NullString
		details     []byte
	)
	dest := []any{&r.ID, &r.Job, &r.Kind, &r.Status, &r.StartedAt, &r.FinishedAt, &r.WindowFrom, &r.WindowFromKey, &r.WindowTo,
		&r.DisableRiskScan, &r.Error, &r.BackfillFrom, &r.BackfillUntil, &r.ResumeOf, &progressAt, &progressKey,
		&r.DryRun, &details, &r.Warning}
	for _, f := range r.Counts.fields() {
		dest = append(dest, f)
	}
	err := row.Scan(dest...)
	if err != nil {
		return Run{}, err
	}
	if string(details) != "null" {
		r.Details = details
	}
	if progressAt != nil && progressKey.Valid {
		r.Progress = &Watermark{UpdatedAt: *progressAt, Key: progressKey.String}
	}
	r.StartedAt = r.StartedAt.UTC()
	for _, t := range []*time.Time{r.FinishedAt, r.WindowFrom, r.WindowTo, r.BackfillFrom, r.BackfillUntil} {
		if t != nil {
			*t = t.UTC()
		}
	}
	if r.Progress != nil {
		r.Progress.UpdatedAt = r.Progress.UpdatedAt.UTC()
	}
	return r, nil
}
