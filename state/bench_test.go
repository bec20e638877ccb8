package state_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// The state writes and reads of one chunk are the pipeline's bookkeeping:
// these benchmarks measure them at the default chunk size, against a real
// PostgreSQL, so that a change of a query or of the schema shows its cost.

// benchChunk is the default chunk size.
const benchChunk = 500

// sentRecords returns n records with distinct external ids starting at
// from, as the pipeline accepts them: a hash and, for some, a delta.
func sentRecords(from, n int) []state.SentRecord {
	recs := make([]state.SentRecord, n)
	for i := range recs {
		id := fmt.Sprintf("C%09d", from+i)
		h := sha256.Sum256([]byte(id))
		recs[i] = state.SentRecord{ExternalID: id, SourceKey: fmt.Sprint(from + i), Hash: h[:16]}
		if i%4 == 0 {
			recs[i].Delta = json.RawMessage(`{"review_groups":[{"_op":"set","value":"retail"}],"contacts":[]}`)
		}
	}
	return recs
}

// backfilled returns a new store whose backfill run, also returned, has
// accepted the records sentRecords(0, n).
func backfilled(b *testing.B, n int) (*state.Store, *sqltest.DB, int64) {
	ctx := context.Background()
	s, db := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill})
	if err != nil {
		b.Fatal(err)
	}
	for from := 0; from < n; from += 5000 {
		if _, err := s.Accept(ctx, run, "customers", "customers", sentRecords(from, min(5000, n-from))); err != nil {
			b.Fatal(err)
		}
	}
	return s, db, run
}

// BenchmarkCheckpoint measures the checkpoint written each time a chunk
// settles: counts and watermark in a transaction (a run), or the run's
// progress in one statement (a backfill).
func BenchmarkCheckpoint(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var c state.Counts
	b.Run("watermark", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c.Extracted += benchChunk
			w := &state.Watermark{UpdatedAt: at.Add(time.Duration(i) * time.Second), Key: fmt.Sprint(i)}
			if err := s.Checkpoint(ctx, state.Checkpoint{RunID: run, Job: "customers", Stream: "customers", Watermark: w, Counts: c}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("progress", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c.Extracted += benchChunk
			w := state.Watermark{UpdatedAt: at.Add(time.Duration(i) * time.Second), Key: fmt.Sprint(i)}
			if err := s.SetRunProgress(ctx, run, w, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAccept measures recording a chunk of records the API accepted,
// new ones (a first backfill) and ones stored before (a later send).
func BenchmarkAccept(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill})
	if err != nil {
		b.Fatal(err)
	}
	next := 0
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Accept(ctx, run, "customers", "customers", sentRecords(next, benchChunk)); err != nil {
				b.Fatal(err)
			}
			next += benchChunk
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchChunk), "ns/record")
	})
	b.Run("again", func(b *testing.B) {
		recs := sentRecords(0, benchChunk)
		for b.Loop() {
			if _, err := s.Accept(ctx, run, "customers", "customers", recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchChunk), "ns/record")
	})
}

// BenchmarkSent measures the lookup of what was last accepted for a chunk,
// in a table holding many records, as the state database is right after a
// backfill: its statistics not yet refreshed by autovacuum (or never, on a
// server where autovacuum is off), so that the query's plan must not hang
// on them.
func BenchmarkSent(b *testing.B) {
	ctx := context.Background()
	const stored = 50_000
	s, _, _ := backfilled(b, stored)
	rng := rand.New(rand.NewPCG(1, 2))
	b.Run(fmt.Sprintf("stored=%d", stored), func(b *testing.B) {
		for b.Loop() {
			from := rng.IntN(stored - benchChunk)
			ids := make([]string, benchChunk)
			for i := range ids {
				ids[i] = fmt.Sprintf("C%09d", from+i)
			}
			got, err := s.Sent(ctx, "customers", "customers", ids)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) != benchChunk {
				b.Fatalf("found %d of %d records", len(got), benchChunk)
			}
		}
	})
}

// BenchmarkClaim measures the claims a chunk of external ids the API has
// not accepted yet makes, as in a first backfill: every record of the run
// is new.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	s, db := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill})
	if err != nil {
		b.Fatal(err)
	}
	next := 0
	cpu := backendCPU(b, db)
	for b.Loop() {
		recs := sentRecords(next, benchChunk)
		ids, keys := make([]string, len(recs)), make([]string, len(recs))
		for i, r := range recs {
			ids[i], keys[i] = r.ExternalID, r.SourceKey
		}
		if _, err := s.Claim(ctx, run, "customers", "customers", ids, keys); err != nil {
			b.Fatal(err)
		}
		next += benchChunk
	}
	if after := backendCPU(b, db); cpu >= 0 && after >= 0 {
		b.ReportMetric(float64((after-cpu).Nanoseconds())/float64(b.N*benchChunk), "pg-ns/record")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchChunk), "ns/record")
}

// BenchmarkRecordFailures measures the record errors of a chunk whose rows
// all fail: first, then again unchanged (met again, as a lookback re-read
// does).
func BenchmarkRecordFailures(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	failures := func(from int) []state.RecordError {
		errs := make([]state.RecordError, benchChunk)
		for i := range errs {
			key := fmt.Sprint(from + i)
			h := sha256.Sum256([]byte(key))
			errs[i] = state.RecordError{SourceKey: key, ExternalID: "C" + key, Stage: state.StageTransform, Code: "date_in_future",
				Field: "date_of_birth", Message: `date_of_birth "2999-01-01": date in the future`, Hash: h[:16]}
		}
		return errs
	}
	next := 0
	b.Run("new", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.RecordFailures(ctx, run, "customers", "customers", failures(next)); err != nil {
				b.Fatal(err)
			}
			next += benchChunk
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchChunk), "ns/record")
	})
	b.Run("again", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.RecordFailures(ctx, run, "customers", "customers", failures(0)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchChunk), "ns/record")
	})
}

// BenchmarkChunkState measures everything a chunk of 500 new records
// settles: its history, its records accepted, the unchanged rows' errors
// resolved and the run's checkpoint with the watermark, written two ways
// in turn, so that both see the same load and the same table sizes:
// "separate" as the pipeline did before, each committed on its own (four
// commits), and "tx" in one ChunkTx, as the pipeline does. It reports the
// mean time of a chunk written each way.
//
//	go test -run '^$' -bench 'ChunkState' -benchtime 200x -count 5 ./state/
func BenchmarkChunkState(b *testing.B) {
	ctx := context.Background()
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	next := 0
	chunk := func() (state.ChunkHistory, []state.SentRecord, state.Checkpoint) {
		recs := sentRecords(next, benchChunk)
		h := state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers", StartedAt: time.Now(), Duration: time.Second, Calls: 1,
			Records: make([]state.HistoryRecord, len(recs))}
		for i, r := range recs {
			h.Records[i] = state.HistoryRecord{ExternalID: r.ExternalID, SourceKey: r.SourceKey, Hash: r.Hash, Outcome: state.OutcomeAdded}
		}
		c := state.Checkpoint{RunID: run, Job: "customers", Stream: "customers", Counts: state.Counts{Extracted: int64(next + benchChunk)},
			Watermark: &state.Watermark{UpdatedAt: at.Add(time.Duration(next) * time.Second), Key: recs[len(recs)-1].SourceKey}}
		next += benchChunk
		return h, recs, c
	}
	unchanged := []string{"1", "2", "3"}
	separate := func() {
		h, recs, c := chunk()
		if err := s.RecordHistory(ctx, h); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Accept(ctx, run, "customers", "customers", recs); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Resolve(ctx, run, "customers", "customers", unchanged); err != nil {
			b.Fatal(err)
		}
		if err := s.Checkpoint(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	oneTx := func() {
		h, recs, c := chunk()
		writeChunkTx(b, s, h, recs, unchanged, c)
	}
	var tSeparate, tTx time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which goes first.
		first, second, t1, t2 := separate, oneTx, &tSeparate, &tTx
		if i%2 == 1 {
			first, second, t1, t2 = oneTx, separate, &tTx, &tSeparate
		}
		start := time.Now()
		first()
		mid := time.Now()
		second()
		*t1 += mid.Sub(start)
		*t2 += time.Since(mid)
	}
	b.ReportMetric(float64(tSeparate.Nanoseconds())/float64(b.N), "ns/chunk-separate")
	b.ReportMetric(float64(tTx.Nanoseconds())/float64(b.N), "ns/chunk-tx")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkChunkTx measures the state of one chunk of 500 records written
// in a ChunkTx, as the pipeline writes it: the chunk's history, its records
// accepted, three unchanged rows' errors resolved and the run's checkpoint
// with the watermark, then the commit. "new" sends records never accepted
// (a first backfill); "again" sends, in a second run, records the first
// run accepted, with new content (a re-send after a change, or a
// reconcile). When the state database runs on this machine and its
// backends' /proc is readable, it also reports their CPU time per record
// ("pg-ns/record").
//
//	go test -run '^$' -bench 'ChunkTx' -benchtime 100x -count 8 ./state/
func BenchmarkChunkTx(b *testing.B) {
	ctx := context.Background()
	// What the first run accepted: the records "again" sends once each.
	const stored = 100_000
	s, db, first := backfilled(b, stored)
	second, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindRun})
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	unchanged := []string{"1", "2", "3"}
	write := func(b *testing.B, run int64, outcome string, recs []state.SentRecord, n int) {
		h := state.ChunkHistory{RunID: run, Job: "customers", Stream: "customers", Chunk: n, StartedAt: time.Now(), Duration: time.Second,
			Calls: 1, Records: make([]state.HistoryRecord, len(recs))}
		for i, r := range recs {
			h.Records[i] = state.HistoryRecord{ExternalID: r.ExternalID, SourceKey: r.SourceKey, Hash: r.Hash, Outcome: outcome}
		}
		c := state.Checkpoint{RunID: run, Job: "customers", Stream: "customers", Counts: state.Counts{Extracted: int64((n + 1) * benchChunk)},
			Watermark: &state.Watermark{UpdatedAt: at.Add(time.Duration(n) * time.Second), Key: recs[len(recs)-1].SourceKey}}
		writeChunkTx(b, s, h, recs, unchanged, c)
	}
	measure := func(b *testing.B, chunk func(n int)) {
		cpu := backendCPU(b, db)
		n := 0
		for b.Loop() {
			chunk(n)
			n++
		}
		if after := backendCPU(b, db); cpu >= 0 && after >= 0 {
			b.ReportMetric(float64((after-cpu).Nanoseconds())/float64(n*benchChunk), "pg-ns/record")
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*benchChunk), "ns/record")
	}
	b.Run("new", func(b *testing.B) {
		next := stored
		measure(b, func(n int) {
			write(b, first, state.OutcomeAdded, sentRecords(next, benchChunk), n)
			next += benchChunk
		})
	})
	b.Run("again", func(b *testing.B) {
		measure(b, func(n int) {
			from := n * benchChunk % stored
			recs := sentRecords(from, benchChunk)
			for i := range recs {
				recs[i].Hash[0]++
			}
			write(b, second, state.OutcomeUpdated, recs, n)
		})
	})
}

// writeChunkTx writes a chunk's state in one ChunkTx, as the pipeline
// does: its history, its records accepted (recs, of h's run and stream),
// the errors of the unchanged rows resolved, and the checkpoint c.
func writeChunkTx(b *testing.B, s *state.Store, h state.ChunkHistory, recs []state.SentRecord, unchanged []string, c state.Checkpoint) {
	ctx := context.Background()
	tx, err := s.BeginChunk(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.RecordHistory(ctx, h); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Accept(ctx, h.RunID, h.Job, h.Stream, recs); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Resolve(ctx, h.RunID, h.Job, h.Stream, unchanged); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(ctx, c); err != nil {
		b.Fatal(err)
	}
}

// backendCPU returns the CPU time the server's backends connected to db's
// database have used so far, read from /proc, or -1 when the server does
// not run on this machine or its /proc is not readable.
func backendCPU(tb testing.TB, db *sqltest.DB) time.Duration {
	tb.Helper()
	var pids []int
	if err := db.Select(&pids, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		tb.Fatal(err)
	}
	var ticks int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return -1
		}
		// The fields after the command's closing parenthesis: utime and
		// stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		for _, s := range f[11:13] {
			t, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return -1
			}
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}
