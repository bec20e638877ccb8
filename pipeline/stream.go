package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
	"github.com/algoreg/algoreg-etl/transform"
)

// Names of a job's streams in the state tables. Each stream has its own
// watermark; customers are sent before relations.
const (
	StreamCustomers = "customers"
	StreamRelations = "relations"
)

// Codes of record errors the pipeline itself gives, besides transform's and
// the API's.
const (
	// CodeParentNotSent: the customer's parent_external_id names a customer
	// not yet accepted by the API. Retried when the parent arrives.
	CodeParentNotSent = "parent_not_sent"
	// CodeCustomerNotSent: a relation names a customer not yet accepted by
	// the API. Retried when the customer arrives.
	CodeCustomerNotSent = "customer_not_sent"
	// CodeRowNotFound: a row retried for an open record error is no longer
	// returned by the job's query.
	CodeRowNotFound = "row_not_found"
	// CodeRefused: the API refused a whole call because of this record.
	CodeRefused = "refused"
	// CodeNullCursor: the row's cursor_updated_at is NULL, so it has no
	// place in the change order and no window holds it. Recorded by every
	// run that reads windows, until the query gives the row a cursor.
	CodeNullCursor = "null_cursor"
	// CodeDuplicateExternalID: another source row gives the record's
	// external id, and keeps it; this row is held until one of the two
	// changes its external id.
	CodeDuplicateExternalID = "duplicate_external_id"
)

// A stream is one of a job's queries and how its rows become records.
type stream struct {
	name  string
	query extract.Query
	// mapper compiles the mapping of a query's columns.
	mapper func(cols extract.Columns) (mapper, error)
}

// A mapper turns one row into a record.
type mapper func(row extract.Row) (record, error)

// A record is one row on its way to the API: a customer or a relation.
type record struct {
	key        string // the source row's cursor_key
	externalID string
	customer   *load.Customer
	relation   *load.Relation
	hash       transform.Hash
	needs      []string        // external ids of customers that must be accepted first
	delta      json.RawMessage // kept in sent_records: a customer's lists (for removals), a relation whole (to disable it)
	// dropped are the invalid optional fields left out of the customer
	// (on_invalid_field: drop), recorded as warnings when it is sent.
	dropped []*transform.FieldError
}

// jobStreams returns the job's streams, customers first.
func (r *run) jobStreams() []*stream {
	loc := r.job.CursorTimezone
	out := []*stream{{
		name:  StreamCustomers,
		query: extract.Query{SQL: r.job.CustomersSQL, Location: loc, ByKey: r.job.Diff()},
		mapper: func(cols extract.Columns) (mapper, error) {
			m, err := transform.NewCustomers(cols, transform.Options{Now: r.opts.Now, AccountTypes: r.job.AccountTypes, Countries: r.job.Countries, Drop: r.job.DropInvalid()})
			if err != nil {
				return nil, err
			}
			return func(row extract.Row) (record, error) {
				c, dropped, err := m.MapDropping(row)
				if err != nil {
					return record{}, err
				}
				h, err := transform.EncodeCustomer(&c)
				if err != nil {
					return record{}, err
				}
				rec := record{key: row.Pos.Key, externalID: c.ExternalID, customer: &c, hash: h, delta: deltaOf(&c), dropped: dropped}
				if c.ParentExternalID != "" {
					rec.needs = []string{c.ParentExternalID}
				}
				return rec, nil
			}, nil
		},
	}}
	if r.job.RelationsSQL != "" {
		out = append(out, &stream{
			name:  StreamRelations,
			query: extract.Query{SQL: r.job.RelationsSQL, Location: loc, ByKey: r.job.Diff()},
			mapper: func(cols extract.Columns) (mapper, error) {
				m, err := transform.NewRelations(cols, transform.RelationOptions{Types: r.job.RelationTypes})
				if err != nil {
					return nil, err
				}
				return func(row extract.Row) (record, error) {
					rel, err := m.Map(row)
					if err != nil {
						return record{}, err
					}
					// delta: what a reconcile needs to disable the
					// relation if it disappears, the relation itself.
					h, delta, err := transform.EncodeRelation(&rel)
					if err != nil {
						return record{}, err
					}
					return record{key: row.Pos.Key, externalID: rel.RelationExternalID, relation: &rel, hash: h, delta: delta,
						needs: []string{rel.ParentCustomerExternalID, rel.ChildCustomerExternalID}}, nil
				}, nil
			},
		})
	}
	return out
}

// droppedWarnings returns the warnings recording the optional fields left
// out of rec, sent without them.
func droppedWarnings(rec record) []state.RecordError {
	out := make([]state.RecordError, len(rec.dropped))
	for i, fe := range rec.dropped {
		out[i] = state.RecordError{Stage: state.StageTransform, Severity: state.SeverityWarning, SourceKey: rec.key, ExternalID: rec.externalID,
			Code: fe.Code, Field: fe.Field, Payload: rec.payload(),
			Message: fmt.Sprintf("%v; sent without %s (on_invalid_field: %s)", fe, fe.Field, configs.InvalidFieldDrop)}
	}
	return out
}

// compile checks a stream's query against the source and compiles its
// mapping, before any row is read.
func (r *run) compile(ctx context.Context, s *stream) (mapper, error) {
	cols, err := extract.Describe(ctx, r.env.Source, s.query)
	if err != nil && s.query.ByKey {
		return nil, fmt.Errorf("%s query (incremental: diff): %w", s.name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s query: %w", s.name, err)
	}
	m, err := s.mapper(cols)
	if err != nil {
		return nil, fmt.Errorf("%s query of job %s: %w", s.name, r.job.Name, err)
	}
	return m, nil
}

// read streams the rows of a stream's window w, or, for a stream read by
// key (incremental: diff), every row of its query, calling fn for each.
func (r *run) read(ctx context.Context, s *stream, w extract.Window, fn func(extract.Row) error) error {
	opts := r.readOptions(ctx, s)
	if s.query.ByKey {
		return extract.ReadAll(ctx, r.env.Source, s.query, opts, fn)
	}
	return extract.Read(ctx, r.env.Source, s.query, w, opts, fn)
}

// invalid returns the record error of a row that could not be mapped.
func invalid(row extract.Row, err error) state.RecordError {
	re := state.RecordError{Stage: state.StageTransform, SourceKey: row.Pos.Key, Code: "invalid", Message: err.Error()}
	var fe *transform.FieldError
	if errors.As(err, &fe) {
		re.Code, re.Field = fe.Code, fe.Field
	}
	// The external id as the transform reads it, so that a reconcile (and
	// a diff run) knows the row is still in the source.
	for _, id := range []string{"external_id", "relation_external_id"} {
		if v, ok := row.Get(id); ok {
			switch v := v.(type) {
			case string:
				re.ExternalID = strings.TrimSpace(v)
			case int64:
				re.ExternalID = strconv.FormatInt(v, 10)
			}
		}
	}
	re.Payload = rowPayload(row)
	re.Hash = rowHash(row)
	return re
}

// nullCursor returns the record error of a row whose cursor_updated_at is
// NULL.
func nullCursor(row extract.Row) state.RecordError {
	re := invalid(row, fmt.Errorf("cursor_updated_at is NULL for the row with cursor_key %s: no window holds it, so it is never sent; make the query's cursor_updated_at never NULL (e.g. coalesce(updated_at, created_at))", row.Pos.Key))
	re.Stage, re.Code, re.Field = state.StageExtract, CodeNullCursor, extract.CursorUpdatedAt
	return re
}

// rowHash returns the content hash of a source row that could not be
// mapped: of its values, the cursor columns left out, so that a row read
// again unchanged hashes the same.
func rowHash(row extract.Row) []byte {
	m := make(map[string]any, len(row.Columns))
	for i, c := range row.Columns {
		if c != extract.CursorUpdatedAt && c != extract.CursorKey {
			m[c] = row.Values[i]
		}
	}
	b, err := json.Marshal(m) // keys sorted
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:16]
}

// rowPayload encodes a source row for a record error, so that the failing
// input can be read in the state tables.
func rowPayload(row extract.Row) json.RawMessage {
	m := make(map[string]any, len(row.Columns))
	for i, c := range row.Columns {
		m[c] = row.Values[i]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// deltaOf returns what the next send of a customer needs to express
// removals: the review groups, contacts and name variations it holds now.
// Empty lists ("[]") hold nothing to remove later: a customer with only
// those stores none, and is not encoded a second time for it.
func deltaOf(c *load.Customer) json.RawMessage {
	empty := func(list json.RawMessage) bool { return len(list) == 0 || string(list) == "[]" }
	if empty(c.ReviewGroups) && empty(c.Contacts) && len(c.Variations) == 0 {
		return nil
	}
	b, err := json.Marshal(load.Customer{ReviewGroups: c.ReviewGroups, Contacts: c.Contacts, Variations: c.Variations})
	if err != nil {
		return nil
	}
	return b
}
