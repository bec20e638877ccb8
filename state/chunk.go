package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// conn is what the Store's writes need of a connection to the database:
// the pool, or a transaction.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// A ChunkTx writes what chunks of a run settle in one transaction: their
// record errors, what the API answered for each record sent (the
// history), the records it accepted (sent_records) and the errors they
// resolve, or the records a reconcile disabled and forgets, and, last, the
// run's checkpoint. Chunks whose state is ready together share one
// transaction, and so one commit and one write of the run's row. A
// process killed at any
// instant so leaves all of a chunk's state or none of it: a chunk whose
// records the API accepted either is recorded as sent, and is skipped as
// unchanged by the next run, or is not recorded at all, and is sent again
// and recorded once. No record is written twice into the history, and a
// watermark never passes a chunk whose state is not written.
//
// Its methods write as the Store's methods of the same names do. A ChunkTx
// is not safe for concurrent use; the chunks of a run each have their own.
type ChunkTx struct {
	s  *Store
	tx *sql.Tx
}

// BeginChunk starts the transaction of a chunk's state. The caller ends it
// with [ChunkTx.Commit] or [ChunkTx.Rollback].
func (s *Store) BeginChunk(ctx context.Context) (*ChunkTx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("state: begin a chunk's transaction: %w", err)
	}
	return &ChunkTx{s: s, tx: tx}, nil
}

// RecordErrors stores errs, as [Store.RecordErrors] does.
func (t *ChunkTx) RecordErrors(ctx context.Context, errs []RecordError) error {
	return t.s.recordErrors(ctx, t.tx, errs)
}

// RecordFailures records the errors a run met with the chunk's rows, as
// [Store.RecordFailures] does, and returns how many it stored as new rows.
func (t *ChunkTx) RecordFailures(ctx context.Context, runID int64, job, stream string, errs []RecordError) (int, error) {
	return t.s.recordFailures(ctx, t.tx, runID, job, stream, errs)
}

// RecordHistory stores a chunk sent to the API, as [Store.RecordHistory]
// does.
func (t *ChunkTx) RecordHistory(ctx context.Context, h ChunkHistory) error {
	return t.s.recordHistory(ctx, t.tx, h)
}

// Accept stores the records the API accepted and resolves the errors they
// settle, as [Store.Accept] does, and returns how many it resolved.
func (t *ChunkTx) Accept(ctx context.Context, runID int64, job, stream string, recs []SentRecord) (int64, error) {
	return t.s.accept(ctx, t.tx, runID, job, stream, recs)
}

// Resolve resolves the open errors of rows found unchanged, as
// [Store.Resolve] does, and returns how many it resolved.
func (t *ChunkTx) Resolve(ctx context.Context, runID int64, job, stream string, sourceKeys []string) (int64, error) {
	return t.s.resolve(ctx, t.tx, runID, job, stream, ResolutionUnchanged, sourceKeys)
}

// Forget deletes the sent records of externalIDs, as [Store.Forget] does:
// a reconcile's chunk of records sent disabled.
func (t *ChunkTx) Forget(ctx context.Context, job, stream string, externalIDs []string) error {
	return t.s.forgetIDs(ctx, t.tx, job, stream, externalIDs)
}

// Checkpoint writes the checkpoint c, as [Store.Checkpoint] does, without
// committing: a transaction that settles chunks of several streams moves
// each stream's watermark. When the run is no longer running nothing is
// written and the error wraps [ErrRunClosed]; the transaction may still be
// committed. After any other error the transaction can only be rolled
// back.
func (t *ChunkTx) Checkpoint(ctx context.Context, c Checkpoint) error {
	return t.s.checkpoint(ctx, t.tx, c)
}

// Commit writes the checkpoint c, as [Store.Checkpoint] does, and commits
// everything the transaction wrote.
//
// When the run is no longer running (another process closed it, having
// taken the job's lock), the chunk's state is still committed, for the API
// did accept its records, but not c: the error wraps [ErrRunClosed]. Any
// other error rolls everything back.
func (t *ChunkTx) Commit(ctx context.Context, c Checkpoint) error {
	closed := t.s.checkpoint(ctx, t.tx, c)
	if closed != nil && !errors.Is(closed, ErrRunClosed) {
		t.tx.Rollback()
		return closed
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("state: commit the state of a %s chunk of run %d: %w", c.Stream, c.RunID, err)
	}
	return closed
}

// Rollback abandons what the transaction wrote. After Commit it does
// nothing.
func (t *ChunkTx) Rollback() error {
	err := t.tx.Rollback()
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}
