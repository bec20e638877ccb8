package state_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestTryLock(t *testing.T) {
	ctx := context.Background()
	a, db := newStore(t)
	b := open(t, db.URL, "")

	held, err := a.TryLock(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock()

	if l, err := b.TryLock(ctx, "customers"); !errors.Is(err, state.ErrLocked) {
		if l != nil {
			l.Unlock()
		}
		t.Fatalf("second TryLock of a held job: %v, want ErrLocked", err)
	} else {
		t.Logf("error: %v", err)
	}
	other, err := b.TryLock(ctx, "relations")
	if err != nil {
		t.Fatalf("TryLock of another job: %v", err)
	}
	defer other.Unlock()

	// A Store on another schema of the same database has its own locks.
	c := open(t, db.URL, "other_state")
	if l, err := c.TryLock(ctx, "customers"); err != nil {
		t.Fatalf("TryLock of the same job in another schema: %v", err)
	} else {
		l.Unlock()
	}

	if err := held.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := held.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	again, err := b.TryLock(ctx, "customers")
	if err != nil {
		t.Fatalf("TryLock after Unlock: %v", err)
	}
	if err := again.Unlock(); err != nil {
		t.Fatal(err)
	}
}

func TestTryLockInSameStore(t *testing.T) {
	// Advisory locks are re-entrant per session; the pool must not hand the
	// holder's session out for a second TryLock.
	ctx := context.Background()
	s, _ := newStore(t)
	l, err := s.TryLock(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if l2, err := s.TryLock(ctx, "customers"); !errors.Is(err, state.ErrLocked) {
		if l2 != nil {
			l2.Unlock()
		}
		t.Fatalf("second TryLock from the same Store: %v, want ErrLocked", err)
	}
}

func TestLockFreedWhenConnectionDies(t *testing.T) {
	ctx := context.Background()
	a, db := newStore(t)
	b := open(t, db.URL, "")

	held, err := a.TryLock(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	err = db.Get(&pid, `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		t.Fatalf("finding the lock's backend: %v", err)
	}
	if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := b.TryLock(ctx, "customers")
		if err == nil {
			l.Unlock()
			break
		}
		if !errors.Is(err, state.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("TryLock after the holder's connection was killed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := held.Unlock(); err == nil {
		t.Error("Unlock of a lost lock reported no error")
	}
	// The Store that lost its lock still works: the dead connection was
	// not returned to its pool.
	if _, err := a.Runs(ctx, "", 1); err != nil {
		t.Fatalf("Store after losing its lock: %v", err)
	}
}
