package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
	"github.com/algoreg/algoreg-etl/transform"
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
// Every run of a job with incremental: diff does the same (see
// run.reconciles): its queries have no cursor_updated_at, so each run reads
// them whole and deals with the missing records; a verify or offline run
// of such a job, like a dry run, counts what it would disable.
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
	if !r.reconciles() {
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
// source, during a run that reconciles.
func (r *run) markSeen(ctx context.Context, s *stream, c *chunk) error {
	if !r.reconciles() {
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
// no longer returns, relations before the customers they link, every
// stream in turn. A dry run takes the same path up to the send: it counts
// every stream's missing records, refuses over max_disable_fraction as the
// real run would, and counts and lists what it would disable.
func (r *run) reconcileMissing(ctx, drain context.Context) error {
	streams := slices.Clone(r.streams)
	slices.Reverse(streams)
	missing := make([]int64, len(streams))
	disable := r.job.OnMissing == configs.OnMissingDisable
	var refused error
	for i, s := range streams {
		n, total, err := r.env.State.CountMissing(ctx, r.id, r.job.Name, s.name)
		if err != nil {
			return err
		}
		missing[i] = n
		r.mu.Lock()
		r.counts.Missing += n
		r.mu.Unlock()
		if disable && refused == nil && total > 0 && float64(n) > r.job.MaxDisableFraction*float64(total) {
			what := "was"
			if r.dryRun() {
				what = "would be"
			}
			refused = fmt.Errorf("%s: %d of the %d %s the API accepted are missing from the source (%.1f%%), over max_disable_fraction (%.1f%%): nothing %s disabled; check the job's %s query",
				r.opts.Kind, n, total, s.name, 100*float64(n)/float64(total), 100*r.job.MaxDisableFraction, what, s.name)
		}
	}
	if refused != nil {
		return refused
	}
	for i, s := range streams {
		if missing[i] == 0 {
			continue
		}
		r.logger.Info("records missing from the source", "stream", s.name, "missing", missing[i], "on_missing", r.job.OnMissing, "dry_run", r.dryRun())
		if err := r.missingOf(ctx, drain, s, disable); err != nil {
			return err
		}
	}
	return nil
}

// missingOf deals with the missing records of one stream, page by page.
func (r *run) missingOf(ctx, drain context.Context, s *stream, disable bool) error {
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
		case disable:
			if err := r.disable(drain, s, page); err != nil {
				return err
			}
		case r.dryRun():
		default:
			if err := r.env.State.RecordErrors(context.WithoutCancel(ctx), deletedWarnings(r, s, page, "not sent: on_missing is report")); err != nil {
				return err
			}
		}
	}
}

// disableRequest returns the call, with the run's risk-scan flag, that
// disables a page of missing records, the records it carries, and the
// errors of those it cannot disable.
func (r *run) disableRequest(s *stream, page []state.SentRecord, disableRiskScan bool) (*load.SaveRequest, []record, []state.RecordError) {
	req := &load.SaveRequest{DisableRiskScan: disableRiskScan}
	var (
		send []record
		errs []state.RecordError
	)
	yes := true
	for _, rec := range page {
		out := record{key: rec.SourceKey, externalID: rec.ExternalID}
		var err error
		if s.name == StreamCustomers {
			out.customer = &load.Customer{ExternalID: rec.ExternalID, Disabled: &yes}
			out.hash, err = transform.HashCustomer(out.customer)
		} else {
			// A relation is sent whole: the last one accepted, disabled.
			var rel load.Relation
			if err = json.Unmarshal(rec.Delta, &rel); err == nil && rel.RelationExternalID == "" {
				err = errors.New("no relation stored")
			}
			if err == nil {
				rel.Disabled = &yes
				out.relation = &rel
				out.hash, err = transform.HashRelation(&rel)
			}
		}
		if err != nil {
			errs = append(errs, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageExtract, SourceKey: rec.SourceKey,
				ExternalID: rec.ExternalID, Code: CodeDeletedInSource, Message: "deleted in the source, but what was last sent is not known: disable it by hand"})
			continue
		}
		if out.customer != nil {
			req.Customers = append(req.Customers, *out.customer)
		} else {
			req.Relations = append(req.Relations, *out.relation)
		}
		send = append(send, out)
	}
	return req, send, errs
}

// disable sends a page of missing records with disabled: true, forgets the
// ones the API accepted and records what happened to each, in the record
// history too. A dry run counts and lists what it would send.
func (r *run) disable(ctx context.Context, s *stream, page []state.SentRecord) error {
	disableRiskScan, err := r.riskScanFlag(ctx)
	if err != nil {
		return err
	}
	req, send, errs := r.disableRequest(s, page, disableRiskScan)
	if r.dryRun() || len(send) == 0 {
		if r.dryRun() {
			for _, rec := range send {
				r.example("disabled", rec.externalID)
			}
			r.mu.Lock()
			r.counts.Disabled += int64(len(send))
			r.mu.Unlock()
			return nil
		}
		return r.env.State.RecordErrors(context.WithoutCancel(ctx), errs)
	}
	start := time.Now()
	out, err := r.sender.Send(ctx, req)
	if err != nil {
		return fmt.Errorf("reconcile: disable %d %s: %w", len(send), s.name, err)
	}
	keys := make(map[string]string, len(send))
	for _, rec := range send {
		keys[rec.externalID] = rec.key
	}
	refused := make(map[string]string)
	var warnings int64
	for _, d := range out.Detail {
		for _, p := range d.Errors {
			refused[d.ExternalID] = p.Error + ": " + p.Detail
		}
		// The API's warnings are recorded and counted as for any send.
		for _, p := range d.Warnings {
			errs = append(errs, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageAPI, Severity: state.SeverityWarning,
				SourceKey: keys[d.ExternalID], ExternalID: d.ExternalID, Code: p.Error, Message: p.Detail})
			warnings++
		}
	}
	for _, f := range out.Refused {
		if f.Customer >= 0 {
			refused[req.Customers[f.Customer].ExternalID] = f.Err.Error()
		} else {
			refused[req.Relations[f.Relation].RelationExternalID] = f.Err.Error()
		}
	}
	// The chunks of the disable calls follow the stream's window chunks.
	r.mu.Lock()
	n := r.chunks[s.name]
	r.chunks[s.name]++
	r.mu.Unlock()
	hist := r.history(s, &chunk{n: n}, send, out, start)
	for i := range hist.Records {
		if hist.Records[i].Outcome != state.OutcomeError {
			hist.Records[i].Outcome = state.OutcomeDisabled
		}
	}
	var gone []state.SentRecord
	var goneIDs []string
	for _, rec := range send {
		if msg, ok := refused[rec.externalID]; ok {
			errs = append(errs, state.RecordError{RunID: r.id, Job: r.job.Name, Stream: s.name, Stage: state.StageAPI, SourceKey: rec.key,
				ExternalID: rec.externalID, Code: CodeDeletedInSource, Message: "deleted in the source; sending it disabled failed: " + msg})
			continue
		}
		gone = append(gone, state.SentRecord{ExternalID: rec.externalID, SourceKey: rec.key})
		goneIDs = append(goneIDs, rec.externalID)
	}
	r.example("disabled", goneIDs...)
	// The call has been made: its outcome is recorded even when the run is
	// being cancelled, in one transaction with the run's counts, as a
	// chunk's (see process).
	bctx := context.WithoutCancel(ctx)
	errs = append(errs, deletedWarnings(r, s, gone, "sent with disabled: true")...)
	return r.commits.commit(bctx, r, &settled{s: s, d: state.Counts{Disabled: int64(len(gone)), Warnings: warnings},
		write: func(ctx context.Context, tx *state.ChunkTx) error {
			if err := tx.RecordErrors(ctx, errs); err != nil {
				return err
			}
			if err := tx.RecordHistory(ctx, *hist); err != nil {
				return err
			}
			return tx.Forget(ctx, r.job.Name, s.name, goneIDs)
		}})
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
