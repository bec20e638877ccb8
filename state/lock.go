package state

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLocked is returned, wrapped, by [Store.TryLock] when another session
// holds the job's lock.
var ErrLocked = errors.New("job is being run by another process")

// jobLockClass is the first key of every job lock; the second is
// hashtext(schema || '/' || job), so that two state schemas in one database
// lock independently.
const jobLockClass = 0x616c6a62 // "aljb"

// lockHolder describes the session that holds an advisory lock, for the
// error that reports it. Fields of other roles' sessions may read as NULL.
const lockHolder = `SELECT a.pid, coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = $1::int4::oid AND l.objid = hashtext($2::text)::oid
LIMIT 1`

// An advisoryLock is a session-level PostgreSQL advisory lock on the keys
// (class, hashtext(key)), held on a connection taken out of the pool for
// as long as the lock is held. If that connection dies, the server
// releases the lock.
type advisoryLock struct {
	store *Store
	class int32
	key   string
	what  string // names the lock in errors
	pid   int    // the backend of the lock's connection

	mu   sync.Mutex
	conn *sql.Conn // nil once unlocked
}

// tryAdvisoryLock takes a lock without waiting. When another session holds
// it, the error wraps [ErrLocked] and names that session's backend.
func (s *Store) tryAdvisoryLock(ctx context.Context, class int32, key, what string) (*advisoryLock, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: %s: %w", what, err)
	}
	var (
		ok  bool
		pid int
	)
	err = conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2::text)), pg_backend_pid()`, class, key).Scan(&ok, &pid)
	if err != nil {
		discard(conn)
		return nil, fmt.Errorf("state: %s: %w", what, err)
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("state: %s: %w%s", what, ErrLocked, s.holder(ctx, class, key))
	}
	return &advisoryLock{store: s, class: class, key: key, what: what, pid: pid, conn: conn}, nil
}

// holder describes, best effort, the session that holds a lock.
func (s *Store) holder(ctx context.Context, class int32, key string) string {
	var (
		pid         int
		client, app string
		since       time.Time
	)
	if err := s.db.QueryRowContext(ctx, lockHolder, class, key).Scan(&pid, &client, &app, &since); err != nil {
		return ""
	}
	return fmt.Sprintf(" (PostgreSQL backend %d, client %s, application %q, connected since %s)", pid, client, app, since.UTC().Format(time.RFC3339))
}

// check reports whether the lock is still held: its connection answers
// within ctx and its session still holds the lock.
func (l *advisoryLock) check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return fmt.Errorf("state: %s: unlocked", l.what)
	}
	var held bool
	err := l.conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
WHERE locktype = 'advisory' AND granted AND pid = pg_backend_pid() AND objsubid = 2
  AND classid = $1::int4::oid AND objid = hashtext($2::text)::oid)`, l.class, l.key).Scan(&held)
	if err != nil {
		return fmt.Errorf("state: %s (backend %d): %w", l.what, l.pid, err)
	}
	if !held {
		return fmt.Errorf("state: %s (backend %d): no longer held", l.what, l.pid)
	}
	return nil
}

// Unlock releases the lock and returns its connection to the pool. It
// returns an error when the lock had already been lost, for example because
// its connection died; the connection is then closed. Calling Unlock again
// does nothing.
func (l *advisoryLock) Unlock() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	conn := l.conn
	l.conn = nil
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRowContext(ctx, `SELECT pg_advisory_unlock($1, hashtext($2::text))`, l.class, l.key).Scan(&released)
	if err != nil || !released {
		// The session may still hold the lock, or be broken: never hand
		// it back to the pool.
		discard(conn)
		if err != nil {
			return fmt.Errorf("state: release %s: %w", l.what, err)
		}
		return fmt.Errorf("state: release %s: the lock was no longer held", l.what)
	}
	return conn.Close()
}

// A Lock is a job's lock: while a process holds it, no other process runs
// the job (a nightly run, a backfill, a retry or a reconcile).
type Lock struct {
	*advisoryLock
	job string
}

// TryLock takes job's lock without waiting. When another session holds it,
// the error wraps [ErrLocked] and names that session's backend.
func (s *Store) TryLock(ctx context.Context, job string) (*Lock, error) {
	l, err := s.tryAdvisoryLock(ctx, jobLockClass, s.schema+"/"+job, fmt.Sprintf("lock of job %q", job))
	if err != nil {
		return nil, err
	}
	return &Lock{advisoryLock: l, job: job}, nil
}

// Check reports whether the lock is still held: its connection answers
// within ctx and its session still holds the lock.
func (l *Lock) Check(ctx context.Context) error { return l.check(ctx) }

// Job returns the name of the locked job.
func (l *Lock) Job() string { return l.job }

// discard closes conn's underlying connection instead of returning it to
// the pool, which also ends its session and any lock it holds.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}
