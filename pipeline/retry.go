package pipeline

import (
	"context"
	"fmt"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// retryOpenErrors re-reads the source rows of a stream's open record errors
// and sends them again, whatever their updated_at: a row that failed is
// delivered once its cause is fixed, even if the fix did not touch the row
// (a missing customer that arrived, an API outage that ended). At most the
// job's retry_errors_limit rows are taken per run, oldest failure first;
// rows that failed stuck_after times are left alone and reported as stuck.
func (r *run) retryOpenErrors(ctx, drain context.Context, s *stream) error {
	if r.job.RetryErrorsLimit <= 0 {
		return nil
	}
	open, err := r.env.State.OpenErrors(ctx, r.job.Name, s.name, r.job.StuckAfter, r.job.RetryErrorsLimit)
	if err != nil {
		return err
	}
	stuck, err := r.env.State.StuckErrors(ctx, r.job.Name, s.name, r.job.StuckAfter)
	if err != nil {
		return err
	}
	if len(stuck) > 0 {
		r.logger.Warn("rows stuck: no longer retried, they need a person (algoreg-etl report errors --open)",
			"stream", s.name, "rows", len(stuck), "stuck_after", r.job.StuckAfter, "example", stuck[0].SourceKey, "code", stuck[0].Code)
	}
	var keys []string
	for _, e := range open {
		// An error of this very run is retried now only when a later chunk
		// of the run may have cured it; the others wait for the next run.
		if e.SourceKey == "" || (e.RunID == r.id && !dependencyCodes[e.Code]) {
			continue
		}
		keys = append(keys, e.SourceKey)
	}
	if len(keys) == 0 {
		return nil
	}
	m, err := r.compile(ctx, s)
	if err != nil {
		return err
	}
	r.logger.Info("retrying rows with open record errors", "stream", s.name, "rows", len(keys))
	found := make(map[string]bool, len(keys))
	k := r.newChunker(drain, s, m, true, nil)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(k.ctx, cancel)()
	err = extract.ReadKeys(readCtx, r.env.Source, s.query, keys, func(row extract.Row) error {
		found[row.Pos.Key] = true
		return k.add(row)
	})
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err := k.finish(err); err != nil {
		return err
	}

	// A row the query no longer returns stays an open error, counted as an
	// attempt, until it is stuck: it is never dropped silently.
	var gone []state.RecordError
	for _, key := range keys {
		if !found[key] {
			gone = append(gone, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageExtract, SourceKey: key,
				Code: CodeRowNotFound, Message: fmt.Sprintf("the %s query no longer returns the row with cursor_key %s", s.name, key)})
		}
	}
	if len(gone) > 0 {
		if err := r.env.State.RecordErrors(context.WithoutCancel(ctx), gone); err != nil {
			return err
		}
		r.mu.Lock()
		r.counts.Retried += int64(len(gone))
		r.counts.Invalid += int64(len(gone))
		r.mu.Unlock()
	}
	return nil
}
