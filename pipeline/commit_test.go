package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// The answers of calls that end while a chunk's state commits are
// committed together, in one transaction with one checkpoint, and no
// longer one by one: the run's row is written once for them. The run
// still counts, records and moves its watermark as it would chunk by
// chunk.
func TestChunksReadyTogetherCommitTogether(t *testing.T) {
	const rows, chunkSize, concurrency = 16, 2, 4
	f := newFixture(t)
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= rows; i++ {
		f.insertPeople(t, i, 1, base.Add(time.Duration(i)*time.Second))
	}
	f.job.ChunkSize, f.job.Concurrency, f.job.PageSize = chunkSize, concurrency, 4

	// Hold the first commit: sent_records locked, the first chunk to
	// record what the API accepted waits, and the others are answered
	// meanwhile.
	lock := f.holdSentRecords(t)
	type outcome struct {
		res *pipeline.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
		done <- outcome{res, err}
	}()
	// Twice the calls in flight are in process: every chunk but the first
	// is answered while the first waits.
	inProcess := 2 * concurrency
	for deadline := time.Now().Add(30 * time.Second); f.api.Received() < inProcess*chunkSize; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the API received %d records; want %d while the first commit waits", f.api.Received(), inProcess*chunkSize)
		}
	}
	time.Sleep(200 * time.Millisecond) // the answered chunks queue behind the first
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("run: %v", o.err)
	}
	counted(t, o.res)
	if o.res.Status != state.StatusSucceeded || o.res.Counts.Sent != rows {
		t.Fatalf("run %s, %d sent; want succeeded, %d sent", o.res.Status, o.res.Counts.Sent, rows)
	}
	f.sameAsSource(t)
	wm, ok := f.watermark(t)
	if !ok || wm.Key != "16" {
		t.Errorf("watermark %+v, %v; want at the last row, 16", wm, ok)
	}
	run, err := f.env.State.Run(context.Background(), o.res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Counts != o.res.Counts {
		t.Errorf("run row counts %+v; want the run's %+v", run.Counts, o.res.Counts)
	}

	// Rows one transaction wrote share its xmin.
	var chunks, commits int
	if err := f.db.QueryRow(`SELECT count(*), count(DISTINCT xmin::text) FROM algoreg_etl.run_chunks WHERE run_id = $1`,
		o.res.RunID).Scan(&chunks, &commits); err != nil {
		t.Fatal(err)
	}
	if chunks != rows/chunkSize {
		t.Fatalf("%d chunks recorded; want %d", chunks, rows/chunkSize)
	}
	// The first chunk commits alone, the chunks answered while it waited
	// together, and the chunks after them at most one by one.
	if max := 2 + (rows/chunkSize - inProcess); commits > max {
		t.Errorf("%d chunks committed in %d transactions; want at most %d: the %d answered while the first waited in one",
			chunks, commits, max, inProcess-1)
	}
}
