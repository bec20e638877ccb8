package pipeline

import (
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
)

// history returns what a chunk's calls did to each record sent, for the
// audit trail: added when the answer lists it as added, error when the API
// refused it (a detail error, or a call refused whole because of it, as in
// outcome), updated otherwise; with its warnings and the customer_id the
// API gave. start is when the chunk's first call started.
func (r *run) history(s *stream, c *chunk, send []record, out *load.Outcome, start time.Time) *state.ChunkHistory {
	h := &state.ChunkHistory{
		RunID: r.id, Job: r.job.Name, Stream: s.name, Chunk: c.n, Retry: c.retry,
		DisableRiskScan: r.disableRiskScan, StartedAt: start, Duration: time.Since(start),
		Calls: out.Calls, Retries: out.Retries,
		Records: make([]state.HistoryRecord, len(send)),
	}
	// As in outcome: an external id sent twice is answered for the last.
	index := make(map[string]int, len(send))
	for i, rec := range send {
		index[rec.externalID] = i
	}
	for i, rec := range send {
		hr := &h.Records[i]
		hr.ExternalID, hr.SourceKey, hr.Hash, hr.Outcome = rec.externalID, rec.key, rec.hash[:], state.OutcomeUpdated
		if rec.relation != nil {
			hr.ParentExternalID, hr.ChildExternalID = rec.relation.ParentCustomerExternalID, rec.relation.ChildCustomerExternalID
		}
		if r.job.StorePayloads {
			hr.Payload = rec.payload()
		}
	}
	for _, a := range out.Added {
		if i, ok := index[a.ExternalID]; ok {
			h.Records[i].Outcome, h.Records[i].CustomerID = state.OutcomeAdded, string(a.CustomerID)
		}
	}
	for _, det := range out.Detail {
		i, ok := index[det.ExternalID]
		if !ok {
			continue
		}
		h.Records[i].Warnings += len(det.Warnings)
		if len(det.Errors) > 0 {
			h.Records[i].Outcome, h.Records[i].CustomerID = state.OutcomeError, ""
		}
	}
	for _, ref := range out.Refused {
		i := ref.Customer
		if i < 0 {
			i = ref.Relation
		}
		if i >= 0 && i < len(h.Records) {
			h.Records[i].Outcome, h.Records[i].CustomerID = state.OutcomeError, ""
		}
	}
	return h
}
