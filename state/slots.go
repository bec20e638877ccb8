package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// A Slot is one activation of a job's schedule that a process claimed, as
// recorded in the schedule_slots table. A slot can be claimed once, whatever
// the number of processes scheduling the job and however far apart their
// clocks are.
type Slot struct {
	Job       string
	Slot      time.Time // the instant the schedule fired for, in UTC
	RunID     int64     // the run started for the slot; 0 until it has started
	ClaimedBy string    // the process that claimed it
	ClaimedAt time.Time
}

// slotSQL returns query with "{s}" replaced by the Store's quoted schema.
func (s *Store) slotSQL(query string) string {
	return strings.ReplaceAll(query, "{s}", pq.QuoteIdentifier(s.schema))
}

// ClaimSlot claims job's slot for the process named by by. It reports false,
// and changes nothing, when the slot was claimed before, by this process or
// any other: only the claimer runs the slot. The slot is stored to the
// microsecond.
func (s *Store) ClaimSlot(ctx context.Context, job string, slot time.Time, by string) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.slotSQL(`INSERT INTO {s}.schedule_slots (job, slot, claimed_by)
VALUES ($1, $2, $3) ON CONFLICT (job, slot) DO NOTHING`), job, slot.Truncate(time.Microsecond), by)
	if err != nil {
		return false, fmt.Errorf("state: claim slot %s of job %s: %w", slot.UTC().Format(time.RFC3339Nano), job, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("state: claim slot %s of job %s: %w", slot.UTC().Format(time.RFC3339Nano), job, err)
	}
	return n == 1, nil
}

// SetSlotRun records the run started for a claimed slot. The error wraps
// [sql.ErrNoRows] when the slot was not claimed.
func (s *Store) SetSlotRun(ctx context.Context, job string, slot time.Time, runID int64) error {
	res, err := s.db.ExecContext(ctx, s.slotSQL(`UPDATE {s}.schedule_slots SET run_id = $3 WHERE job = $1 AND slot = $2`),
		job, slot.Truncate(time.Microsecond), runID)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return fmt.Errorf("state: run %d of slot %s of job %s: %w", runID, slot.UTC().Format(time.RFC3339Nano), job, err)
	}
	return nil
}

// Slots returns up to limit claimed slots of job, newest first; job ""
// means every job, and limit <= 0 means no limit.
func (s *Store) Slots(ctx context.Context, job string, limit int) ([]Slot, error) {
	rows, err := s.db.QueryContext(ctx, s.slotSQL(`SELECT job, slot, coalesce(run_id, 0), coalesce(claimed_by, ''), claimed_at
FROM {s}.schedule_slots WHERE $1 = '' OR job = $1 ORDER BY slot DESC, job LIMIT NULLIF($2, 0)`), job, max(limit, 0))
	if err != nil {
		return nil, fmt.Errorf("state: slots of job %q: %w", job, err)
	}
	defer rows.Close()
	var out []Slot
	for rows.Next() {
		var sl Slot
		if err := rows.Scan(&sl.Job, &sl.Slot, &sl.RunID, &sl.ClaimedBy, &sl.ClaimedAt); err != nil {
			return nil, fmt.Errorf("state: slots of job %q: %w", job, err)
		}
		sl.Slot, sl.ClaimedAt = sl.Slot.UTC(), sl.ClaimedAt.UTC()
		out = append(out, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: slots of job %q: %w", job, err)
	}
	return out, nil
}

// LastSuccess returns when job's last incremental run (kind run) that
// finished succeeded or partial finished; ok is false when there is none.
// Both statuses moved the watermark over the whole window: partial only
// means some records are waiting in record_errors.
func (s *Store) LastSuccess(ctx context.Context, job string) (at time.Time, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.slotSQL(`SELECT finished_at FROM {s}.runs
WHERE job = $1 AND kind = 'run' AND status IN ('succeeded', 'partial')
ORDER BY finished_at DESC LIMIT 1`), job).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("state: last successful run of job %s: %w", job, err)
	}
	return at.UTC(), true, nil
}

// LastSuccessUntil returns the end of the window of job's last incremental
// run that finished succeeded or partial: every source row up to it had
// been settled. ok is false when there is none.
func (s *Store) LastSuccessUntil(ctx context.Context, job string) (until time.Time, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.slotSQL(`SELECT window_to FROM {s}.runs
WHERE job = $1 AND kind = 'run' AND status IN ('succeeded', 'partial') AND window_to IS NOT NULL
ORDER BY finished_at DESC LIMIT 1`), job).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("state: window of the last successful run of job %s: %w", job, err)
	}
	return until.UTC(), true, nil
}

// leaderLockClass is the first key of the scheduler leader's lock; the
// second is hashtext(schema), so that two state schemas in one database
// elect their leaders independently. It differs from the job locks' class.
const leaderLockClass = 0x616c6c64 // "alld"

// A LeaderLock is the scheduler leader's lock, held on one connection for
// as long as the process leads. When that connection dies, the server
// releases the lock and another process can take it: [LeaderLock.Check]
// then fails.
type LeaderLock struct {
	*advisoryLock
}

// TryLeaderLock takes the scheduler leader's lock without waiting. When
// another session holds it, the error wraps [ErrLocked].
func (s *Store) TryLeaderLock(ctx context.Context) (*LeaderLock, error) {
	l, err := s.tryAdvisoryLock(ctx, leaderLockClass, s.schema, "scheduler leader lock")
	if err != nil {
		return nil, err
	}
	return &LeaderLock{l}, nil
}

// PID returns the PostgreSQL backend process of the lock's connection.
func (l *LeaderLock) PID() int { return l.pid }

// Check reports whether the lock is still held: its connection answers
// within ctx and its session still holds the lock. Give ctx a short
// deadline: a connection that does not answer counts as lost.
func (l *LeaderLock) Check(ctx context.Context) error { return l.check(ctx) }

// LeaderPID returns the PostgreSQL backend process of the session that
// holds the scheduler leader's lock; ok is false when no process leads.
func (s *Store) LeaderPID(ctx context.Context) (pid int, ok bool, err error) {
	h, ok, err := s.Leader(ctx)
	return h.PID, ok, err
}

// A LockHolder is the session that holds a lock. Fields of another role's
// session may be empty.
type LockHolder struct {
	PID         int       // its PostgreSQL backend process
	Client      string    // its client's address; "local" for a Unix socket
	Application string    // its application_name, e.g. "algoreg-etl/serve/host-a" for the scheduler of instance host-a
	Since       time.Time // when it connected
}

// Leader returns the session that holds the scheduler leader's lock; ok is
// false when no process leads.
func (s *Store) Leader(ctx context.Context) (h LockHolder, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, lockHolder, leaderLockClass, s.schema).Scan(&h.PID, &h.Client, &h.Application, &h.Since)
	if errors.Is(err, sql.ErrNoRows) {
		return LockHolder{}, false, nil
	}
	if err != nil {
		return LockHolder{}, false, fmt.Errorf("state: scheduler leader: %w", err)
	}
	h.Since = h.Since.UTC()
	return h, true, nil
}
