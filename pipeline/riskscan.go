package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// The run's disable_risk_scan flag, sent with every call of the run and
// recorded on the run row. A scan during the import gives risk results at
// once but slows a big load; the nightly process scans what an import
// skipped. So under the auto policy:
//
//   - a backfill and a reconcile disable the scan: they read a range or the
//     whole source, which the run cannot size without reading it twice;
//   - a retry keeps it: it sends at most retry_errors_limit rows;
//   - any other run (run, verify, offline) disables it when it will send
//     more than the job's risk_scan_threshold records: the records of its
//     windows that map and, unless Options.Full, are new or changed since
//     the API last accepted them. Rows the lookback re-reads unchanged, and
//     rows whose updated_at moved without a change, are no load and do not
//     count. Rows retried for open record errors are sent with the same
//     flag and are not counted. A run of a job with incremental: diff has
//     no window: it counts over its whole queries.
//
// Such a run decides before its first call (riskScanFlag), from the
// records it counts as it reads its windows (tally): a chunk with records
// to send waits for the flag while the windows are read on, until the
// count passes the threshold (the flag is then disable) or the windows are
// read to their end without passing it (decideFromTally). The API accepts
// nothing meanwhile, so the count is the one a first read would give, and
// the windows are read once. When the chunks in process are all waiting
// and reading cannot go on without one more (see chunker.submit), the run
// counts the rest of its windows from where it stopped reading
// (decideAhead): only the rows after that are read twice. A job with
// incremental: diff, whose windows are its whole queries, read by key,
// counts them whole before its first call instead (countToSend).

// riskState is how a run decides its flag.
type riskState struct {
	once     sync.Once     // decides the flag, once
	err      error         // of the decision, set by once
	done     chan struct{} // closed once the flag is decided
	counting bool          // the records to send decide the flag
	// windows are those of the run's streams, in order, as the run
	// started: what a count reads.
	windows []extract.Window
	tally   atomic.Int64 // the records to send counted so far as read

	mu sync.Mutex // guards the fields below
	// waiting counts the chunks of the windows that wait for the flag,
	// inProcess the chunks of the windows in process.
	waiting, inProcess int
	changed            chan struct{} // closed, and replaced, when they change or the tally grows
}

// decide decides the flag once, with what decision returns: whether to
// disable the scan, and the records counted to send (-1 if none were).
func (r *run) decide(ctx context.Context, decision func() (bool, int64, error)) error {
	r.risk.once.Do(func() {
		defer close(r.risk.done)
		disable, n, err := decision()
		if err != nil {
			r.risk.err = fmt.Errorf("risk scan: %w", err)
			return
		}
		r.risk.err = r.setRiskScan(ctx, disable, n)
	})
	return r.risk.err
}

// decided reports whether the flag is decided.
func (r *run) decided() bool {
	select {
	case <-r.risk.done:
		return true
	default:
		return false
	}
}

// signal tells the chunks and the reader waiting on the risk state that
// it changed. r.risk.mu must be held.
func (r *run) signal() {
	close(r.risk.changed)
	r.risk.changed = make(chan struct{})
}

// startRiskScan decides the run's flag when the policy or the kind of run
// decides it without a count; otherwise it fixes the windows a count
// reads, and the run counts its records as it reads them.
func (r *run) startRiskScan(ctx context.Context) error {
	disable, counts := r.riskScanPolicy()
	if !counts {
		return r.decide(ctx, func() (bool, int64, error) { return disable, -1, nil })
	}
	r.risk.counting = true
	r.risk.windows = []extract.Window{r.window}
	for _, s := range r.streams[1:] {
		w, _, err := r.windowOf(ctx, s)
		if err != nil {
			return err
		}
		r.risk.windows = append(r.risk.windows, w)
	}
	return nil
}

// riskScanFlag returns the run's flag, waiting for it to be decided if
// need be. Every call of the run takes its flag from here.
func (r *run) riskScanFlag(ctx context.Context) (bool, error) {
	switch {
	case r.decided():
	case r.job.Diff():
		threshold := int64(r.job.RiskScanThreshold)
		r.decide(ctx, func() (bool, int64, error) {
			n, err := r.countToSend(ctx, 0, nil, threshold+1)
			return n > threshold, n, err
		})
	default:
		if err := r.awaitFlag(ctx); err != nil {
			return false, err
		}
	}
	return r.disableRiskScan, r.risk.err
}

// awaitFlag waits, in a chunk of the windows with records to send, for
// the flag: it decides it when the tally passes the threshold; otherwise
// reading the windows on (chunker.submit, chunker.finish) decides it.
func (r *run) awaitFlag(ctx context.Context) error {
	threshold := int64(r.job.RiskScanThreshold)
	r.risk.mu.Lock()
	r.risk.waiting++
	r.signal()
	defer func() {
		r.risk.mu.Lock()
		r.risk.waiting--
		r.signal()
		r.risk.mu.Unlock()
	}()
	for {
		changed := r.risk.changed
		r.risk.mu.Unlock()
		if n := r.risk.tally.Load(); n > threshold {
			return r.decide(ctx, func() (bool, int64, error) { return true, n, nil })
		}
		select {
		case <-r.risk.done:
			return r.risk.err
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
		r.risk.mu.Lock()
	}
}

// tally counts, in a run that counts, the records of a chunk read from
// its window that map and, unless Options.Full, are new or changed since
// the API last accepted them (prev), as countToSend counts them.
func (r *run) tally(c *chunk, prev map[string]state.SentRecord) {
	if !r.risk.counting || c.retry || c.recount {
		return
	}
	var n int64
	for _, rec := range c.records {
		if !r.unchanged(rec, prev) {
			n++
		}
	}
	if n == 0 {
		return
	}
	r.risk.tally.Add(n)
	r.risk.mu.Lock()
	r.signal()
	r.risk.mu.Unlock()
}

// decideFromTally decides the flag, if no call has decided it yet, from
// the records counted as the run read its windows whole.
func (r *run) decideFromTally(ctx context.Context) error {
	threshold := int64(r.job.RiskScanThreshold)
	return r.decide(ctx, func() (bool, int64, error) {
		n := min(r.risk.tally.Load(), threshold+1)
		return n > threshold, n, nil
	})
}

// decideAhead decides the flag from the records counted so far and those
// of the run's windows from stream i on, that stream's rows after after
// only if not nil: reading of the windows stopped there, every chunk
// before is counted, and the chunks in process all wait for the flag.
func (r *run) decideAhead(ctx context.Context, i int, after *extract.Position) error {
	threshold := int64(r.job.RiskScanThreshold)
	return r.decide(ctx, func() (bool, int64, error) {
		counted := r.risk.tally.Load()
		n, err := r.countToSend(ctx, i, after, threshold+1-counted)
		return counted+n > threshold, counted + n, err
	})
}

// A windowRead is what a chunker reading a window of a run that counts
// knows of where its reading stands, to count the rest (decideAhead).
type windowRead struct {
	ctx   context.Context // of the reading
	i     int             // the stream's index in run.streams
	after extract.Position
}

// dispatch starts processing a chunk of a window with f, in k's group, in
// a run that counts. It does not wait for a place in the group while the
// chunks that hold them all wait for the flag: it decides the flag first,
// counting the rest of the windows from where reading stands.
func (k *chunker) dispatch(f func() error) {
	r := k.r
	inProcess := func(d int) {
		r.risk.mu.Lock()
		r.risk.inProcess += d
		r.signal()
		r.risk.mu.Unlock()
	}
	g := func() error {
		defer inProcess(-1)
		return f()
	}
	for {
		inProcess(1)
		if r.decided() || k.ctx.Err() != nil {
			k.g.Go(g)
			return
		}
		if k.g.TryGo(g) {
			return
		}
		inProcess(-1)
		k.await(r.concurrency(), false)
	}
}

// await waits for a change of the risk state; when the chunks in process
// (at least full of them) all wait for the flag, it decides it from what
// is left to read: the rest of the windows, or, once the window is read
// to its end (read), the windows of the streams after it.
func (k *chunker) await(full int, read bool) {
	r := k.r
	r.risk.mu.Lock()
	stalled := r.risk.waiting > 0 && r.risk.waiting == r.risk.inProcess && r.risk.inProcess >= full
	changed := r.risk.changed
	r.risk.mu.Unlock()
	if stalled {
		// An error is the flag's: each waiting chunk returns it.
		if read {
			r.decideAhead(k.ahead.ctx, k.ahead.i+1, nil)
		} else {
			r.decideAhead(k.ahead.ctx, k.ahead.i, &k.ahead.after)
		}
		return
	}
	t := time.NewTimer(5 * time.Millisecond) // a place in the group is freed just after its chunk leaves inProcess
	defer t.Stop()
	select {
	case <-changed:
	case <-r.risk.done:
	case <-k.ctx.Done():
	case <-t.C:
	}
}

// settleFlag waits, once reading of a window stops, until its chunks in
// process either need no flag or all wait for it, and then decides it
// from what is left to read; read tells whether the window was read to
// its end.
func (k *chunker) settleFlag(read bool) {
	r := k.r
	for !r.decided() && k.ctx.Err() == nil {
		r.risk.mu.Lock()
		idle := r.risk.waiting == 0 && r.risk.inProcess == 0
		r.risk.mu.Unlock()
		if idle {
			return
		}
		k.await(1, read)
	}
}

// setRiskScan records the run's flag on the run row and logs it, with the
// records counted to send when toSend is not -1.
func (r *run) setRiskScan(ctx context.Context, disable bool, toSend int64) error {
	r.disableRiskScan = disable
	if err := r.env.State.SetRunRiskScan(ctx, r.id, disable); err != nil {
		return err
	}
	args := []any{"disable_risk_scan", disable}
	if toSend >= 0 {
		args = append(args, "records_to_send", toSend, "risk_scan_threshold", r.job.RiskScanThreshold)
	}
	r.logger.Info("risk scan decided", args...)
	return nil
}

// riskScanPolicy returns the run's flag when the policy or the kind of run
// decides it, and counts true when the records to send decide it.
func (r *run) riskScanPolicy() (disable, counts bool) {
	policy := r.opts.RiskScan
	if policy == "" {
		policy = r.job.RiskScan
	}
	switch policy {
	case configs.RiskScanOn:
		return false, false
	case configs.RiskScanOff:
		return true, false
	}
	switch r.opts.Kind {
	case state.KindBackfill, state.KindReconcile:
		return true, false
	case state.KindRetry:
		return false, false
	}
	return false, true
}

// errCounted stops countToSend's reading once it has counted enough.
var errCounted = errors.New("counted enough")

// countToSend counts the records the run's windows will send, from
// stream from on, that stream's rows after after only if not nil: the
// rows that map to a record and, unless Options.Full, whose content hash
// differs from what the API last accepted for their external id. It reads
// the windows fixed when the run started (startRiskScan), as the run
// reads them, a chunk of records at a time, and stops as soon as it has
// counted limit.
func (r *run) countToSend(ctx context.Context, from int, after *extract.Position, limit int64) (int64, error) {
	var n int64
	if limit <= 0 {
		return n, nil
	}
	for i := from; i < len(r.streams); i++ {
		s := r.streams[i]
		w := r.risk.windows[i]
		if i == from && after != nil {
			w.After = *after
		}
		m, err := r.compile(ctx, s)
		if err != nil {
			return 0, err
		}
		batch := make([]record, 0, r.job.ChunkSize)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			if r.opts.Full {
				n += int64(len(batch))
			} else {
				ids := make([]string, len(batch))
				for j, rec := range batch {
					ids[j] = rec.externalID
				}
				prev, err := r.env.State.Sent(ctx, r.job.Name, s.name, ids)
				if err != nil {
					return err
				}
				for _, rec := range batch {
					if !r.unchanged(rec, prev) {
						n++
					}
				}
			}
			batch = batch[:0]
			if n >= limit {
				return errCounted
			}
			return nil
		}
		err = r.read(ctx, s, w, func(row extract.Row) error {
			rec, err := m(row)
			if err != nil {
				return nil // an invalid row is not sent
			}
			batch = append(batch, rec)
			if len(batch) == cap(batch) {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if errors.Is(err, errCounted) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
