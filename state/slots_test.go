package state_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestClaimSlotOnce(t *testing.T) {
	ctx := context.Background()
	a, db := newStore(t)
	b := open(t, db.URL, "")
	slot := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)

	// Many processes race for one slot: exactly one wins.
	var wg sync.WaitGroup
	wins := make(chan string, 8)
	for i, s := range []*state.Store{a, b, a, b, a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			by := []string{"host-a", "host-b"}[i%2]
			ok, err := s.ClaimSlot(ctx, "customers", slot, by)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins <- by
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("%d claims of one slot succeeded, want 1: %v", len(winners), winners)
	}

	// The same instant in another zone is the same slot; another job's
	// slot at that instant is not.
	zurich, _ := time.LoadLocation("Europe/Zurich")
	if ok, err := b.ClaimSlot(ctx, "customers", slot.In(zurich), "host-c"); ok || err != nil {
		t.Errorf("claim of the same instant in another zone: %v, %v", ok, err)
	}
	if ok, err := b.ClaimSlot(ctx, "relations", slot, "host-c"); !ok || err != nil {
		t.Errorf("claim of another job's slot: %v, %v", ok, err)
	}

	id, err := a.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetSlotRun(ctx, "customers", slot, id); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSlotRun(ctx, "customers", slot.Add(time.Minute), id); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("SetSlotRun of an unclaimed slot: %v, want sql.ErrNoRows", err)
	}
	slots, err := b.Slots(ctx, "customers", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 1 || !slots[0].Slot.Equal(slot) || slots[0].RunID != id || slots[0].ClaimedBy != winners[0] {
		t.Errorf("slots: %+v; want one of %v run %d claimed by %s", slots, slot, id, winners[0])
	}
	if all, err := b.Slots(ctx, "", 1); err != nil || len(all) != 1 {
		t.Errorf("Slots of every job, limit 1: %v, %v", all, err)
	}
}

func TestLastSuccess(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	if _, ok, err := s.LastSuccess(ctx, "customers"); ok || err != nil {
		t.Fatalf("no run yet: %v, %v", ok, err)
	}
	finish := func(kind, status string) {
		t.Helper()
		id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.FinishRun(ctx, id, status, state.Counts{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	finish(state.KindRun, state.StatusPartial)
	first, ok, err := s.LastSuccess(ctx, "customers")
	if !ok || err != nil {
		t.Fatalf("after a partial run: %v, %v", ok, err)
	}
	// Failures, backfills and verify runs do not count.
	finish(state.KindRun, state.StatusFailed)
	finish(state.KindBackfill, state.StatusSucceeded)
	finish(state.KindVerify, state.StatusSucceeded)
	if at, _, _ := s.LastSuccess(ctx, "customers"); !at.Equal(first) {
		t.Errorf("last success moved to %v after runs that are not successful nightly runs; want %v", at, first)
	}
	finish(state.KindRun, state.StatusSucceeded)
	if at, _, _ := s.LastSuccess(ctx, "customers"); !at.After(first) {
		t.Errorf("last success %v after a succeeded run; want after %v", at, first)
	}
}

func TestLeaderLock(t *testing.T) {
	ctx := context.Background()
	a, db := newStore(t)
	b := open(t, db.URL, "")

	if _, ok, err := a.LeaderPID(ctx); ok || err != nil {
		t.Fatalf("leader before any lock: %v, %v", ok, err)
	}
	la, err := a.TryLeaderLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryLeaderLock(ctx); !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second leader: %v, want ErrLocked", err)
	}
	// Job locks and the leader lock do not collide; another schema has
	// its own leader.
	if l, err := b.TryLock(ctx, "customers"); err != nil {
		t.Fatalf("job lock while a leader leads: %v", err)
	} else {
		l.Unlock()
	}
	if l, err := open(t, db.URL, "other_state").TryLeaderLock(ctx); err != nil {
		t.Fatalf("leader of another schema: %v", err)
	} else {
		l.Unlock()
	}
	if pid, ok, err := b.LeaderPID(ctx); !ok || err != nil || pid != la.PID() {
		t.Fatalf("LeaderPID: %d %v %v, want %d", pid, ok, err, la.PID())
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := la.Check(cctx); err != nil {
		t.Fatalf("Check of a held lock: %v", err)
	}

	// The leader's connection dies: Check fails, and another takes over.
	if _, err := db.Exec(`SELECT pg_terminate_backend($1)`, la.PID()); err != nil {
		t.Fatal(err)
	}
	if err := la.Check(cctx); err == nil {
		t.Fatal("Check after the connection was killed reported no error")
	}
	lb, err := b.TryLeaderLock(ctx)
	if err != nil {
		t.Fatalf("TryLeaderLock after the leader's connection died: %v", err)
	}
	if err := la.Unlock(); err == nil {
		t.Error("Unlock of a lost leader lock reported no error")
	}
	if err := lb.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := lb.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	if err := lb.Check(cctx); err == nil {
		t.Error("Check after Unlock reported no error")
	}
	if l, err := a.TryLeaderLock(ctx); err != nil {
		t.Fatalf("TryLeaderLock after Unlock: %v", err)
	} else {
		l.Unlock()
	}
}
