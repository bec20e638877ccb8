package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/algoreg/algoreg-etl/state"
)

// hash16 returns a 16-byte hash made of b.
func hash16(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }

// startRun starts a run of job and returns its ID.
func startRun(t *testing.T, s *state.Store, job, kind string) int64 {
	t.Helper()
	id, err := s.StartRun(context.Background(), state.Run{Job: job, Kind: kind})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAcceptAndSent(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	run1, run2 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRun)

	first := []state.SentRecord{
		{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1), Delta: json.RawMessage(`{"review_groups": ["a;b", "c"]}`)},
		{ExternalID: "C-2", Hash: hash16(2)},
	}
	if _, err := s.Accept(ctx, run1, "customers", "customers", first); err != nil {
		t.Fatal(err)
	}
	// Another job and another stream with the same external id are apart.
	if _, err := s.Accept(ctx, run1, "people", "customers", []state.SentRecord{{ExternalID: "C-1", Hash: hash16(9)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(ctx, run1, "customers", "relations", []state.SentRecord{{ExternalID: "C-1", Hash: hash16(8)}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sent(ctx, "customers", "customers", []string{"C-1", "C-2", "C-3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Sent returned %d records, want 2 (C-3 was never sent): %v", len(got), got)
	}
	for _, want := range first {
		g := got[want.ExternalID]
		if g.ExternalID != want.ExternalID || g.SourceKey != want.SourceKey || !bytes.Equal(g.Hash, want.Hash) || !sameJSON(t, g.Delta, want.Delta) {
			t.Errorf("Sent()[%s] = %+v, want %+v", want.ExternalID, g, want)
		}
	}

	// A second Accept replaces the record, with its run and time; within
	// one batch, the last version of an external id wins.
	second := []state.SentRecord{
		{ExternalID: "C-1", SourceKey: "1", Hash: hash16(3), Delta: json.RawMessage(`{"review_groups": []}`)},
		{ExternalID: "C-4", SourceKey: "4", Hash: hash16(4)},
		{ExternalID: "C-4", SourceKey: "5", Hash: hash16(5)},
	}
	if _, err := s.Accept(ctx, run2, "customers", "customers", second); err != nil {
		t.Fatal(err)
	}
	got, err = s.Sent(ctx, "customers", "customers", []string{"C-1", "C-2", "C-4"})
	if err != nil {
		t.Fatal(err)
	}
	if c1 := got["C-1"]; !bytes.Equal(c1.Hash, hash16(3)) || !sameJSON(t, c1.Delta, second[0].Delta) {
		t.Errorf("C-1 after a second Accept: %+v", c1)
	}
	if c4 := got["C-4"]; !bytes.Equal(c4.Hash, hash16(5)) || c4.SourceKey != "5" {
		t.Errorf("C-4 sent twice in one batch: %+v, want the last version", c4)
	}
	if c2 := got["C-2"]; !bytes.Equal(c2.Hash, hash16(2)) || c2.Delta != nil {
		t.Errorf("C-2, not sent again: %+v", c2)
	}
	var runOf = map[string]int64{}
	rows, err := db.Query(`SELECT external_id, run_id FROM algoreg_etl.sent_records WHERE job = 'customers' AND stream = 'customers'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			run int64
		)
		if err := rows.Scan(&id, &run); err != nil {
			t.Fatal(err)
		}
		runOf[id] = run
	}
	if want := map[string]int64{"C-1": run2, "C-2": run1, "C-4": run2}; fmt.Sprint(runOf) != fmt.Sprint(want) {
		t.Errorf("run_id of sent records: %v, want %v", runOf, want)
	}
}

func TestAcceptRefusesBadRecords(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run := startRun(t, s, "customers", state.KindRun)
	good := state.SentRecord{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1)}
	tests := []struct {
		name string
		bad  state.SentRecord
	}{
		{"no external id", state.SentRecord{SourceKey: "2", Hash: hash16(2)}},
		{"no hash", state.SentRecord{ExternalID: "C-2"}},
		{"short hash", state.SentRecord{ExternalID: "C-2", Hash: []byte{1, 2, 3}}},
		{"delta not JSON", state.SentRecord{ExternalID: "C-2", Hash: hash16(2), Delta: json.RawMessage(`{"a":`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Accept(ctx, run, "customers", "customers", []state.SentRecord{good, tt.bad}); err == nil {
				t.Fatal("Accept took the batch")
			}
		})
	}
	// A refused batch stores nothing, not even its good records.
	if got, err := s.Sent(ctx, "customers", "customers", []string{"C-1", "C-2"}); err != nil || len(got) != 0 {
		t.Fatalf("after refused batches: %v, %v", got, err)
	}
	if _, err := s.Accept(ctx, 1e9, "customers", "customers", []state.SentRecord{good}); err == nil {
		t.Fatal("Accept took a batch of a run that does not exist")
	}
}

func TestSentManyIDs(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run := startRun(t, s, "customers", state.KindBackfill)
	const n = 3000
	recs := make([]state.SentRecord, n)
	ids := make([]string, 0, n+10)
	for i := range recs {
		recs[i] = state.SentRecord{ExternalID: fmt.Sprintf("C-%d", i), SourceKey: fmt.Sprint(i), Hash: hash16(byte(i)),
			Delta: json.RawMessage(fmt.Sprintf(`{"n": %d}`, i))}
		ids = append(ids, recs[i].ExternalID)
	}
	if _, err := s.Accept(ctx, run, "customers", "customers", recs); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ids = append(ids, fmt.Sprintf("never-%d", i))
	}
	got, err := s.Sent(ctx, "customers", "customers", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("Sent of %d ids returned %d records, want %d", len(ids), len(got), n)
	}
	for _, want := range recs {
		g, ok := got[want.ExternalID]
		if !ok || g.SourceKey != want.SourceKey || !bytes.Equal(g.Hash, want.Hash) || !sameJSON(t, g.Delta, want.Delta) {
			t.Fatalf("Sent()[%s] = %+v, want %+v", want.ExternalID, g, want)
		}
	}
	if got, err := s.Sent(ctx, "customers", "customers", nil); err != nil || len(got) != 0 {
		t.Errorf("Sent of no ids: %v, %v", got, err)
	}
}

func TestAcceptResolvesErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run1, run2, run3 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRun)
	e := func(job, stream, key, extID, severity, code string) state.RecordError {
		return state.RecordError{RunID: run1, Job: job, Stream: stream, SourceKey: key, ExternalID: extID,
			Stage: state.StageAPI, Severity: severity, Code: code, Message: code}
	}
	errs := []state.RecordError{
		e("customers", "customers", "1", "C-1", state.SeverityError, "by-key-and-id"),
		e("customers", "customers", "1", "", state.SeverityError, "by-key-no-id"),
		e("customers", "customers", "9", "C-2", state.SeverityError, "other-key-same-id"),
		e("customers", "customers", "", "C-2", state.SeverityError, "by-id-no-key"),
		e("customers", "customers", "1", "C-1", state.SeverityWarning, "warning"),
		e("people", "customers", "1", "C-1", state.SeverityError, "other-job"),
		e("customers", "relations", "1", "C-1", state.SeverityError, "other-stream"),
		e("customers", "customers", "3", "C-3", state.SeverityError, "not-accepted"),
		e("customers", "customers", "2", "", state.SeverityError, "resolved-earlier"),
	}
	if err := s.RecordErrors(ctx, errs); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Resolve(ctx, run2, "customers", "customers", []string{"2"}); err != nil || n != 1 {
		t.Fatalf("Resolve of key 2: %d, %v; want 1", n, err)
	}
	n, err := s.Accept(ctx, run3, "customers", "customers", []state.SentRecord{
		{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1)},
		{ExternalID: "C-2", SourceKey: "2", Hash: hash16(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Accept resolved %d errors, want 3", n)
	}
	want := map[string]int64{ // code -> resolving run, 0 for open
		"by-key-and-id": run3, "by-key-no-id": run3, "by-id-no-key": run3, "other-key-same-id": 0,
		"warning": 0, "other-job": 0, "other-stream": 0, "not-accepted": 0,
		"resolved-earlier": run2,
	}
	got, err := s.RecordErrorsOfRun(ctx, run1)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.ResolvedRunID != want[g.Code] {
			t.Errorf("error %s: resolved by run %d, want %d", g.Code, g.ResolvedRunID, want[g.Code])
		}
		if (g.ResolvedAt != nil) != (want[g.Code] != 0) {
			t.Errorf("error %s: resolved at %v", g.Code, g.ResolvedAt)
		}
		if g.ResolvedAt != nil && g.ResolvedAt.Before(g.CreatedAt) {
			t.Errorf("error %s: resolved at %v, before it was recorded at %v", g.Code, g.ResolvedAt, g.CreatedAt)
		}
	}
	// Resolved errors are not resolved again.
	if n, err := s.Accept(ctx, run3, "customers", "customers", []state.SentRecord{{ExternalID: "C-1", SourceKey: "1", Hash: hash16(1)}}); err != nil || n != 0 {
		t.Errorf("second Accept of C-1: resolved %d, %v; want 0", n, err)
	}
}

func TestResolveLeavesSentRecords(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run1, run2 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRetry)
	err := s.RecordErrors(ctx, []state.RecordError{
		{RunID: run1, Job: "customers", Stream: "customers", SourceKey: "1", ExternalID: "C-1", Stage: state.StageAPI, Code: "a", Message: "a"},
		{RunID: run1, Job: "customers", Stream: "customers", SourceKey: "1", ExternalID: "C-1", Stage: state.StageAPI, Code: "b", Message: "b"},
		{RunID: run1, Job: "customers", Stream: "customers", SourceKey: "1", Stage: state.StageAPI, Severity: state.SeverityWarning, Code: "w", Message: "w"},
		{RunID: run1, Job: "customers", Stream: "customers", SourceKey: "2", ExternalID: "C-2", Stage: state.StageAPI, Code: "c", Message: "c"},
		{RunID: run1, Job: "customers", Stream: "relations", SourceKey: "1", Stage: state.StageAPI, Code: "d", Message: "d"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		keys []string
		want int64
	}{
		{nil, 0},
		{[]string{"1", "7"}, 2},
		{[]string{"1"}, 0},
		{[]string{"2"}, 1},
	}
	for _, tt := range tests {
		n, err := s.Resolve(ctx, run2, "customers", "customers", tt.keys)
		if err != nil || n != tt.want {
			t.Errorf("Resolve(%q) = %d, %v; want %d", tt.keys, n, err, tt.want)
		}
	}
	open, err := s.OpenErrors(ctx, "customers", "relations", 10, 0, 0)
	if err != nil || len(open) != 1 {
		t.Errorf("open errors of the relations stream: %v, %v; want 1, untouched", open, err)
	}
	if got, err := s.Sent(ctx, "customers", "customers", []string{"C-1", "C-2"}); err != nil || len(got) != 0 {
		t.Errorf("Resolve wrote sent records: %v, %v", got, err)
	}
}
