package pipeline

import (
	"context"
	"fmt"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// retryOpenErrors, with earlier, re-reads the source rows of a stream's
// open record errors of earlier runs and sends them again, whatever their
// updated_at: a row that failed is delivered once its cause is fixed, even
// if the fix did not touch the row (a missing customer that arrived, an API
// outage that ended). At most the job's retry_errors_limit rows are taken
// per run, least recently seen first, leaving out the rows this run has
// read already; rows that failed stuck_after attempts are left alone and
// reported as stuck.
//
// Then, earlier or not, the rows this run held back for a customer not
// accepted yet are tried again, at most retry_errors_limit per pass, pass
// after pass as long as a pass has the API accept anything: a child whose
// parent was accepted by the previous pass goes in the next, so a
// hierarchy several levels deep arrives in one run. Each row is counted
// once in the run's counts, by its last outcome.
func (r *run) retryOpenErrors(ctx, drain context.Context, s *stream, earlier bool) error {
	if r.job.RetryErrorsLimit <= 0 {
		return nil
	}
	if earlier {
		open, err := r.env.State.OpenErrors(ctx, r.job.Name, s.name, r.job.StuckAfter, r.id, r.job.RetryErrorsLimit)
		if err != nil {
			return err
		}
		stuck, err := r.env.State.StuckErrors(ctx, r.job.Name, s.name, r.job.StuckAfter)
		if err != nil {
			return err
		}
		if len(stuck) > 0 {
			r.logger.Warn("rows stuck: no longer retried, they need a person (algoreg-etl report errors --open; algoreg-etl release)",
				"stream", s.name, "rows", len(stuck), "stuck_after", r.job.StuckAfter, "example", stuck[0].SourceKey, "code", stuck[0].Code)
		}
		if len(open) > 0 {
			r.logger.Info("retrying rows with open record errors", "stream", s.name, "rows", len(open))
			if err := r.retryRows(ctx, drain, s, open, false); err != nil {
				return err
			}
		}
	}
	for {
		held, err := r.env.State.Held(ctx, r.id, r.job.Name, s.name, r.job.RetryErrorsLimit)
		if err != nil || len(held) == 0 {
			return err
		}
		r.mu.Lock()
		before := r.counts.Sent
		r.mu.Unlock()
		r.logger.Info("trying again rows held for a customer", "stream", s.name, "rows", len(held))
		if err := r.retryRows(ctx, drain, s, held, true); err != nil {
			return err
		}
		r.mu.Lock()
		released := r.counts.Sent > before
		r.mu.Unlock()
		if !released {
			return nil
		}
	}
}

// retryRows reads the rows of errs again by key and sends them. With
// recount, the rows are ones this run already counted (held back).
func (r *run) retryRows(ctx, drain context.Context, s *stream, errs []state.OpenError, recount bool) error {
	m, err := r.compile(ctx, s)
	if err != nil {
		return err
	}
	keys := make([]string, len(errs))
	for i, e := range errs {
		keys[i] = e.SourceKey
	}
	found := make(map[string]bool, len(keys))
	k := r.newChunker(drain, s, m, true, nil)
	k.c.recount = recount
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
	var gone []state.OpenError
	for _, e := range errs {
		if !found[e.SourceKey] {
			gone = append(gone, e)
		}
	}
	if len(gone) > 0 {
		return r.gone(ctx, s, gone, recount)
	}
	return nil
}

// gone settles the open errors of rows the query no longer returns. A row
// whose external id the API has accepted since from another source row
// moved there: its errors are resolved. Any other stays an open error,
// row_not_found, until it is stuck: it is never dropped silently.
func (r *run) gone(ctx context.Context, s *stream, gone []state.OpenError, recount bool) error {
	bctx := context.WithoutCancel(ctx)
	var ids []string
	for _, e := range gone {
		if e.ExternalID != "" {
			ids = append(ids, e.ExternalID)
		}
	}
	sent, err := r.env.State.Sent(ctx, r.job.Name, s.name, ids)
	if err != nil {
		return err
	}
	var moved []string
	var errs []state.RecordError
	for _, e := range gone {
		if p, ok := sent[e.ExternalID]; ok && !recount && p.SourceKey != "" && p.SourceKey != e.SourceKey {
			moved = append(moved, e.SourceKey)
			continue
		}
		errs = append(errs, state.RecordError{Stage: state.StageExtract, SourceKey: e.SourceKey, ExternalID: e.ExternalID,
			Code: CodeRowNotFound, Message: fmt.Sprintf("the %s query no longer returns the row with cursor_key %s", s.name, e.SourceKey)})
	}
	var d state.Counts
	var held int64
	if len(moved) > 0 {
		n, err := r.env.State.ResolveMoved(bctx, r.id, r.job.Name, s.name, moved)
		if err != nil {
			return err
		}
		d.Resolved = n
	}
	if err := r.recordErrors(bctx, r.env.State, s, errs); err != nil {
		return err
	}
	d.Invalid = int64(len(errs))
	if recount { // rows counted as held
		held = -int64(len(errs))
	} else {
		d.Retried = int64(len(errs))
	}
	r.mu.Lock()
	r.counts.Add(d)
	r.held += held
	r.mu.Unlock()
	return nil
}
