package pipeline

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// progressInterval is how often a run reports its progress and metrics.
const progressInterval = 200 * time.Millisecond

// Progress is how far a run has gone, as given to Options.Progress.
type Progress struct {
	Job   string
	RunID int64
	// Done is the rows read so far: those of the windows and those re-read
	// to retry open record errors.
	Done int64
	// Total is the rows in the run's windows, counted when the run starts;
	// -1 until the count is known, or if it failed, and for a retry run.
	// Rows retried for open record errors come on top of it.
	Total   int64
	Counts  state.Counts
	Elapsed time.Duration
	// Final is set on the last call, once the run has closed.
	Final bool
}

// Rate returns the rows read per second so far; 0 at the start.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA returns the time left at the current rate; ok is false when it is
// not known.
func (p Progress) ETA() (left time.Duration, ok bool) {
	rate := p.Rate()
	if p.Total < 0 || rate <= 0 {
		return 0, false
	}
	rest := max(p.Total-p.Done, 0)
	return time.Duration(float64(rest) / rate * float64(time.Second)), true
}

// A watcher reports a run's counts to its Metrics and Options.Progress
// every progressInterval, and once more when it ends.
type watcher struct {
	r     *run
	start time.Time
	total atomic.Int64
	last  state.Counts // reported to the metrics so far

	stop, done  chan struct{}
	cancelCount context.CancelFunc
	counted     chan struct{}
}

// watch starts reporting the run's progress. When Options.Progress is set
// and the run's windows are known (opened), it counts their rows meanwhile.
func (r *run) watch(ctx context.Context, opened bool) *watcher {
	w := &watcher{r: r, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{}), counted: make(chan struct{})}
	w.total.Store(-1)
	cctx, cancel := context.WithCancel(ctx)
	w.cancelCount = cancel
	if r.opts.Progress != nil && r.opts.Kind != state.KindRetry && opened {
		go func() {
			defer close(w.counted)
			n, err := r.countWindows(cctx)
			if err != nil {
				if cctx.Err() == nil {
					r.logger.Debug("cannot count the rows of the run's windows", "error", err)
				}
				return
			}
			w.total.Store(n)
		}()
	} else {
		close(w.counted)
	}
	if r.env.Metrics == nil && r.opts.Progress == nil {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				// A tick delivered late is followed by one on time: skip
				// it, so that reports stay about an interval apart.
				if time.Since(last) < progressInterval/2 {
					continue
				}
				last = time.Now()
				w.report(nil)
			}
		}
	}()
	return w
}

// countWindows counts the rows of the windows the run reads.
func (r *run) countWindows(ctx context.Context) (int64, error) {
	var total int64
	for i, s := range r.streams {
		w := r.window
		if i > 0 {
			var err error
			if w, _, err = r.windowOf(ctx, s); err != nil {
				return 0, err
			}
		}
		if s.query.ByKey {
			n, err := extract.CountAll(ctx, r.env.Source, s.query)
			if err != nil {
				return 0, err
			}
			total += n
			continue
		}
		n, err := extract.Count(ctx, r.env.Source, s.query, w)
		if err != nil {
			return 0, err
		}
		total += n
		if n, err = extract.CountNullCursor(ctx, r.env.Source, s.query); err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// report gives the run's counts to the metrics and the Progress function;
// res is the run's result on the last call, else nil.
func (w *watcher) report(res *Result) {
	r := w.r
	r.mu.Lock()
	counts, mark := r.counts, r.mark
	r.mu.Unlock()
	if res != nil {
		counts = res.Counts
	}
	d := since(counts, w.last)
	if !r.persists() {
		d.Sent = 0 // a dry run's sends were not kept
	}
	r.env.Metrics.addCounts(r.job.Name, d)
	w.last = counts
	if r.movesWatermark() {
		r.env.Metrics.setWatermark(r.job.Name, mark.UpdatedAt)
	}
	if r.opts.Progress != nil {
		r.opts.Progress(Progress{Job: r.job.Name, RunID: r.id, Done: counts.Extracted + counts.Retried, Total: w.total.Load(),
			Counts: counts, Elapsed: time.Since(w.start), Final: res != nil})
	}
}

// finish stops the reports and makes the last one, with the run's result.
// It gives the count of the windows a second more to finish.
func (w *watcher) finish(res *Result) {
	select {
	case <-w.counted:
	case <-time.After(time.Second):
	}
	w.cancelCount()
	<-w.counted
	close(w.stop)
	<-w.done
	if res == nil {
		return
	}
	w.report(res)
	w.r.env.Metrics.finished(w.r.job.Name, res, time.Since(w.start), time.Now())
}

// since returns what c counts more than before.
func since(c, before state.Counts) state.Counts {
	return state.Counts{
		Extracted: c.Extracted - before.Extracted,
		Sent:      c.Sent - before.Sent,
		Added:     c.Added - before.Added,
		Skipped:   c.Skipped - before.Skipped,
		Invalid:   c.Invalid - before.Invalid,
		Rejected:  c.Rejected - before.Rejected,
		Warnings:  c.Warnings - before.Warnings,
		Retried:   c.Retried - before.Retried,
		Resolved:  c.Resolved - before.Resolved,
	}
}
