package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// decideRiskScan decides the run's disable_risk_scan flag, sent with every
// call of the run, and records it on the run row. A scan during the import
// gives risk results at once but slows a big load; the nightly process
// scans what an import skipped. So under the auto policy:
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
//     no window: it counts over its whole queries, so the source is read
//     twice unless the count passes the threshold early.
func (r *run) decideRiskScan(ctx context.Context) error {
	disable, n, err := r.riskScan(ctx)
	if err != nil {
		return fmt.Errorf("risk scan: %w", err)
	}
	r.disableRiskScan = disable
	if err := r.env.State.SetRunRiskScan(ctx, r.id, disable); err != nil {
		return err
	}
	args := []any{"disable_risk_scan", disable}
	if n >= 0 {
		args = append(args, "records_to_send", n, "risk_scan_threshold", r.job.RiskScanThreshold)
	}
	r.logger.Info("risk scan decided", args...)
	return nil
}

// riskScan returns the run's disable_risk_scan flag and, when it counted
// them, the records the run will send, counted up to one more than the
// threshold; -1 when it did not count.
func (r *run) riskScan(ctx context.Context) (disable bool, toSend int64, err error) {
	policy := r.opts.RiskScan
	if policy == "" {
		policy = r.job.RiskScan
	}
	switch policy {
	case configs.RiskScanOn:
		return false, -1, nil
	case configs.RiskScanOff:
		return true, -1, nil
	}
	switch r.opts.Kind {
	case state.KindBackfill, state.KindReconcile:
		return true, -1, nil
	case state.KindRetry:
		return false, -1, nil
	}
	threshold := int64(r.job.RiskScanThreshold)
	n, err := r.countToSend(ctx, threshold+1)
	if err != nil {
		return false, -1, err
	}
	return n > threshold, n, nil
}

// errCounted stops countToSend's reading once it has counted enough.
var errCounted = errors.New("counted enough")

// countToSend counts the records the run's windows will send: the rows
// that map to a record and, unless Options.Full, whose content hash
// differs from what the API last accepted for their external id. It reads
// the windows as the run will, a chunk of records at a time, and stops as
// soon as it has counted limit.
func (r *run) countToSend(ctx context.Context, limit int64) (int64, error) {
	var n int64
	for i, s := range r.streams {
		w := r.window
		if i > 0 {
			var err error
			if w, _, err = r.windowOf(ctx, s); err != nil {
				return 0, err
			}
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
