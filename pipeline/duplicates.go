package pipeline

import (
	"context"
	"fmt"

	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/state"
)

// Two source rows that give one external id would each overwrite the
// other's record in Algoreg, run after run. The rule: the row the API last
// accepted the external id from (sent_records.source_key) keeps it while
// the source still gives it that id; an external id the API has not
// accepted yet goes to the first row of the run that gives it, in the
// order rows are read. Every other row that gives it is held, with one
// open error, duplicate_external_id, that names both rows, until one of
// the two changes its external id or leaves the source.

// duplicates returns, by index in c.records, the error of each record of
// the chunk whose external id another source row keeps. prev holds what
// the API last accepted for the chunk's external ids. The external ids the
// chunk is the first of the run to give are claimed in the run's state
// after the claims of earlier chunks; claimed is called once that is done.
func (r *run) duplicates(ctx context.Context, s *stream, c *chunk, prev map[string]state.SentRecord, claimed func()) (map[int]state.RecordError, error) {
	defer claimed()
	dups := make(map[int]state.RecordError)
	// owner is, by external id, the row of the chunk that the API last
	// accepted it from.
	owner := make(map[string]string)
	var others []string // rows the API last accepted a chunk's external id from, elsewhere
	for _, rec := range c.records {
		p, ok := prev[rec.externalID]
		switch {
		case ok && p.SourceKey == rec.key:
			owner[rec.externalID] = rec.key
		case ok && p.SourceKey != "":
			others = append(others, p.SourceKey)
		}
	}
	// Do those other rows still give the external id?
	gives := make(map[string]string, len(others)) // source key -> external id it gives now
	if len(others) > 0 {
		err := extract.ReadKeys(ctx, r.env.Source, s.query, others, func(row extract.Row) error {
			rec, err := c.m(row)
			if err != nil {
				gives[row.Pos.Key] = invalid(row, err).ExternalID
			} else {
				gives[row.Pos.Key] = rec.externalID
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: read the rows the API last accepted the chunk's external ids from: %w", s.name, err)
		}
	}

	var first []int // records that may be the first of the run to give their external id
	for i, rec := range c.records {
		p, ok := prev[rec.externalID]
		switch {
		case ok && p.SourceKey == rec.key:
		case ok && p.SourceKey != "" && gives[p.SourceKey] == rec.externalID:
			dups[i] = duplicateError(rec, p.SourceKey)
		case owner[rec.externalID] != "":
			dups[i] = duplicateError(rec, owner[rec.externalID])
		default:
			first = append(first, i)
		}
	}
	if len(first) == 0 {
		return dups, nil
	}
	var ids, keys []string
	seen := make(map[string]bool, len(first))
	for _, i := range first {
		if rec := c.records[i]; !seen[rec.externalID] {
			seen[rec.externalID] = true
			ids, keys = append(ids, rec.externalID), append(keys, rec.key)
		}
	}
	if c.claimAfter != nil {
		select {
		case <-c.claimAfter:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	claims, err := r.env.State.Claim(ctx, r.id, r.job.Name, s.name, ids, keys)
	if err != nil {
		return nil, err
	}
	for _, i := range first {
		rec := c.records[i]
		if k := claims[rec.externalID]; k != rec.key {
			dups[i] = duplicateError(rec, k)
		}
	}
	return dups, nil
}

// duplicateError returns the error of a record held because the row with
// source key keeper gives its external id too, and keeps it.
func duplicateError(rec record, keeper string) state.RecordError {
	field := "external_id"
	if rec.relation != nil {
		field = "relation_external_id"
	}
	return state.RecordError{
		Stage: state.StageTransform, SourceKey: rec.key, ExternalID: rec.externalID, Code: CodeDuplicateExternalID, Field: field,
		Message: fmt.Sprintf("%s %s of the row with cursor_key %s is also given by the row with cursor_key %s, which keeps it; "+
			"this row is not sent until one of the two changes its %s", field, rec.externalID, rec.key, keeper, field),
		Payload: rec.payload(), Hash: rec.hash[:],
	}
}
