package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Outcomes of a record sent, stored in record_history.outcome: the API's
// answer for the record.
const (
	OutcomeAdded   = "added"   // listed in the answer's added: a new customer
	OutcomeUpdated = "updated" // accepted and not listed as added (every accepted relation)
	OutcomeError   = "error"   // refused; the reasons are in record_errors
	// OutcomeDisabled: accepted with disabled: true, sent by a reconcile
	// because the record was deleted in the source.
	OutcomeDisabled = "disabled"
)

// A HistoryRecord is one record of a chunk sent to the API, and what the
// API answered about it.
type HistoryRecord struct {
	ExternalID string // for a relation, its relation_external_id
	SourceKey  string // the source row's key; "" for unknown
	// ParentExternalID and ChildExternalID are a relation's parent and
	// child customers; "" for a customer.
	ParentExternalID, ChildExternalID string
	Hash                              []byte          // the 16-byte content hash of what was sent
	Outcome                           string          // one of the Outcome constants
	Warnings                          int             // warnings the API returned for the record
	CustomerID                        string          // the customer_id the API gave when it added the record; "" for none
	Payload                           json.RawMessage // the record as sent; nil unless the job stores payloads
}

// A ChunkHistory is one chunk of a run sent to the API: every record it
// held with the API's answer, and how long the chunk's calls took.
type ChunkHistory struct {
	RunID           int64
	Job             string
	Stream          string // "customers" or "relations"
	Chunk           int    // the chunk's number in its stream and phase
	Retry           bool   // the chunk retries open record errors
	DisableRiskScan bool   // the flag sent with the chunk's calls
	StartedAt       time.Time
	Duration        time.Duration // first call's start to last answer, retries included
	Calls           int           // HTTP calls, retries and split calls included
	Retries         int           // calls that repeated one that failed
	Records         []HistoryRecord
}

// RecordHistory stores a chunk sent to the API: one row in run_chunks and
// one row per record in record_history, in one statement, so that a chunk
// costs the state database one round trip however many records it holds.
// A chunk without records stores nothing.
func (s *Store) RecordHistory(ctx context.Context, h ChunkHistory) error {
	return s.recordHistory(ctx, s.db, h)
}

// recordHistory does what RecordHistory does through q.
func (s *Store) recordHistory(ctx context.Context, q conn, h ChunkHistory) error {
	n := len(h.Records)
	if n == 0 {
		return nil
	}
	var (
		ids, keys, outcomes          = make([]string, n), make([]string, n), make([]string, n)
		hashes                       = make([][]byte, n)
		added, updated, failed, warn int
		// Columns that most chunks leave empty are sent as NULL, not as
		// an array of n empty values for the server to parse: a
		// customer has no parent or child, a record sent again no
		// customer_id, most records no warnings, and payloads are stored
		// only when the job asks. unnest gives NULL for each record then.
		parents, children, customerIDs, payloads []string // nil: all NULL
		warnings                                 []int64  // nil: all 0
	)
	for i, r := range h.Records {
		if r.ExternalID == "" {
			return fmt.Errorf("state: history of %s chunk %d of run %d: record %d (source key %q) has no external id", h.Stream, h.Chunk, h.RunID, i, r.SourceKey)
		}
		if len(r.Hash) != hashSize {
			return fmt.Errorf("state: history of %s chunk %d of run %d: record %q: hash of %d bytes, want %d", h.Stream, h.Chunk, h.RunID, r.ExternalID, len(r.Hash), hashSize)
		}
		switch r.Outcome {
		case OutcomeAdded:
			added++
		case OutcomeUpdated, OutcomeDisabled:
			updated++
		case OutcomeError:
			failed++
		default:
			return fmt.Errorf("state: history of %s chunk %d of run %d: record %q: unknown outcome %q", h.Stream, h.Chunk, h.RunID, r.ExternalID, r.Outcome)
		}
		warn += r.Warnings
		ids[i], keys[i], outcomes[i], hashes[i] = r.ExternalID, r.SourceKey, r.Outcome, r.Hash
		setSparse(&parents, n, i, r.ParentExternalID)
		setSparse(&children, n, i, r.ChildExternalID)
		setSparse(&customerIDs, n, i, r.CustomerID)
		setSparse(&warnings, n, i, int64(r.Warnings))
		if r.Payload != nil {
			if payloads == nil {
				payloads = make([]string, n)
			}
			payloads[i] = string(r.Payload)
		}
	}
	_, err := q.ExecContext(ctx, s.audit().insertHistory,
		h.RunID, h.Job, h.Stream, h.Retry, h.Chunk, n, added, updated, failed, warn,
		h.Calls, h.Retries, h.DisableRiskScan, h.StartedAt, h.Duration.Microseconds(),
		pq.StringArray(ids), pq.StringArray(keys), pq.StringArray(parents), pq.StringArray(children),
		pq.ByteaArray(hashes), pq.StringArray(outcomes), pq.Int64Array(warnings), pq.StringArray(customerIDs),
		pq.StringArray(payloads))
	if err != nil {
		return fmt.Errorf("state: history of %s chunk %d (%d records) of run %d: %w", h.Stream, h.Chunk, n, h.RunID, err)
	}
	return nil
}

// setSparse sets (*values)[i] to v, making *values n long at the first v
// that is not the zero value: a nil *values stands for n zero values.
func setSparse[T comparable](values *[]T, n, i int, v T) {
	var zero T
	if v == zero {
		return
	}
	if *values == nil {
		*values = make([]T, n)
	}
	(*values)[i] = v
}

// insertHistory writes the chunk's row and its records' rows. Records are
// unnested from one array per column: a statement of constant size,
// measured in BenchmarkRecordHistory. An array sent as NULL gives each
// record NULL.
const insertHistory = `WITH chunk AS (
	INSERT INTO {s}.run_chunks (run_id, job, stream, retry, chunk, records, added, updated, errors, warnings,
		calls, retries, disable_risk_scan, started_at, duration)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 * interval '1 microsecond')
)
INSERT INTO {s}.record_history (run_id, job, stream, external_id, source_key, parent_external_id, child_external_id,
	hash, outcome, warnings, customer_id, disable_risk_scan, payload)
SELECT $1, $2, $3, t.external_id, NULLIF(t.source_key, ''), NULLIF(t.parent, ''), NULLIF(t.child, ''),
	t.hash, t.outcome, coalesce(t.warnings, 0), NULLIF(t.customer_id, ''), $13, NULLIF(t.payload, '')::jsonb
FROM unnest($16::text[], $17::text[], $18::text[], $19::text[], $20::bytea[], $21::text[], $22::int[], $23::text[], $24::text[])
	AS t(external_id, source_key, parent, child, hash, outcome, warnings, customer_id, payload)`

// auditQueries is the SQL of the audit trail, reports and prune, with
// table names qualified by a Store's schema.
type auditQueries struct {
	insertHistory string

	runSummaries, runErrorGroups, slowestChunks, recordErrorsReport  string
	customerSync, customerHistory, customerErrors, customerRelations string
	openErrorsByCode, dailyCounts                                    string

	runsToPrune, pruneHistory, pruneChunks, pruneErrors, pruneSightings, markPruned string
	countHistory, countChunks, countErrors                                          string
}

// auditBySchema caches the auditQueries of each schema name.
var auditBySchema sync.Map // schema → *auditQueries

// audit returns the Store's audit SQL, built once per schema.
func (s *Store) audit() *auditQueries {
	if q, ok := auditBySchema.Load(s.schema); ok {
		return q.(*auditQueries)
	}
	r := strings.NewReplacer("{s}", pq.QuoteIdentifier(s.schema)).Replace
	q := &auditQueries{
		insertHistory: r(insertHistory),

		runSummaries:       r(runSummaries),
		runErrorGroups:     r(runErrorGroups),
		slowestChunks:      r(slowestChunks),
		recordErrorsReport: r(recordErrorsReport),
		customerSync:       r(customerSync),
		customerHistory:    r(customerHistory),
		customerErrors:     r(customerErrors),
		customerRelations:  r(customerRelations),
		openErrorsByCode:   r(openErrorsByCode),
		dailyCounts:        r(dailyCounts),

		runsToPrune:    r(runsToPrune),
		pruneHistory:   r(pruneHistory),
		pruneChunks:    r(pruneChunks),
		pruneErrors:    r(pruneErrors),
		pruneSightings: r(pruneSightings),
		markPruned:     r(markPruned),
		countHistory:   r(countHistory),
		countChunks:    r(countChunks),
		countErrors:    r(countErrors),
	}
	actual, _ := auditBySchema.LoadOrStore(s.schema, q)
	return actual.(*auditQueries)
}
