package state_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/algoreg/algoreg-etl/state"
)

func TestMissingFromTheSource(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	prev, run := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindReconcile)
	var recs []state.SentRecord
	for i := range 10 {
		recs = append(recs, state.SentRecord{ExternalID: fmt.Sprintf("C-%d", i), Hash: hash16(byte(i))})
	}
	if _, err := s.Accept(ctx, prev, "customers", "customers", recs); err != nil {
		t.Fatal(err)
	}
	// Another job's records and another run's marks are apart.
	if _, err := s.Accept(ctx, prev, "other", "customers", recs[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSeen(ctx, prev, "customers", []string{"C-3"}); err != nil {
		t.Fatal(err)
	}
	seen := []string{"C-0", "C-2", "C-4", "C-5", "C-6", "C-8", "C-9", "N-1"}
	if err := s.MarkSeen(ctx, run, "customers", seen[:4]); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSeen(ctx, run, "customers", seen[2:]); err != nil { // marks twice
		t.Fatal(err)
	}
	missing, total, err := s.CountMissing(ctx, run, "customers", "customers")
	if err != nil || missing != 3 || total != 10 {
		t.Fatalf("CountMissing = %d of %d, %v; want 3 of 10", missing, total, err)
	}
	var got []string
	for after := ""; ; {
		page, err := s.Missing(ctx, run, "customers", "customers", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.ExternalID)
		}
		after = page[len(page)-1].ExternalID
	}
	if want := []string{"C-1", "C-3", "C-7"}; !slices.Equal(got, want) {
		t.Errorf("Missing = %v, want %v", got, want)
	}
	if err := s.Forget(ctx, "customers", "customers", []string{"C-1"}); err != nil {
		t.Fatal(err)
	}
	if missing, total, _ := s.CountMissing(ctx, run, "customers", "customers"); missing != 2 || total != 9 {
		t.Errorf("after Forget: %d missing of %d", missing, total)
	}
	if err := s.ClearSeen(ctx, run); err != nil {
		t.Fatal(err)
	}
	if missing, _, _ := s.CountMissing(ctx, run, "customers", "customers"); missing != 9 {
		t.Errorf("after ClearSeen: %d missing, want all 9", missing)
	}
}
