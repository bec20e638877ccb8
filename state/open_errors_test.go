package state_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	r1, r2, r3, r4 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRun),
		startRun(t, s, "customers", state.KindRetry), startRun(t, s, "customers", state.KindRetry)
	at := func(minute int) time.Time { return time.Date(2025, 3, 1, 2, minute, 0, 0, time.UTC) }
	type rec struct {
		run              int64
		stream, key, ext string
		severity, code   string
		at               time.Time
		attempt          int
	}
	// The errors of several attempts of a row, as RecordFailures would
	// leave them had the superseded ones not been resolved.
	recs := []rec{
		{r1, "customers", "a", "C-a", "", "a1", at(1), 1},
		{r2, "customers", "a", "C-a", "", "a2", at(5), 2},
		{r2, "customers", "a", "C-a2", "", "a3", at(5), 2}, // same attempt, the latest error
		{r1, "customers", "b", "C-b", "", "b1", at(2), 1},
		{r2, "customers", "b", "C-b", "", "b2", at(3), 2},
		{r3, "customers", "b", "C-b", "", "b3", at(4), 3},
		{r3, "customers", "c", "", "", "c1", at(3), 1},
		{r4, "customers", "g", "C-g", "", "g1", at(6), 1},
		{r1, "customers", "d", "C-d", "", "d1", at(0), 1},                    // resolved below
		{r1, "customers", "e", "C-e", state.SeverityWarning, "e1", at(0), 1}, // a warning
		{r1, "relations", "f", "R-f", "", "f1", at(0), 1},                    // another stream
		{r1, "customers", "", "C-x", "", "x1", at(0), 1},                     // no source key
	}
	// Findings of a verify run are not failures to retry.
	verify, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindVerify})
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, rec{verify, "customers", "v", "C-v", "", "v1", at(7), 1})
	for _, r := range recs {
		err := s.RecordErrors(ctx, []state.RecordError{{RunID: r.run, Job: "customers", Stream: r.stream, SourceKey: r.key,
			ExternalID: r.ext, Stage: state.StageAPI, Severity: r.severity, Code: r.code, Field: "field_" + r.code, Message: "message " + r.code}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE algoreg_etl.record_errors SET created_at = $1, attempt = $3 WHERE code = $2`, r.at, r.code, r.attempt); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Resolve(ctx, r4, "customers", "customers", []string{"d"}); err != nil {
		t.Fatal(err)
	}

	keys := func(errs []state.OpenError) []string {
		var ks []string
		for _, e := range errs {
			ks = append(ks, e.SourceKey)
		}
		return ks
	}
	tests := []struct {
		maxAttempts, limit int
		open, stuck        []string
	}{
		{3, 0, []string{"c", "a", "g"}, []string{"b"}},
		{3, 2, []string{"c", "a"}, []string{"b"}},
		{3, 1, []string{"c"}, []string{"b"}},
		{4, 0, []string{"c", "b", "a", "g"}, nil},
		{2, 0, []string{"c", "g"}, []string{"b", "a"}},
		{1, 0, nil, []string{"c", "b", "a", "g"}},
	}
	for _, tt := range tests {
		open, err := s.OpenErrors(ctx, "customers", "customers", tt.maxAttempts, 0, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(open); !slices.Equal(got, tt.open) {
			t.Errorf("OpenErrors(max %d, limit %d) = %q, want %q", tt.maxAttempts, tt.limit, got, tt.open)
		}
		stuck, err := s.StuckErrors(ctx, "customers", "customers", tt.maxAttempts)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(stuck); !slices.Equal(got, tt.stuck) {
			t.Errorf("StuckErrors(max %d) = %q, want %q", tt.maxAttempts, got, tt.stuck)
		}
	}

	all, err := s.OpenErrors(ctx, "customers", "customers", 10, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]state.OpenError{
		"a": {SourceKey: "a", ExternalID: "C-a2", Code: "a3", Field: "field_a3", Message: "message a3", LastRunID: r2, Attempts: 2, FirstSeen: at(1), LastSeen: at(5)},
		"b": {SourceKey: "b", ExternalID: "C-b", Code: "b3", Field: "field_b3", Message: "message b3", LastRunID: r3, Attempts: 3, FirstSeen: at(2), LastSeen: at(4)},
		"c": {SourceKey: "c", Code: "c1", Field: "field_c1", Message: "message c1", LastRunID: r3, Attempts: 1, FirstSeen: at(3), LastSeen: at(3)},
		"g": {SourceKey: "g", ExternalID: "C-g", Code: "g1", Field: "field_g1", Message: "message g1", LastRunID: r4, Attempts: 1, FirstSeen: at(6), LastSeen: at(6)},
	}
	if len(all) != len(want) {
		t.Fatalf("OpenErrors returned %d keys, want %d: %+v", len(all), len(want), all)
	}
	for _, g := range all {
		if w := want[g.SourceKey]; g != w {
			t.Errorf("open error of key %s:\n got %+v\nwant %+v", g.SourceKey, g, w)
		}
	}
	if rel, err := s.OpenErrors(ctx, "customers", "relations", 10, 0, 0); err != nil || len(rel) != 1 || rel[0].SourceKey != "f" {
		t.Errorf("open errors of relations: %+v, %v; want key f", rel, err)
	}
	if none, err := s.OpenErrors(ctx, "people", "customers", 10, 0, 0); err != nil || len(none) != 0 {
		t.Errorf("open errors of a job without errors: %+v, %v", none, err)
	}
}

// A run leaves out the rows it has met already; Held gives the rows it
// held back for a customer.
func TestOpenErrorsOfARun(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	r1, r2 := startRun(t, s, "customers", state.KindRun), startRun(t, s, "customers", state.KindRun)
	fail := func(run int64, key, stage, code string) {
		t.Helper()
		if _, err := s.RecordFailures(ctx, run, "customers", "customers", []state.RecordError{{SourceKey: key, ExternalID: "C-" + key,
			Stage: stage, Code: code, Message: code, Hash: hash16(1)}}); err != nil {
			t.Fatal(err)
		}
	}
	fail(r1, "a", state.StageTransform, "x")
	fail(r1, "b", state.StageDependency, "parent_not_sent")
	fail(r1, "c", state.StageDependency, "parent_not_sent")
	fail(r2, "b", state.StageDependency, "parent_not_sent") // met again by run 2
	fail(r2, "d", state.StageTransform, "y")
	keys := func(errs []state.OpenError, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, e := range errs {
			ks = append(ks, e.SourceKey)
		}
		return strings.Join(ks, ",")
	}
	if got := keys(s.OpenErrors(ctx, "customers", "customers", 5, r2, 0)); got != "a,c" {
		t.Errorf("open errors run 2 has not met: %s; want a,c", got)
	}
	if got := keys(s.OpenErrors(ctx, "customers", "customers", 5, 0, 0)); got != "a,c,b,d" {
		t.Errorf("open errors: %s; want a,c,b,d", got)
	}
	if got := keys(s.Held(ctx, r2, "customers", "customers", 0)); got != "b" {
		t.Errorf("rows run 2 held: %s; want b", got)
	}
	if got := keys(s.Held(ctx, r1, "customers", "customers", 0)); got != "c" {
		t.Errorf("rows run 1 held: %s; want c", got)
	}
}
