package state_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill})
	if err != nil {
		b.Fatal(err)
	}
	const stored = 50_000
	for from := 0; from < stored; from += 5000 {
		if _, err := s.Accept(ctx, run, "customers", "customers", sentRecords(from, 5000)); err != nil {
			b.Fatal(err)
		}
	}
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
	s, _ := newStore(b)
	run, err := s.StartRun(ctx, state.Run{Job: "customers", Kind: state.KindBackfill})
	if err != nil {
		b.Fatal(err)
	}
	next := 0
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
		tx, err := s.BeginChunk(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := tx.RecordHistory(ctx, h); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Accept(ctx, run, "customers", "customers", recs); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Resolve(ctx, run, "customers", "customers", unchanged); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx, c); err != nil {
			b.Fatal(err)
		}
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
