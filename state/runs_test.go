package state_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

func TestRunLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	from := time.Date(2025, 1, 1, 0, 0, 0, 123456000, time.UTC)
	to := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	before := time.Now()
	id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill,
		WindowFrom: &from, WindowFromKey: "C-9", WindowTo: &to, BackfillFrom: &from, BackfillUntil: &to,
		Counts: state.Counts{Sent: 99}, Status: state.StatusSucceeded}) // ignored
	if err != nil {
		t.Fatal(err)
	}

	r, err := s.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != id || r.Job != "customers" || r.Kind != state.KindBackfill || r.Status != state.StatusRunning {
		t.Errorf("started run: %+v", r)
	}
	if r.StartedAt.Before(before.Add(-time.Minute)) || r.FinishedAt != nil {
		t.Errorf("started run: started %v, finished %v", r.StartedAt, r.FinishedAt)
	}
	if r.WindowFrom == nil || !r.WindowFrom.Equal(from) || r.WindowFromKey != "C-9" || r.WindowTo == nil || !r.WindowTo.Equal(to) {
		t.Errorf("started run window: %v %q %v", r.WindowFrom, r.WindowFromKey, r.WindowTo)
	}
	if r.BackfillFrom == nil || !r.BackfillFrom.Equal(from) || r.BackfillUntil == nil || !r.BackfillUntil.Equal(to) {
		t.Errorf("started run backfill range: %v %v", r.BackfillFrom, r.BackfillUntil)
	}
	if r.ResumeOf != 0 || r.Progress != nil {
		t.Errorf("started run: resume_of %d, progress %v; want none", r.ResumeOf, r.Progress)
	}
	if r.Counts != (state.Counts{}) || r.DisableRiskScan != nil || r.Error != "" {
		t.Errorf("started run: counts %+v, disable_risk_scan %v, error %q", r.Counts, r.DisableRiskScan, r.Error)
	}

	if err := s.SetRunRiskScan(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	mid := state.Counts{Extracted: 10, Sent: 7, Added: 3, Skipped: 1, Invalid: 1, Rejected: 1, Warnings: 2, Retried: 4, Resolved: 3}
	wm := state.Watermark{UpdatedAt: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC), Key: "C-100"}
	if err := s.Checkpoint(ctx, state.Checkpoint{RunID: id, Job: "customers", Stream: "customers", Watermark: &wm, Counts: mid}); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r.Counts != mid || r.DisableRiskScan == nil || !*r.DisableRiskScan || r.Status != state.StatusRunning {
		t.Errorf("after checkpoint: counts %+v, disable_risk_scan %v, status %s", r.Counts, r.DisableRiskScan, r.Status)
	}
	// Counts only.
	more := mid
	more.Extracted = 20
	if err := s.Checkpoint(ctx, state.Checkpoint{RunID: id, Job: "customers", Counts: more}); err != nil {
		t.Fatal(err)
	}
	if w, ok, err := s.Watermark(ctx, "customers", "customers"); err != nil || !ok || w != wm {
		t.Errorf("watermark after a counts-only checkpoint: %v %v %v, want %v", w, ok, err, wm)
	}

	final := state.Counts{Extracted: 20, Sent: 17, Added: 3, Skipped: 1, Invalid: 1, Rejected: 1, Warnings: 2, Retried: 5, Resolved: 4}
	if err := s.FinishRun(ctx, id, state.StatusPartial, final, ""); err != nil {
		t.Fatal(err)
	}
	if r, err = s.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	if r.Status != state.StatusPartial || r.Counts != final || r.FinishedAt == nil || r.FinishedAt.Before(r.StartedAt) || r.Error != "" {
		t.Errorf("finished run: %+v", r)
	}

	// A closed run can be neither checkpointed nor finished again, and its
	// watermark stays put.
	later := state.Watermark{UpdatedAt: wm.UpdatedAt.Add(time.Hour), Key: "C-200"}
	err = s.Checkpoint(ctx, state.Checkpoint{RunID: id, Job: "customers", Stream: "customers", Watermark: &later, Counts: final})
	if !errors.Is(err, state.ErrRunClosed) {
		t.Errorf("Checkpoint of a closed run: %v, want ErrRunClosed", err)
	}
	if w, _, _ := s.Watermark(ctx, "customers", "customers"); w != wm {
		t.Errorf("watermark moved by a refused checkpoint: %v", w)
	}
	if err := s.FinishRun(ctx, id, state.StatusFailed, final, "late"); !errors.Is(err, state.ErrRunClosed) {
		t.Errorf("FinishRun of a closed run: %v, want ErrRunClosed", err)
	}
	if err := s.FinishRun(ctx, 1e9, state.StatusFailed, final, ""); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("FinishRun of a missing run: %v, want sql.ErrNoRows", err)
	}
	if _, err := s.Run(ctx, 1e9); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("Run of a missing run: %v, want sql.ErrNoRows", err)
	}
	if err := s.SetRunRiskScan(ctx, 1e9, false); !errors.Is(err, sql.ErrNoRows) {
		t.Errorf("SetRunRiskScan of a missing run: %v, want sql.ErrNoRows", err)
	}
}

func TestCheckpointOfAnotherJobsRun(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	wm := state.Watermark{UpdatedAt: time.Now(), Key: "1"}
	if err := s.Checkpoint(ctx, state.Checkpoint{RunID: id, Job: "other", Stream: "customers", Watermark: &wm}); err == nil {
		t.Fatal("Checkpoint with the wrong job succeeded")
	}
	if _, ok, _ := s.Watermark(ctx, "other", "customers"); ok {
		t.Fatal("a refused checkpoint set a watermark")
	}
}

func TestFinishRunFailed(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	id, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, id, state.StatusRunning, state.Counts{}, ""); err == nil {
		t.Fatal("FinishRun accepted status running")
	}
	if err := s.FinishRun(ctx, id, state.StatusFailed, state.Counts{Extracted: 5}, "api: 503 Service Unavailable"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != state.StatusFailed || r.Error != "api: 503 Service Unavailable" || r.Extracted != 5 {
		t.Fatalf("failed run: %+v", r)
	}
}

func TestStartRunRefusesUnknownKind(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.StartRun(context.Background(), state.Run{Job: "customers", Kind: "nightly"}); err == nil {
		t.Fatal("StartRun accepted kind nightly")
	}
}

func TestRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var ids []int64
	for _, job := range []string{"customers", "relations", "customers", "customers"} {
		id, err := s.StartRun(ctx, state.Run{Job: job, Kind: state.KindRun})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	tests := []struct {
		job   string
		limit int
		want  []int64
	}{
		{"", 0, []int64{ids[3], ids[2], ids[1], ids[0]}},
		{"", 2, []int64{ids[3], ids[2]}},
		{"customers", 0, []int64{ids[3], ids[2], ids[0]}},
		{"customers", 1, []int64{ids[3]}},
		{"relations", 10, []int64{ids[1]}},
		{"nobody", 10, nil},
	}
	for _, tt := range tests {
		runs, err := s.Runs(ctx, tt.job, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range runs {
			got = append(got, r.ID)
			if tt.job != "" && r.Job != tt.job {
				t.Errorf("Runs(%q) returned a run of %q", tt.job, r.Job)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Runs(%q, %d) = %v, want %v", tt.job, tt.limit, got, tt.want)
		}
	}
}

func TestAbandonRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	start := func(job string) int64 {
		id, err := s.StartRun(ctx, state.Run{Job: job, Kind: state.KindRun})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	done := start("customers")
	if err := s.FinishRun(ctx, done, state.StatusSucceeded, state.Counts{}, ""); err != nil {
		t.Fatal(err)
	}
	dead1, dead2 := start("customers"), start("customers")
	otherJob := start("relations")

	n, err := s.AbandonRuns(ctx, "customers")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("AbandonRuns marked %d runs, want 2", n)
	}
	want := map[int64]string{done: state.StatusSucceeded, dead1: state.StatusInterrupted, dead2: state.StatusInterrupted, otherJob: state.StatusRunning}
	for id, status := range want {
		r, err := s.Run(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != status {
			t.Errorf("run %d of %s is %s, want %s", id, r.Job, r.Status, status)
		}
		if status == state.StatusInterrupted && (r.Error != "process ended without closing the run" || r.FinishedAt == nil) {
			t.Errorf("abandoned run %d: error %q, finished %v", id, r.Error, r.FinishedAt)
		}
	}
	// The process that died cannot resurrect its run.
	if err := s.FinishRun(ctx, dead1, state.StatusSucceeded, state.Counts{}, ""); !errors.Is(err, state.ErrRunClosed) {
		t.Errorf("FinishRun of an abandoned run: %v, want ErrRunClosed", err)
	}
	if n, err := s.AbandonRuns(ctx, "customers"); err != nil || n != 0 {
		t.Errorf("second AbandonRuns: %d, %v; want 0", n, err)
	}

	// A run that started before the server's last start lost its
	// connections to the state database then: its error says so.
	lost := start("customers")
	if _, err := s.DB().Exec(`UPDATE algoreg_etl.runs SET started_at = pg_postmaster_start_time() - interval '1 minute' WHERE id = $1`, lost); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AbandonRuns(ctx, "customers"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Run(ctx, lost)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != state.StatusInterrupted || !strings.HasPrefix(r.Error, "lost the state database: its server restarted at ") {
		t.Errorf("run %d, started before the server: %s, %q", lost, r.Status, r.Error)
	}
}

// TestCountsAdd checks that Add adds every field, including fields added
// to Counts later.
func TestCountsAdd(t *testing.T) {
	var d state.Counts
	v := reflect.ValueOf(&d).Elem()
	for i := range v.NumField() {
		v.Field(i).SetInt(int64(i + 1))
	}
	c := d
	c.Add(d)
	got := reflect.ValueOf(c)
	for i := range got.NumField() {
		if got.Field(i).Int() != 2*int64(i+1) {
			t.Errorf("after Add, %s = %d, want %d", got.Type().Field(i).Name, got.Field(i).Int(), 2*(i+1))
		}
	}
}
