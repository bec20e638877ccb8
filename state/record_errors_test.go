package state_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/algoreg/algoreg-etl/state"
)

func TestRecordErrors(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	in := []state.RecordError{
		{RunID: run, Job: "customers", Stream: "customers", SourceKey: "17", Stage: state.StageTransform,
			Code: "missing_field", Field: "external_id", Message: "external_id is empty"},
		{RunID: run, Job: "customers", Stream: "customers", SourceKey: "18", ExternalID: "C-18", Stage: state.StageAPI,
			Code: "invalid_date", Field: "date_of_birth", Message: "date_of_birth: not a date", Severity: state.SeverityError,
			Payload: json.RawMessage(`{"external_id": "C-18", "date_of_birth": "1990-02-30", "nationality_codes": ["FR", "DE"]}`)},
		{RunID: run, Job: "customers", Stream: "relations", ExternalID: "R-1", Stage: state.StageAPI,
			Code: "W1", Message: "parent has no name, it's ‘odd’", Severity: state.SeverityWarning,
			Payload: json.RawMessage(`{"note": "quote ' and \" and \\ and {braces}, commas", "n": null}`)},
	}
	if err := s.RecordErrors(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordErrors(ctx, []state.RecordError{{RunID: other, Job: "customers", Stream: "customers",
		Stage: state.StageAPI, Code: "x", Message: "of another run"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordErrors(ctx, nil); err != nil {
		t.Fatalf("RecordErrors of nothing: %v", err)
	}

	got, err := s.RecordErrorsOfRun(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("RecordErrorsOfRun returned %d errors, want %d", len(got), len(in))
	}
	for i, g := range got {
		want := in[i]
		if want.Severity == "" {
			want.Severity = state.SeverityError
		}
		want.Attempt = 1
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("errors not in id order: %d after %d", g.ID, got[i-1].ID)
		}
		if g.CreatedAt.IsZero() {
			t.Errorf("error %d has no creation time", i)
		}
		if !sameJSON(t, g.Payload, want.Payload) {
			t.Errorf("error %d payload %s, want %s", i, g.Payload, want.Payload)
		}
		g.ID, g.CreatedAt, g.Payload, want.Payload = 0, want.CreatedAt, nil, nil
		if !reflect.DeepEqual(g, want) {
			t.Errorf("error %d:\n got %+v\nwant %+v", i, g, want)
		}
	}

	// What is unknown is NULL, as an auditor's query expects.
	var nulls struct{ ExternalID, Field, SourceKey, Payload int }
	err = db.QueryRow(`SELECT count(*) FILTER (WHERE external_id IS NULL), count(*) FILTER (WHERE field IS NULL),
		count(*) FILTER (WHERE source_key IS NULL), count(*) FILTER (WHERE payload IS NULL)
		FROM algoreg_etl.record_errors WHERE run_id = $1`, run).Scan(&nulls.ExternalID, &nulls.Field, &nulls.SourceKey, &nulls.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != (struct{ ExternalID, Field, SourceKey, Payload int }{1, 1, 1, 1}) {
		t.Errorf("NULL counts (external_id, field, source_key, payload) = %+v, want 1 each", nulls)
	}
	var dob string
	if err := db.Get(&dob, `SELECT payload->>'date_of_birth' FROM algoreg_etl.record_errors WHERE external_id = 'C-18'`); err != nil || dob != "1990-02-30" {
		t.Errorf("payload is not queryable as jsonb: %q, %v", dob, err)
	}
}

func TestRecordErrorsRefusesBadRows(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	ok := state.RecordError{RunID: run, Job: "customers", Stream: "customers", Stage: state.StageAPI, Code: "c", Message: "m"}
	tests := []struct {
		name   string
		change func(*state.RecordError)
	}{
		{"unknown stage", func(e *state.RecordError) { e.Stage = "load" }},
		{"unknown severity", func(e *state.RecordError) { e.Severity = "info" }},
		{"unknown run", func(e *state.RecordError) { e.RunID = 1e9 }},
		{"payload not JSON", func(e *state.RecordError) { e.Payload = json.RawMessage(`{"a":`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := ok
			tt.change(&bad)
			if err := s.RecordErrors(ctx, []state.RecordError{ok, bad}); err == nil {
				t.Fatal("RecordErrors accepted the batch")
			}
		})
	}
	// A refused batch stores nothing, not even its good rows.
	if got, err := s.RecordErrorsOfRun(ctx, run); err != nil || len(got) != 0 {
		t.Fatalf("after refused batches: %d errors stored, %v", len(got), err)
	}
}

// sameJSON reports whether a and b hold equal JSON values, or are both nil.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(va, vb)
}

func BenchmarkRecordErrors(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 50, 500} {
		errs := make([]state.RecordError, n)
		for i := range errs {
			errs[i] = state.RecordError{RunID: run, Job: "customers", Stream: "customers", SourceKey: fmt.Sprint(i),
				ExternalID: fmt.Sprintf("C-%d", i), Stage: state.StageAPI, Code: "invalid_date", Field: "date_of_birth",
				Message: "date_of_birth: not a date", Payload: json.RawMessage(`{"external_id": "C-1", "date_of_birth": "1990-02-30"}`)}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if err := s.RecordErrors(ctx, errs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
