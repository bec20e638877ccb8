package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
	"github.com/algoreg/algoreg-etl/transform"
)

// A chunk is a run of consecutive rows of a stream: the records to send in
// one call and the rows that could not be mapped.
type chunk struct {
	n     int  // the chunk's number in the stream
	retry bool // the rows are retries of open record errors
	// recount: the rows are ones this run held back, counted then as
	// invalid; their outcome now takes that count's place.
	recount bool
	rows    int // rows read
	end     extract.Position
	records []record
	errs    []state.RecordError
	m       mapper

	// The chunks of a stream claim the external ids they send for the
	// first time in the order they were cut (see [run.duplicates]): a
	// chunk claims once claimAfter, its predecessor's claimed, is closed,
	// and closes its own claimed when it has claimed or will not.
	claimAfter <-chan struct{}
	claimed    chan struct{}
}

func (c *chunk) add(m mapper, row extract.Row) {
	c.rows++
	if row.NullCursor {
		// No place in the change order: it moves no watermark.
		c.errs = append(c.errs, nullCursor(row))
		return
	}
	c.end = row.Pos
	rec, err := m(row)
	if err != nil {
		c.errs = append(c.errs, invalid(row, err))
		return
	}
	c.records = append(c.records, rec)
}

// full reports whether the chunk holds chunkSize rows. Rows that could not
// be mapped count too, so that memory stays bounded whatever the data.
func (c *chunk) full(chunkSize int) bool { return c.rows >= chunkSize }

// A chunker cuts a stream of rows into chunks and processes them with at
// most the job's concurrency at once.
type chunker struct {
	r       *run
	s       *stream
	m       mapper
	g       *errgroup.Group
	ctx     context.Context // the group's: cancelled when a chunk fails
	c       *chunk
	claimed <-chan struct{} // of the last chunk submitted; nil before the first
	// settle, if not nil, marks a chunk settled as its state commits, and
	// says how far its stream then moves.
	settle func(c *chunk) move
	// ahead, if not nil, is where the reading of a window stands, in a
	// run whose records to send decide its flag (see dispatch).
	ahead *windowRead
}

// A move is how far the commit of a chunk's state moves its stream: the
// stream's watermark, or the run's own progress (a backfill's), to write
// in the same transaction, and the run's mark after it. The zero move
// moves nothing.
type move struct {
	watermark, progress *state.Watermark
	mark                *extract.Position // the customers watermark (run) or progress (backfill) after the commit; nil: unchanged
}

func (r *run) newChunker(drain context.Context, s *stream, m mapper, retry bool, settle func(*chunk) move) *chunker {
	g, gctx := errgroup.WithContext(drain)
	g.SetLimit(r.concurrency())
	return &chunker{r: r, s: s, m: m, g: g, ctx: gctx, c: &chunk{retry: retry, m: m}, settle: settle}
}

// concurrency returns how many chunks may be in flight. With adaptive
// concurrency the sender finds the number of calls; this is its ceiling.
//
// The sender bounds the calls in flight; twice as many chunks are in
// process, so that the bookkeeping of some (looking up what was sent,
// recording what was accepted) overlaps the calls of others instead of
// holding a call's place.
func (r *run) concurrency() int {
	if r.job.AdaptiveConcurrency {
		return r.job.MaxConcurrency
	}
	return 2 * r.job.Concurrency
}

// add adds a row, and starts processing the chunk when it is full.
func (k *chunker) add(row extract.Row) error {
	k.c.add(k.m, row)
	if k.c.full(k.r.job.ChunkSize) {
		k.submit()
	}
	return nil
}

func (k *chunker) submit() {
	c := k.c
	k.c = &chunk{n: c.n + 1, retry: c.retry, recount: c.recount, m: c.m}
	c.claimAfter, c.claimed = k.claimed, make(chan struct{})
	k.claimed = c.claimed
	f := func() error { return k.r.process(k.ctx, k.s, c, k.settle) }
	if k.ahead == nil {
		k.g.Go(f)
		return
	}
	k.dispatch(f)
	k.ahead.after = c.end
}

// finish processes the last chunk and waits for every chunk. A chunk's
// failure takes precedence over readErr, which is then its consequence.
func (k *chunker) finish(readErr error) error {
	if readErr == nil && k.c.rows > 0 {
		k.submit()
	}
	if k.ahead != nil {
		k.settleFlag(readErr == nil)
	}
	if err := k.g.Wait(); err != nil {
		return err
	}
	return readErr
}

// readWindow reads a stream's window and sends it, moving the stream's
// watermark (or, for a backfill, the run's progress) as chunks settle. A
// stream read by key (incremental: diff) is read whole, and moves no
// watermark.
//
// stored is the stream's watermark before the run: with a lookback the
// window starts below it, and the watermark is not written back at or below
// its instant.
func (r *run) readWindow(ctx, drain context.Context, s *stream, w extract.Window, stored extract.Position) error {
	m, err := r.compile(ctx, s)
	if err != nil {
		return err
	}
	st := newSettler()
	k := r.newChunker(drain, s, m, false, func(c *chunk) move {
		to, moved := st.settle(c.n, c.end)
		if !moved {
			return move{}
		}
		return r.moveOf(s, to, stored)
	})
	// Reading stops on a signal (ctx) and when a chunk fails (k.ctx).
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.ctx, cancel)()
	if r.risk.counting && !r.job.Diff() && !r.decided() {
		k.ahead = &windowRead{ctx: readCtx, i: slices.Index(r.streams, s), after: w.After}
	}
	err = r.read(readCtx, s, w, k.add)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	err = k.finish(err)
	r.mu.Lock()
	r.chunks[s.name] = k.c.n
	r.mu.Unlock()
	return err
}

// readOptions are the options of the run's reads of stream s: with
// --log-level debug, a log line per page.
func (r *run) readOptions(ctx context.Context, s *stream) extract.Options {
	opts := extract.Options{PageSize: r.job.PageSize}
	if r.logger.Enabled(ctx, slog.LevelDebug) {
		opts.Page = func(p extract.Page) {
			r.logger.Debug("page read", "stream", s.name, "after", p.After, "rows", p.Rows, "last", p.Last, "took", p.Took)
		}
	}
	return opts
}

// readNullCursor reads the stream's rows whose cursor_updated_at is NULL,
// which no window holds, and records each as a record error: a row is
// never dropped silently, and a query that returns only such rows does not
// look like an empty source. They are read by every run that reads
// windows, since none of them can say which have changed; they move no
// watermark.
func (r *run) readNullCursor(ctx, drain context.Context, s *stream) error {
	m, err := r.compile(ctx, s)
	if err != nil {
		return err
	}
	k := r.newChunker(drain, s, m, false, nil)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.ctx, cancel)()
	err = extract.ReadNullCursor(readCtx, r.env.Source, s.query, r.readOptions(ctx, s), k.add)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return k.finish(err)
}

// moveOf returns how far stream s moves once every row up to to is
// settled: a backfill's customers move the run's progress; a run's
// streams move their watermark, except, with a lookback, at or below the
// instant of stored, the watermark before the run; other kinds move
// nothing.
func (r *run) moveOf(s *stream, to, stored extract.Position) move {
	wm := &state.Watermark{UpdatedAt: to.UpdatedAt, Key: to.Key}
	switch {
	case r.opts.Kind == state.KindBackfill && s.name == StreamCustomers:
		return move{progress: wm, mark: &to}
	case !r.movesWatermark(), r.job.Lookback > 0 && !stored.IsZero() && !to.UpdatedAt.After(stored.UpdatedAt):
		return move{}
	case s.name == StreamCustomers:
		return move{watermark: wm, mark: &to}
	}
	return move{watermark: wm}
}

// process sends a chunk's records, except those unchanged since they were
// last accepted, waiting for a customer, or whose external id another
// source row keeps, and records every outcome, with the checkpoint settle
// gives, in one transaction (see [state.ChunkTx]).
func (r *run) process(ctx context.Context, s *stream, c *chunk, settle func(*chunk) move) error {
	claimed := sync.OnceFunc(func() { close(c.claimed) })
	if c.claimed != nil {
		defer claimed()
	} else {
		claimed = func() {}
	}
	var d state.Counts
	var held int64 // rows held back for a customer: counted apart until the run ends (see run.held)
	switch {
	case c.recount:
		// Counted as held when the run held them back: the outcome now
		// counted takes that count's place.
		held = -int64(c.rows)
	case c.retry:
		d.Retried = int64(c.rows)
	default:
		d.Extracted = int64(c.rows)
	}
	d.Invalid = int64(len(c.errs))
	errs := c.errs

	if err := r.markSeen(ctx, s, c); err != nil {
		return err
	}
	prev, have, err := r.lookup(ctx, s, c.records)
	if err != nil {
		return err
	}
	r.tally(c, prev)
	dups, err := r.duplicates(ctx, s, c, prev, claimed)
	if err != nil {
		return err
	}
	send := make([]record, 0, len(c.records))
	var unchanged []string
	for i, rec := range c.records {
		if e, ok := dups[i]; ok {
			d.Invalid++
			errs = append(errs, e)
			continue
		}
		p, seen := prev[rec.externalID]
		if r.unchanged(rec, prev) {
			d.Skipped++
			unchanged = append(unchanged, rec.key)
			continue
		}
		if missing := missingNeeds(rec, have); missing != nil {
			held++
			errs = append(errs, dependencyError(s, rec, missing))
			continue
		}
		if rec.customer != nil {
			// Removals are sent as deltas against what was last accepted.
			// What was accepted with the customer's own hash held its
			// lists as they are now: nothing to remove, nothing to decode.
			var last *load.Customer
			if seen && len(p.Delta) > 0 && !bytes.Equal(p.Hash, rec.hash[:]) {
				last = new(load.Customer)
				if err := json.Unmarshal(p.Delta, last); err != nil {
					return fmt.Errorf("%s %s: what was last sent: %w", s.name, rec.externalID, err)
				}
			}
			*rec.customer = transform.Delta(last, rec.customer)
		}
		if seen {
			d.Changed++
			r.example("changed", rec.externalID)
		} else {
			d.New++
			r.example("new", rec.externalID)
		}
		if len(rec.dropped) > 0 {
			errs = append(errs, droppedWarnings(rec)...)
			d.Warnings += int64(len(rec.dropped))
		}
		send = append(send, rec)
	}

	var accepted []state.SentRecord
	var hist *state.ChunkHistory // what the calls did to each record, for the audit trail
	switch {
	case len(send) == 0:
	case !r.calls():
		d.Sent += int64(len(send))
	default:
		disable, err := r.riskScanFlag(ctx)
		if err != nil {
			return err
		}
		req := &load.SaveRequest{DisableRiskScan: disable, VerifyInput: r.opts.Kind == state.KindVerify}
		if send[0].customer != nil { // a chunk holds the records of one stream
			req.Customers = make([]load.Customer, 0, len(send))
		} else {
			req.Relations = make([]load.Relation, 0, len(send))
		}
		for _, rec := range send {
			if rec.customer != nil {
				req.Customers = append(req.Customers, *rec.customer)
			} else {
				req.Relations = append(req.Relations, *rec.relation)
			}
		}
		start := time.Now()
		out, err := r.sender.Send(ctx, req)
		if err != nil {
			return fmt.Errorf("%s chunk %d (%d records, source keys %s..%s): %w", s.name, c.n, len(send), send[0].key, send[len(send)-1].key, err)
		}
		var apiErrs []state.RecordError
		apiErrs, accepted = r.outcome(send, out, &d)
		errs = append(errs, apiErrs...)
		hist = r.history(s, c, send, out, start)
	}

	// The calls have been made: their outcome is recorded even when the
	// run is being cancelled. Everything the chunk settles is committed in
	// one transaction: a process killed before its commit leaves none of
	// it, and the next run sends the chunk again.
	return r.commits.commit(context.WithoutCancel(ctx), r, &settled{
		s: s, c: c, d: d, held: held, settle: settle,
		errs: errs, hist: hist, accepted: accepted, unchanged: unchanged,
	})
}

// An errorWriter records record errors: the state store, or the
// transaction of a chunk's state.
type errorWriter interface {
	RecordFailures(ctx context.Context, runID int64, job, stream string, errs []state.RecordError) (int, error)
	RecordErrors(ctx context.Context, errs []state.RecordError) error
}

// recordErrors records, through w, the errors a run met with rows of
// stream. In a run whose sends persist they are failures with a lifecycle
// (see [state.Store.RecordFailures]): a row failing again unchanged for
// the same reason keeps its one open error. The findings of verify,
// offline and dry runs are recorded as they are.
func (r *run) recordErrors(ctx context.Context, w errorWriter, s *stream, errs []state.RecordError) error {
	if len(errs) == 0 {
		return nil
	}
	if r.persists() {
		_, err := w.RecordFailures(ctx, r.id, r.job.Name, s.name, errs)
		return err
	}
	for i := range errs {
		errs[i].RunID, errs[i].Job, errs[i].Stream = r.id, r.job.Name, s.name
	}
	return w.RecordErrors(ctx, errs)
}

// lookup returns what was last accepted for the chunk's records, and which
// of the customers they need the API has accepted, through any job of the
// tenant: those of the records that are sent, not of those skipped as
// unchanged, whose needs are not checked.
func (r *run) lookup(ctx context.Context, s *stream, recs []record) (prev map[string]state.SentRecord, have map[string]bool, err error) {
	if len(recs) == 0 {
		return nil, nil, nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.externalID
	}
	if prev, err = r.env.State.Sent(ctx, r.job.Name, s.name, ids); err != nil {
		return nil, nil, err
	}
	// In a verify or offline run nothing is accepted, so dependencies are
	// left to the API's own verification. What the API accepted is a fact
	// about the tenant: a customer another job sent counts.
	if !r.persists() {
		return prev, nil, nil
	}
	var needs []string
	for _, rec := range recs {
		if len(rec.needs) > 0 && !r.unchanged(rec, prev) {
			needs = append(needs, rec.needs...)
		}
	}
	if len(needs) > 0 {
		if have, err = r.env.State.Accepted(ctx, r.tenantJobs, StreamCustomers, needs); err != nil {
			return nil, nil, err
		}
	}
	return prev, have, nil
}

// unchanged reports whether rec is skipped as unchanged since the API last
// accepted it (prev): unless Options.Full, its content hash is the one
// accepted.
func (r *run) unchanged(rec record, prev map[string]state.SentRecord) bool {
	p, ok := prev[rec.externalID]
	return ok && !r.opts.Full && bytes.Equal(p.Hash, rec.hash[:])
}

// missingNeeds returns the customers rec needs that were not accepted yet;
// nil when have is nil (dependencies unchecked).
func missingNeeds(rec record, have map[string]bool) []string {
	if have == nil {
		return nil
	}
	var missing []string
	for _, id := range rec.needs {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return missing
}

// dependencyError returns the error of a record held back because the
// customers missing, which it names, have not been accepted yet.
func dependencyError(s *stream, rec record, missing []string) state.RecordError {
	code := CodeCustomerNotSent
	msg := fmt.Sprintf("relation %s names customer %s, which the API has not accepted yet; it is sent once the API has",
		rec.externalID, strings.Join(missing, " and customer "))
	if s.name == StreamCustomers {
		code = CodeParentNotSent
		msg = fmt.Sprintf("customer %s names parent %s, which the API has not accepted yet; it is sent once the API has",
			rec.externalID, strings.Join(missing, ", "))
	}
	return state.RecordError{
		Stage: state.StageDependency, SourceKey: rec.key, ExternalID: rec.externalID, Code: code,
		Message: msg, Payload: rec.payload(), Hash: rec.hash[:],
	}
}

func (rec record) payload() json.RawMessage {
	var v any = rec.customer
	if rec.customer == nil {
		v = rec.relation
	}
	b, _ := json.Marshal(v)
	return b
}

// outcome reads the API's answer for a chunk: the records it refused or
// warned about become record errors, the rest are accepted.
func (r *run) outcome(send []record, out *load.Outcome, d *state.Counts) ([]state.RecordError, []state.SentRecord) {
	index := make(map[string]int, len(send))
	for i, rec := range send {
		index[rec.externalID] = i
	}
	rejected := make([]bool, len(send))
	var errs []state.RecordError
	errorOf := func(i int) state.RecordError {
		return state.RecordError{Stage: state.StageAPI, SourceKey: send[i].key, ExternalID: send[i].externalID, Payload: send[i].payload(),
			Hash: send[i].hash[:]}
	}
	for _, det := range out.Detail {
		i, ok := index[det.ExternalID]
		if !ok {
			r.logger.Warn("the API answered about a record not in the call", "external_id", det.ExternalID)
			continue
		}
		for _, p := range det.Errors {
			e := errorOf(i)
			e.Severity, e.Code, e.Message = state.SeverityError, p.Error, p.Detail
			errs = append(errs, e)
			rejected[i] = true
		}
		for _, p := range det.Warnings {
			e := errorOf(i)
			e.Severity, e.Code, e.Message = state.SeverityWarning, p.Error, p.Detail
			errs = append(errs, e)
			d.Warnings++
		}
	}
	// Records are sent as customers or as relations, never both in one call.
	for _, ref := range out.Refused {
		i := ref.Customer
		if i < 0 {
			i = ref.Relation
		}
		e := errorOf(i)
		e.Severity, e.Code, e.Message = state.SeverityError, CodeRefused, ref.Err.Error()
		if items := ref.Err.Preferred(); len(items) > 0 && items[0].Code != "" {
			e.Code = items[0].Code
		}
		errs = append(errs, e)
		rejected[i] = true
	}
	accepted := make([]state.SentRecord, 0, len(send))
	for i, rec := range send {
		if rejected[i] {
			d.Rejected++
			continue
		}
		d.Sent++
		accepted = append(accepted, state.SentRecord{ExternalID: rec.externalID, SourceKey: rec.key, Hash: rec.hash[:], Delta: rec.delta})
	}
	d.Added += int64(len(out.Added))
	return errs, accepted
}
