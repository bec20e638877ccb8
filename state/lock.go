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

// lockHolder describes the session that holds a job lock, for the error
// that reports it. Fields of other roles' sessions may read as NULL.
const lockHolder = `SELECT a.pid, coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''), a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = $1::int4::oid AND l.objid = hashtext($2::text || '/' || $3::text)::oid
LIMIT 1`

// A Lock is a job's session-level advisory lock, held on a connection taken
// out of the pool for as long as the lock is held. If that connection dies,
// the server releases the lock.
type Lock struct {
	store *Store
	job   string

	mu   sync.Mutex
	conn *sql.Conn // nil once unlocked
}

// TryLock takes job's lock without waiting. When another session holds it,
// the error wraps [ErrLocked] and names that session's backend.
func (s *Store) TryLock(ctx context.Context, job string) (*Lock, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("state: lock job %q: %w", job, err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, s.q.tryLock, jobLockClass, s.schema, job).Scan(&ok); err != nil {
		discard(conn)
		return nil, fmt.Errorf("state: lock job %q: %w", job, err)
	}
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("state: lock job %q: %w%s", job, ErrLocked, s.holder(ctx, job))
	}
	return &Lock{store: s, job: job, conn: conn}, nil
}

// holder describes, best effort, the session that holds job's lock.
func (s *Store) holder(ctx context.Context, job string) string {
	var (
		pid         int
		client, app string
		since       time.Time
	)
	err := s.db.QueryRowContext(ctx, s.q.lockHolder, jobLockClass, s.schema, job).Scan(&pid, &client, &app, &since)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (PostgreSQL backend %d, client %s, application %q, connected since %s)", pid, client, app, since.UTC().Format(time.RFC3339))
}

// Job returns the name of the locked job.
func (l *Lock) Job() string { return l.job }

// Unlock releases the lock and returns its connection to the pool. It
// returns an error when the lock had already been lost, for example because
// its connection died. Calling Unlock again does nothing.
func (l *Lock) Unlock() error {
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
	err := conn.QueryRowContext(ctx, l.store.q.unlock, jobLockClass, l.store.schema, l.job).Scan(&released)
	if err != nil || !released {
		// The session may still hold the lock, or be broken: never hand
		// it back to the pool.
		discard(conn)
		if err != nil {
			return fmt.Errorf("state: unlock job %q: %w", l.job, err)
		}
		return fmt.Errorf("state: unlock job %q: the lock was no longer held", l.job)
	}
	return conn.Close()
}

// discard closes conn's underlying connection instead of returning it to
// the pool, which also ends its session and any lock it holds.
func discard(conn *sql.Conn) {
	conn.Raw(func(any) error { return driver.ErrBadConn })
	conn.Close()
}
