package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// nullCursorErrors returns the record errors of run that name a NULL
// cursor_updated_at, by source key.
func nullCursorErrors(t *testing.T, f *fixture, runID int64) map[string]state.RecordError {
	t.Helper()
	errs, err := f.env.State.RecordErrorsOfRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]state.RecordError)
	for _, e := range errs {
		if e.Code != pipeline.CodeNullCursor {
			continue
		}
		if _, twice := out[e.SourceKey]; twice {
			t.Errorf("run %d recorded the row with key %s twice", runID, e.SourceKey)
		}
		out[e.SourceKey] = e
	}
	return out
}

// A row whose cursor_updated_at is NULL has no place in the change order,
// so no window holds it. Every run that reads windows records it as a
// record error naming the row and the field, so that a source of only such
// rows does not look empty, and a reconcile does not take its customer for
// deleted.
func TestNullCursorRowsAreRecordErrors(t *testing.T) {
	f := newFixture(t)
	base := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	f.exec(t, `ALTER TABLE clients ALTER updated_at DROP NOT NULL`)
	f.exec(t, `INSERT INTO clients (id, client_ref, kind, family_name, birth_date, updated_at)
		SELECT g, 'N-' || g, 'person', 'Null', date '1980-01-01', NULL FROM generate_series(1, 4) g`)
	keys := []string{"1", "2", "3", "4"} // more than a page (2) and a chunk (3)

	check := func(what string, res *pipeline.Result, want int64) {
		t.Helper()
		counted(t, res)
		if res.Status != state.StatusPartial || res.Counts.Invalid != want || res.Counts.Extracted < want {
			t.Errorf("%s: status %s, counts %+v; want partial with %d invalid", what, res.Status, res.Counts, want)
		}
		got := nullCursorErrors(t, f, res.RunID)
		for _, k := range keys[:want] {
			e, ok := got[k]
			if !ok {
				t.Errorf("%s: no record error for the row with key %s; errors %v", what, k, got)
				continue
			}
			if e.Stage != state.StageExtract || e.Field != "cursor_updated_at" || e.ExternalID != "N-"+k ||
				!strings.Contains(e.Message, "cursor_updated_at") || !strings.Contains(e.Message, k) {
				t.Errorf("%s: record error of key %s: %+v", what, k, e)
			}
		}
		for id := range f.api.Customers() {
			if strings.HasPrefix(id, "N-") {
				t.Errorf("%s: %s was sent", what, id)
			}
		}
	}

	// A source of only such rows is not an empty source.
	check("run", f.run(t), 4)
	check("backfill", f.runWith(t, pipeline.Options{Kind: state.KindBackfill}), 4)
	check("verify", f.runWith(t, pipeline.Options{Kind: state.KindVerify}), 4)

	// A customer whose updated_at becomes NULL is still in the source: a
	// reconcile disabling what is missing leaves it alone.
	f.exec(t, `INSERT INTO clients (id, client_ref, kind, family_name, birth_date, updated_at) VALUES (10, 'C-1', 'person', 'One', '1980-01-01', $1)`, base)
	if res := f.run(t); res.Counts.Sent != 1 || len(nullCursorErrors(t, f, res.RunID)) != 4 {
		t.Fatalf("run: %+v", res.Counts)
	}
	f.exec(t, `UPDATE clients SET updated_at = NULL WHERE id = 10`)
	keys = append(keys, "10")
	f.job.OnMissing, f.job.MaxDisableFraction = configs.OnMissingDisable, 1
	rec := f.runWith(t, pipeline.Options{Kind: state.KindReconcile})
	if rec.Counts.Missing != 0 || rec.Counts.Disabled != 0 {
		t.Errorf("reconcile took the NULL-cursor row for deleted: %+v", rec.Counts)
	}
	if c, _ := f.api.Customer("C-1"); c.Disabled != nil && *c.Disabled {
		t.Error("the reconcile disabled C-1")
	}
	if got := nullCursorErrors(t, f, rec.RunID); len(got) != 5 {
		t.Errorf("reconcile recorded %d NULL-cursor errors, want 5: %v", len(got), got)
	}

	// Once the cursor is set, the next run sends the row and resolves its
	// error.
	f.exec(t, `UPDATE clients SET updated_at = now() WHERE id = 1`)
	res := f.run(t)
	if _, ok := f.api.Customer("N-1"); !ok {
		t.Errorf("N-1 not sent once its cursor was set: %+v", res.Counts)
	}
	if _, ok := nullCursorErrors(t, f, res.RunID)["1"]; ok {
		t.Error("the row with key 1 is still recorded as NULL-cursor")
	}
	open, err := f.env.State.OpenErrors(context.Background(), f.job.Name, pipeline.StreamCustomers, 100, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range open {
		if e.SourceKey == "1" {
			t.Errorf("the error of the row with key 1 is still open: %+v", e)
		}
	}
}
