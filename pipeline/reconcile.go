package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
)

// A reconcile (Options.Kind state.KindReconcile) makes the API provably
// equal to the source, catching what a watermark cannot see: it reads each
// stream whole, whatever the rows' updated_at, sends the records that are
// new or changed since the API last accepted them (so a change that did not
// bump updated_at, or a late commit below the lookback, is caught), and
// compares the external ids it saw with those the API accepted
// (sent_records): the ones missing from the source were deleted there.
//
// Missing records are recorded as warnings (deleted_in_source) with
// on_missing: report, the default; with on_missing: disable they are sent
// once with disabled: true, the contract having no delete, and forgotten,
// unless more than max_disable_fraction of a stream's accepted records are
// missing: then the run fails before disabling any, since a query that lost
// rows must not disable customers. With Options.DryRun nothing is sent: the
// run counts and records, with examples, what it would create, update and
// disable.
//
// Memory stays flat in the table's size: the external ids seen are written
// to the state table reconcile_seen chunk by chunk, and the missing ones
// are read back page by page.

// CodeDeletedInSource is the code of the warning recorded for a record the
// API accepted that the source no longer has.
const CodeDeletedInSource = "deleted_in_source"

// maxExamples bounds the examples of each class a reconcile keeps.
const maxExamples = 10

// example notes an external id as an example of a class of records.
func (r *run) example(class string, ids ...string) {
	if r.opts.Kind != state.KindReconcile {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.examples == nil {
		r.examples = make(map[string][]string)
	}
	for _, id := range ids {
		if len(r.examples[class]) == maxExamples {
			return
		}
		r.examples[class] = append(r.examples[class], id)
	}
}

// markSeen records the external ids of a chunk's rows as present in the
// source, during a reconcile.
func (r *run) markSeen(ctx context.Context, s *stream, c *chunk) error {
	if r.opts.Kind != state.KindReconcile {
		return nil
	}
	ids := make([]string, 0, len(c.records)+len(c.errs))
	for _, rec := range c.records {
		ids = append(ids, rec.externalID)
	}
	for _, e := range c.errs { // an invalid row is still in the source
		if e.ExternalID != "" {
			ids = append(ids, e.ExternalID)
		}
	}
	return r.env.State.MarkSeen(ctx, r.id, s.name, ids)
}

// reconcileMissing deals with the records the API accepted that the source
// no longer returns, relations before the customers they link.
func (r *run) reconcileMissing(ctx, drain context.Context) error {
	streams := slices.Clone(r.streams)
	slices.Reverse(streams)
	missing := make([]int64, len(streams))
	disable := r.job.OnMissing == configs.OnMissingDisable && !r.opts.DryRun
	for i, s := range streams {
		n, total, err := r.env.State.CountMissing(ctx, r.id, r.job.Name, s.name)
		if err != nil {
			return err
		}
		missing[i] = n
		r.mu.Lock()
		r.counts.Missing += n
		r.mu.Unlock()
		if disable && total > 0 && float64(n) > r.job.MaxDisableFraction*float64(total) {
			return fmt.Errorf("reconcile: %d of the %d %s the API accepted are missing from the source (%.1f%%), over max_disable_fraction (%.1f%%): nothing was disabled; check the job's %s query",
				n, total, s.name, 100*float64(n)/float64(total), 100*r.job.MaxDisableFraction, s.name)
		}
	}
	for i, s := range streams {
		if missing[i] == 0 {
			continue
		}
		r.logger.Info("records missing from the source", "stream", s.name, "missing", missing[i], "on_missing", r.job.OnMissing, "dry_run", r.opts.DryRun)
		for after := ""; ; {
			page, err := r.env.State.Missing(ctx, r.id, r.job.Name, s.name, after, r.job.ChunkSize)
			if err != nil || len(page) == 0 {
				return err
			}
			after = page[len(page)-1].ExternalID
			ids := make([]string, len(page))
			for j, rec := range page {
				ids[j] = rec.ExternalID
			}
			r.example("missing", ids...)
			switch {
			case r.opts.DryRun:
			case disable:
				if err := r.disable(drain, s, page); err != nil {
					return err
				}
			default:
				if err := r.env.State.RecordErrors(context.WithoutCancel(ctx), deletedWarnings(r, s, page, "not sent: on_missing is report")); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// disable sends a page of missing records with disabled: true, forgets the
// ones the API accepted and records what happened to each.
func (r *run) disable(ctx context.Context, s *stream, page []state.SentRecord) error {
	req := &load.SaveRequest{DisableRiskScan: r.disableRiskScan}
	var errs []state.RecordError
	yes := true
	for _, rec := range page {
		if s.name == StreamCustomers {
			req.Customers = append(req.Customers, load.Customer{ExternalID: rec.ExternalID, Disabled: &yes})
			continue
		}
		// A relation is sent whole: the last one accepted, disabled.
		var rel load.Relation
		if err := json.Unmarshal(rec.Delta, &rel); err != nil || rel.RelationExternalID == "" {
			errs = append(errs, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageExtract, SourceKey: rec.SourceKey,
				ExternalID: rec.ExternalID, Code: CodeDeletedInSource, Message: "deleted in the source, but what was last sent is not known: disable it by hand"})
			continue
		}
		rel.Disabled = &yes
		req.Relations = append(req.Relations, rel)
	}
	out, err := r.sender.Send(ctx, req)
	if err != nil {
		return fmt.Errorf("reconcile: disable %d %s: %w", len(page), s.name, err)
	}
	refused := make(map[string]string)
	for _, d := range out.Detail {
		for _, p := range d.Errors {
			refused[d.ExternalID] = p.Error + ": " + p.Detail
		}
	}
	for _, f := range out.Refused {
		if f.Customer >= 0 {
			refused[req.Customers[f.Customer].ExternalID] = f.Err.Error()
		} else {
			refused[req.Relations[f.Relation].RelationExternalID] = f.Err.Error()
		}
	}
	var gone []state.SentRecord
	for _, rec := range page {
		if msg, ok := refused[rec.ExternalID]; ok {
			errs = append(errs, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageAPI, SourceKey: rec.SourceKey,
				ExternalID: rec.ExternalID, Code: CodeDeletedInSource, Message: "deleted in the source; sending it disabled failed: " + msg})
			continue
		}
		gone = append(gone, rec)
	}
	ids := make([]string, len(gone))
	for i, rec := range gone {
		ids[i] = rec.ExternalID
	}
	bctx := context.WithoutCancel(ctx)
	errs = append(errs, deletedWarnings(r, s, gone, "sent with disabled: true")...)
	if err := r.env.State.RecordErrors(bctx, errs); err != nil {
		return err
	}
	if err := r.env.State.Forget(bctx, r.job.Name, s.name, ids); err != nil {
		return err
	}
	r.mu.Lock()
	r.counts.Disabled += int64(len(gone))
	r.mu.Unlock()
	return nil
}

// deletedWarnings returns the warnings recording that recs were deleted in
// the source.
func deletedWarnings(r *run, s *stream, recs []state.SentRecord, what string) []state.RecordError {
	out := make([]state.RecordError, len(recs))
	for i, rec := range recs {
		out[i] = state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageExtract, Severity: state.SeverityWarning,
			SourceKey: rec.SourceKey, ExternalID: rec.ExternalID, Code: CodeDeletedInSource,
			Message: fmt.Sprintf("accepted by the API, no longer in the source (%s query): %s", s.name, what)}
	}
	return out
}
