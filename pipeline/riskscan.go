package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

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
// Such a run decides before its first call (riskScanFlag): it reads its
// windows once to count, stopping once the count passes the threshold,
// then sends. A run that reads its windows to their end without a call to
// make has counted its records as it read them (tally), and decides from
// that count (decideFromTally): the API has accepted nothing meanwhile,
// so the count is the one a first read would give, and the windows are
// read once.

// riskState is how a run decides its flag.
type riskState struct {
	once     sync.Once // decides the flag, once
	err      error     // of the decision, set by once
	counting bool      // the records to send decide the flag
	// windows are those of the run's streams, in order, as the run
	// started: what a count reads.
	windows []extract.Window
	tally   atomic.Int64 // the records to send counted so far as read
}

// startRiskScan decides the run's flag when the policy or the kind of run
// decides it without a count; otherwise it fixes the windows a count
// reads, and the run counts its records as it reads them.
func (r *run) startRiskScan(ctx context.Context) error {
	disable, counts := r.riskScanPolicy()
	if !counts {
		r.risk.once.Do(func() { r.risk.err = r.setRiskScan(ctx, disable, -1) })
		return r.risk.err
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

// riskScanFlag returns the run's flag, deciding it first if need be by
// counting the records its windows will send. Every call of the run takes
// its flag from here.
func (r *run) riskScanFlag(ctx context.Context) (bool, error) {
	r.risk.once.Do(func() {
		threshold := int64(r.job.RiskScanThreshold)
		n, err := r.countToSend(ctx, threshold+1)
		if err != nil {
			r.risk.err = fmt.Errorf("risk scan: %w", err)
			return
		}
		r.risk.err = r.setRiskScan(ctx, n > threshold, n)
	})
	return r.disableRiskScan, r.risk.err
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
		if p, ok := prev[rec.externalID]; r.opts.Full || !ok || !bytes.Equal(p.Hash, rec.hash[:]) {
			n++
		}
	}
	r.risk.tally.Add(n)
}

// decideFromTally decides the flag, if no call has decided it yet, from
// the records counted as the run read its windows whole.
func (r *run) decideFromTally(ctx context.Context) error {
	r.risk.once.Do(func() {
		threshold := int64(r.job.RiskScanThreshold)
		n := min(r.risk.tally.Load(), threshold+1)
		r.risk.err = r.setRiskScan(ctx, n > threshold, n)
	})
	return r.risk.err
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

// countToSend counts the records the run's windows will send: the rows
// that map to a record and, unless Options.Full, whose content hash
// differs from what the API last accepted for their external id. It reads
// the windows fixed when the run started (startRiskScan), as the run
// reads them, a chunk of records at a time, and stops as soon as it has
// counted limit.
func (r *run) countToSend(ctx context.Context, limit int64) (int64, error) {
	var n int64
	for i, s := range r.streams {
		w := r.risk.windows[i]
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
					if p, ok := prev[rec.externalID]; !ok || !bytes.Equal(p.Hash, rec.hash[:]) {
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
