package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/jmoiron/sqlx"
)

// A process killed after the API answered its chunks and before it
// recorded them re-sends, on the next run, only those chunks, and writes
// no record twice into the history: a chunk's state (its history, the
// records accepted, its record errors and the checkpoint) is one
// transaction.
//
// The test holds sent_records locked, so that the child process, a real
// one, stops at the point between the API's answer and the commit of each
// chunk's state; it is killed with SIGKILL as soon as one chunk waits
// there.
func TestKillBetweenAnswerAndCommit(t *testing.T) {
	if os.Getenv("ALGOREG_ETL_TEST_CHILD") != "" {
		t.Skip("in the child")
	}
	const rows, chunkSize, concurrency = 40, 4, 2
	f := newFixture(t)
	f.insertSpread(t, rows, time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC))
	f.api.SetFaults(algoregtest.Faults{Latency: 5 * time.Millisecond})

	lock := f.holdSentRecords(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildKilledBeforeCommit$", "-test.v")
	cmd.Env = append(os.Environ(), "ALGOREG_ETL_TEST_CHILD=1", "CHILD_DSN="+f.db.URL, "CHILD_API="+f.api.URL, "CHILD_TOKEN="+f.api.Token)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the API has answered and a chunk waits to record it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int
		if err := f.db.Get(&waiting, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 && f.api.Received() > 0 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no chunk waited to record what the API answered (received %d)", f.api.Received())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	answered := f.api.Received()
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	f.api.SetFaults(algoregtest.Faults{})

	res := f.runAfterKill(t)
	counted(t, res)
	f.sameAsSource(t)

	// Each record was accepted once: the history holds it once.
	var twice []string
	if err := f.db.Select(&twice, `SELECT external_id FROM algoreg_etl.record_history
		WHERE outcome <> 'error' GROUP BY external_id HAVING count(*) > 1 ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(twice) > 0 {
		t.Errorf("records written twice into the history: %v", twice)
	}
	var history int
	if err := f.db.Get(&history, `SELECT count(*) FROM algoreg_etl.record_history`); err != nil {
		t.Fatal(err)
	}
	if history != rows {
		t.Errorf("the history holds %d sends of %d rows, each sent once and accepted", history, rows)
	}
	// Only the chunks in process when the kill came were sent again: at
	// most twice the calls in flight, as the pipeline keeps in process.
	resent := f.api.Received() - rows
	if resent == 0 || resent > 2*concurrency*chunkSize {
		t.Errorf("%d records sent again (%d received before the kill); want 1 to %d, the chunks in process", resent, answered, 2*concurrency*chunkSize)
	}
}

// TestChildKilledBeforeCommit is the process that
// TestKillBetweenAnswerAndCommit kills.
func TestChildKilledBeforeCommit(t *testing.T) {
	if os.Getenv("ALGOREG_ETL_TEST_CHILD") == "" {
		t.Skip("run by TestKillBetweenAnswerAndCommit")
	}
	f := childFixture(t, os.Getenv("CHILD_DSN"), os.Getenv("CHILD_API"), os.Getenv("CHILD_TOKEN"))
	f.job.ChunkSize, f.job.PageSize, f.job.Concurrency = 4, 12, 2
	pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
}

// holdSentRecords locks sent_records until the returned transaction ends
// (at the latest when the test does): the first chunk to store what the
// API accepted waits for it, with its answer read and not committed.
func (f *fixture) holdSentRecords(t *testing.T) *sqlx.Tx {
	t.Helper()
	lock, err := f.db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Rollback() })
	if _, err := lock.Exec(`LOCK TABLE algoreg_etl.sent_records IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return lock
}
