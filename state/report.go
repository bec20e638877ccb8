package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/lib/pq"
)

// This file reads the audit views and tables for `algoreg-etl report`.
// Each report is a few queries that read indexes, not whole tables: see
// TestReportQueriesUseIndexes and BenchmarkCustomerReport.

// A RunSummary is one row of the run_summary view: a run with its counts,
// duration and the API calls of its chunks.
type RunSummary struct {
	ID                          int64
	Job, Kind, Status           string
	DryRun                      bool // the API kept nothing the run sent: Sent, Added and Updated are 0, WouldSend counts
	StartedAt                   time.Time
	FinishedAt                  *time.Time    // nil while running
	Duration                    time.Duration // 0 while running
	WindowFrom, WindowTo        *time.Time
	BackfillFrom, BackfillUntil *time.Time
	Counts                            // as on the run row, but for a dry run's Sent and Added: 0
	Updated                     int64 // Sent - Added
	WouldSend                   int64 // for a dry run, the records it would have sent
	OpenErrors                  int64 // error-severity record errors of the run still open
	DisableRiskScan             *bool // nil: not decided
	Chunks, Calls               int64 // chunks sent, and the HTTP calls they took
	SlowestChunk                time.Duration
	Error                       string
	Warning                     string     // what the run found wrong with the job; "" for none
	HistoryPrunedAt             *time.Time // nil while its history is kept
}

// A RunFilter selects runs for [Store.RunSummaries].
type RunFilter struct {
	Job   string    // "": every job
	Since time.Time // zero: from the first run; else runs started at or after it
	ID    int64     // 0: any run
	Limit int       // <= 0: no limit
}

// RunSummaries returns the runs that f selects from the run_summary view,
// newest first.
func (s *Store) RunSummaries(ctx context.Context, f RunFilter) ([]RunSummary, error) {
	rows, err := s.db.QueryContext(ctx, s.audit().runSummaries, f.Job, nullTime(f.Since), f.ID, limit(f.Limit))
	if err != nil {
		return nil, fmt.Errorf("state: run summaries: %w", err)
	}
	defer rows.Close()
	var runs []RunSummary
	for rows.Next() {
		var (
			r                RunSummary
			dur, slowest     int64
			windowFrom, to   *time.Time
			bfFrom, bfUntil  *time.Time
			finished, pruned *time.Time
		)
		err := rows.Scan(&r.ID, &r.Job, &r.Kind, &r.DryRun, &r.Status, &r.StartedAt, &finished, &dur, &windowFrom, &to, &bfFrom, &bfUntil,
			&r.Extracted, &r.Retried, &r.Sent, &r.Added, &r.Updated, &r.WouldSend, &r.Skipped, &r.Invalid, &r.Rejected, &r.Warnings, &r.Resolved,
			&r.OpenErrors, &r.DisableRiskScan, &r.Chunks, &r.Calls, &slowest, &r.Error, &r.Warning, &pruned, &r.NewErrors, &r.Stuck)
		if err != nil {
			return nil, fmt.Errorf("state: run summaries: %w", err)
		}
		r.StartedAt = r.StartedAt.UTC()
		r.FinishedAt, r.WindowFrom, r.WindowTo, r.BackfillFrom, r.BackfillUntil, r.HistoryPrunedAt =
			utc(finished), utc(windowFrom), utc(to), utc(bfFrom), utc(bfUntil), utc(pruned)
		r.Duration, r.SlowestChunk = time.Duration(dur)*time.Microsecond, time.Duration(slowest)*time.Microsecond
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: run summaries: %w", err)
	}
	return runs, nil
}

const runSummaries = `SELECT run_id, job, kind, dry_run, status, started_at, finished_at,
	coalesce((extract(epoch FROM duration) * 1e6)::bigint, 0),
	window_from, window_to, backfill_from, backfill_until,
	extracted, retried, sent, added, updated, would_send, skipped, invalid, rejected, warnings, resolved,
	open_errors, disable_risk_scan, chunks, calls,
	coalesce((extract(epoch FROM slowest_chunk) * 1e6)::bigint, 0), coalesce(error, ''), coalesce(warning, ''), history_pruned_at,
	new_errors, stuck
FROM {s}.run_summary
WHERE ($1 = '' OR job = $1) AND ($2::timestamptz IS NULL OR started_at >= $2) AND ($3::bigint = 0 OR run_id = $3)
ORDER BY started_at DESC, run_id DESC
LIMIT $4`

// An ErrorGroup is the record errors of one run that share a stream,
// stage, severity and code, with a few examples.
type ErrorGroup struct {
	Stream, Stage, Severity, Code string
	Errors                        int64 // rows of record_errors
	Open                          int64 // of which still open (errors only)
	Examples                      []ErrorExample
}

// An ErrorExample is one record error, as an example of its group.
type ErrorExample struct {
	ExternalID, SourceKey, Field, Message string
}

// A ChunkTiming is one chunk a run sent, from run_chunks.
type ChunkTiming struct {
	Stream                                  string
	Retry                                   bool // a chunk of the run's retry of open errors
	Chunk                                   int
	Records, Added, Updated, Errors, Warned int // Warned: warnings returned
	Calls, Retries                          int
	DisableRiskScan                         bool
	StartedAt                               time.Time
	Duration                                time.Duration
}

// A RunReport is one run: its summary, its record errors grouped by code,
// and its slowest chunks.
type RunReport struct {
	Run           RunSummary
	Errors        []ErrorGroup  // most frequent first
	SlowestChunks []ChunkTiming // slowest first
}

// RunReport returns the report of run id with up to examples examples per
// error group and the slowest chunks, at most slowest of them. The error
// wraps [sql.ErrNoRows] when there is no such run.
func (s *Store) RunReport(ctx context.Context, id int64, examples, slowest int) (*RunReport, error) {
	runs, err := s.RunSummaries(ctx, RunFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, fmt.Errorf("state: run %d: %w", id, sql.ErrNoRows)
	}
	rep := &RunReport{Run: runs[0]}
	q := s.audit()
	rows, err := s.db.QueryContext(ctx, q.runErrorGroups, id, max(examples, 0))
	if err != nil {
		return nil, fmt.Errorf("state: errors of run %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g                     ErrorGroup
			ids, keys, fields, ms []string
		)
		if err := rows.Scan(&g.Stream, &g.Stage, &g.Severity, &g.Code, &g.Errors, &g.Open,
			pq.Array(&ids), pq.Array(&keys), pq.Array(&fields), pq.Array(&ms)); err != nil {
			return nil, fmt.Errorf("state: errors of run %d: %w", id, err)
		}
		for i := range ids {
			g.Examples = append(g.Examples, ErrorExample{ExternalID: ids[i], SourceKey: keys[i], Field: fields[i], Message: ms[i]})
		}
		rep.Errors = append(rep.Errors, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: errors of run %d: %w", id, err)
	}
	rows.Close()

	crows, err := s.db.QueryContext(ctx, q.slowestChunks, id, limit(slowest))
	if err != nil {
		return nil, fmt.Errorf("state: chunks of run %d: %w", id, err)
	}
	defer crows.Close()
	for crows.Next() {
		var (
			c   ChunkTiming
			dur int64
		)
		if err := crows.Scan(&c.Stream, &c.Retry, &c.Chunk, &c.Records, &c.Added, &c.Updated, &c.Errors, &c.Warned,
			&c.Calls, &c.Retries, &c.DisableRiskScan, &c.StartedAt, &dur); err != nil {
			return nil, fmt.Errorf("state: chunks of run %d: %w", id, err)
		}
		c.StartedAt, c.Duration = c.StartedAt.UTC(), time.Duration(dur)*time.Microsecond
		rep.SlowestChunks = append(rep.SlowestChunks, c)
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("state: chunks of run %d: %w", id, err)
	}
	return rep, nil
}

// runErrorGroups groups a run's record errors, those it recorded and those
// it met again; $2 is the number of examples kept per group, the first
// recorded.
const runErrorGroups = `SELECT stream, stage, severity, code, count(*),
	count(*) FILTER (WHERE severity = 'error' AND resolved_at IS NULL),
	(array_agg(coalesce(external_id, '') ORDER BY id))[1:$2],
	(array_agg(coalesce(source_key, '') ORDER BY id))[1:$2],
	(array_agg(coalesce(field, '') ORDER BY id))[1:$2],
	(array_agg(message ORDER BY id))[1:$2]
FROM {s}.record_errors
WHERE run_id = $1 OR id IN (SELECT error_id FROM {s}.record_error_runs WHERE run_id = $1)
GROUP BY stream, stage, severity, code
ORDER BY count(*) DESC, stream, severity, code`

const slowestChunks = `SELECT stream, retry, chunk, records, added, updated, errors, warnings, calls, retries,
	disable_risk_scan, started_at, (extract(epoch FROM duration) * 1e6)::bigint
FROM {s}.run_chunks
WHERE run_id = $1
ORDER BY duration DESC, id
LIMIT $2`

// An ErrorFilter selects record errors for [Store.ErrorLines].
type ErrorFilter struct {
	Job   string    // "": every job
	Open  bool      // only error-severity errors not yet resolved
	Since time.Time // zero: any; else lines last seen at or after it
	Limit int       // <= 0: no limit
	// StuckAfter gives each job's stuck_after, by job name, to mark the
	// stuck rows; a job not in it takes DefaultStuckAfter, and with that
	// 0, its rows are not marked.
	StuckAfter        map[string]int
	DefaultStuckAfter int
}

// An ErrorLine sums up the record errors of one source row with one code
// and severity: the latest problem, how many runs met it, and whether a
// later run resolved it.
type ErrorLine struct {
	Job, Stream          string
	SourceKey            string // "" when the row's key is unknown
	ExternalID           string // of the latest error with one; "" for none
	Stage, Severity      string
	Code, Field, Message string // Field and Message of the latest error
	Attempts             int    // the row's highest attempt (see [Store.RecordFailures])
	Stuck                bool   // open, with Attempts at the job's stuck_after or more: no longer retried
	FirstSeen, LastSeen  time.Time
	Open                 bool       // an error not yet resolved; never a warning
	ResolvedAt           *time.Time // nil while open, and for warnings
	ResolvedRunID        int64
	LastRunID            int64 // the latest run that recorded it
}

// ErrorLines returns the record errors that f selects, one line per source
// row (or external id when the key is unknown), severity and code, sorted
// by job, stream and source key (keys that are whole numbers in numeric
// order), then severity and code. With a limit, the lines kept are the
// latest seen. Findings of dry runs (verify, offline, reconcile --dry-run)
// are left out, as in the open_errors_by_code view: they are in the report
// of their run.
func (s *Store) ErrorLines(ctx context.Context, f ErrorFilter) ([]ErrorLine, error) {
	var jobs []string
	var stuckAfter []int64
	for j, n := range f.StuckAfter {
		jobs, stuckAfter = append(jobs, j), append(stuckAfter, int64(n))
	}
	rows, err := s.db.QueryContext(ctx, s.audit().recordErrorsReport, f.Job, f.Open, nullTime(f.Since), limit(f.Limit),
		pq.Array(nonNil(jobs)), pq.Array(stuckAfter), f.DefaultStuckAfter)
	if err != nil {
		return nil, fmt.Errorf("state: record errors report: %w", err)
	}
	defer rows.Close()
	var lines []ErrorLine
	for rows.Next() {
		var l ErrorLine
		if err := rows.Scan(&l.Job, &l.Stream, &l.SourceKey, &l.ExternalID, &l.Stage, &l.Severity, &l.Code, &l.Field, &l.Message,
			&l.Attempts, &l.FirstSeen, &l.LastSeen, &l.Open, &l.ResolvedAt, &l.ResolvedRunID, &l.LastRunID, &l.Stuck); err != nil {
			return nil, fmt.Errorf("state: record errors report: %w", err)
		}
		l.FirstSeen, l.LastSeen, l.ResolvedAt = l.FirstSeen.UTC(), l.LastSeen.UTC(), utc(l.ResolvedAt)
		lines = append(lines, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: record errors report: %w", err)
	}
	return lines, nil
}

const recordErrorsReport = `SELECT job, stream, source_key, external_id, stage, severity, code, field, message,
	attempts, first_seen, last_seen, open, resolved_at, resolved_run_id, last_run_id, stuck
FROM (SELECT e.job, e.stream, coalesce(e.source_key, '') AS source_key,
	coalesce((array_agg(e.external_id ORDER BY e.id DESC) FILTER (WHERE e.external_id IS NOT NULL))[1], '') AS external_id,
	(array_agg(e.stage ORDER BY e.id DESC))[1] AS stage, e.severity, e.code,
	coalesce((array_agg(e.field ORDER BY e.id DESC))[1], '') AS field, (array_agg(e.message ORDER BY e.id DESC))[1] AS message,
	max(e.attempt) AS attempts, min(e.created_at) AS first_seen, max(coalesce(e.last_seen_at, e.created_at)) AS last_seen,
	e.severity = 'error' AND bool_or(e.resolved_at IS NULL) AS open,
	CASE WHEN bool_and(e.resolved_at IS NOT NULL) THEN max(e.resolved_at) END AS resolved_at,
	CASE WHEN bool_and(e.resolved_at IS NOT NULL) THEN max(e.resolved_run_id) ELSE 0 END AS resolved_run_id,
	max(coalesce(e.last_run_id, e.run_id)) AS last_run_id,
	coalesce(e.severity = 'error' AND bool_or(e.resolved_at IS NULL)
		AND max(e.attempt) FILTER (WHERE e.resolved_at IS NULL) >= coalesce(max(t.stuck_after), $7)
		AND coalesce(max(t.stuck_after), $7) > 0, false) AS stuck
FROM {s}.record_errors AS e
JOIN {s}.runs AS r ON r.id = e.run_id
LEFT JOIN unnest($5::text[], $6::int[]) AS t(job, stuck_after) ON t.job = e.job
WHERE NOT r.dry_run
	AND ($1 = '' OR e.job = $1)
	AND (NOT $2 OR (e.resolved_at IS NULL AND e.severity = 'error'))
GROUP BY e.job, e.stream, e.source_key, CASE WHEN e.source_key IS NULL THEN e.external_id END, e.severity, e.code
HAVING $3::timestamptz IS NULL OR max(coalesce(e.last_seen_at, e.created_at)) >= $3
ORDER BY max(coalesce(e.last_seen_at, e.created_at)) DESC, e.job, e.stream, e.source_key, e.code
LIMIT $4) AS latest
ORDER BY job, stream, CASE WHEN source_key ~ '^[0-9]{1,18}$' THEN source_key::bigint END NULLS LAST, source_key,
	external_id, severity, code`

// A CodeCount is one row of the open_errors_by_code view.
type CodeCount struct {
	Job, Stream, Stage, Code string
	Records                  int64 // distinct source rows
	Errors                   int64 // open error rows: one per source row and reason
	Runs                     int64 // distinct runs that recorded them or met them again
	FirstSeen, LastSeen      time.Time
	ExampleExternalID        string
}

// OpenErrorsByCode returns the open_errors_by_code view for job ("" for
// every job), the most widespread codes first.
func (s *Store) OpenErrorsByCode(ctx context.Context, job string) ([]CodeCount, error) {
	rows, err := s.db.QueryContext(ctx, s.audit().openErrorsByCode, job)
	if err != nil {
		return nil, fmt.Errorf("state: open errors by code: %w", err)
	}
	defer rows.Close()
	var cs []CodeCount
	for rows.Next() {
		var c CodeCount
		if err := rows.Scan(&c.Job, &c.Stream, &c.Stage, &c.Code, &c.Records, &c.Errors, &c.Runs, &c.FirstSeen, &c.LastSeen, &c.ExampleExternalID); err != nil {
			return nil, fmt.Errorf("state: open errors by code: %w", err)
		}
		c.FirstSeen, c.LastSeen = c.FirstSeen.UTC(), c.LastSeen.UTC()
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: open errors by code: %w", err)
	}
	return cs, nil
}

const openErrorsByCode = `SELECT job, stream, stage, code, records, errors, runs, first_seen, last_seen, coalesce(example_external_id, '')
FROM {s}.open_errors_by_code
WHERE $1 = '' OR job = $1
ORDER BY records DESC, job, stream, stage, code`

// A DailyCount is one row of the daily_counts view: the sums of the counts
// of the runs of one job and kind, dry runs apart, that started on one UTC
// day.
type DailyCount struct {
	Day       time.Time // midnight UTC
	Job, Kind string
	DryRun    bool // the runs are dry runs: Sent, Added and Updated are 0, WouldSend counts
	Runs      int64
	Counts
	Updated   int64 // Sent - Added
	WouldSend int64 // records the dry runs would have sent
}

// DailyCounts returns the daily_counts view for job ("" for every job)
// from the day of since (zero: from the first day), oldest first.
func (s *Store) DailyCounts(ctx context.Context, job string, since time.Time) ([]DailyCount, error) {
	rows, err := s.db.QueryContext(ctx, s.audit().dailyCounts, job, nullTime(since))
	if err != nil {
		return nil, fmt.Errorf("state: daily counts: %w", err)
	}
	defer rows.Close()
	var ds []DailyCount
	for rows.Next() {
		var (
			d   DailyCount
			day string
		)
		if err := rows.Scan(&day, &d.Job, &d.Kind, &d.DryRun, &d.Runs, &d.Extracted, &d.Retried, &d.Sent, &d.Added, &d.Updated, &d.WouldSend,
			&d.Skipped, &d.Invalid, &d.Rejected, &d.Warnings, &d.Resolved); err != nil {
			return nil, fmt.Errorf("state: daily counts: %w", err)
		}
		if d.Day, err = time.Parse("2006-01-02", day); err != nil {
			return nil, fmt.Errorf("state: daily counts: day %q: %w", day, err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("state: daily counts: %w", err)
	}
	return ds, nil
}

const dailyCounts = `SELECT to_char(day, 'YYYY-MM-DD'), job, kind, dry_run, runs, extracted, retried, sent, added, updated, would_send,
	skipped, invalid, rejected, warnings, resolved
FROM {s}.daily_counts
WHERE ($1 = '' OR job = $1) AND ($2::timestamptz IS NULL OR day >= ($2::timestamptz AT TIME ZONE 'UTC')::date)
ORDER BY day, job, kind, dry_run`

// A CustomerSync is one row of the customer_last_sync view: where one job
// stands with one customer.
type CustomerSync struct {
	Job                 string
	LastAcceptedAt      time.Time
	LastAcceptedRunID   int64 // 0 once that run is gone
	Hash                []byte
	CustomerID          string     // "" when unknown
	LastSentAt          *time.Time // nil once pruned
	LastSentRunID       int64
	LastOutcome         string
	LastDisableRiskScan *bool
	OpenErrors          int64
}

// A CustomerEvent is what one run did with one record: sent it (Outcome
// is an Outcome constant), or refused it before sending (Outcome is the
// stage of its record error: transform, dependency or extract).
type CustomerEvent struct {
	RunID           int64
	Job, Kind       string // the run's job and kind
	RunStatus       string
	Stream          string
	At              time.Time
	Outcome         string
	SourceKey       string
	Warnings        int
	CustomerID      string
	DisableRiskScan *bool  // nil when the record was not sent
	Hash            []byte // of what was sent; nil when not sent
	Problems        []Problem
	Payload         json.RawMessage // as sent (when stored) or as it would have been; nil for none

	// For a relation: its id and its customers.
	RelationExternalID, ParentExternalID, ChildExternalID string
}

// A Problem is one record error of a CustomerEvent.
type Problem struct {
	Stage, Severity, Code, Field, Message string
	Open                                  bool // an error not yet resolved
}

// A CustomerReport is everything the state holds about one customer: where
// each job stands with it, every run that sent it or refused it, and the
// relations that name it.
type CustomerReport struct {
	ExternalID string
	Sync       []CustomerSync  // one per job that has had it accepted
	Events     []CustomerEvent // oldest first
	Relations  []CustomerEvent // sends of relations naming it, oldest first
}

// CustomerReport returns the report of the customer with the given
// external id. Runs that found the customer unchanged do not appear: they
// did not send it. It reads only index entries of this customer (see
// TestReportQueriesUseIndexes).
func (s *Store) CustomerReport(ctx context.Context, externalID string) (*CustomerReport, error) {
	rep := &CustomerReport{ExternalID: externalID}
	fail := func(what string, err error) (*CustomerReport, error) {
		return nil, fmt.Errorf("state: report of customer %q: %s: %w", externalID, what, err)
	}
	q := s.audit()

	rows, err := s.db.QueryContext(ctx, q.customerSync, externalID)
	if err != nil {
		return fail("last sync", err)
	}
	for rows.Next() {
		var (
			c     CustomerSync
			runID sql.NullInt64
		)
		if err := rows.Scan(&c.Job, &c.LastAcceptedAt, &runID, &c.Hash, &c.CustomerID, &c.LastSentAt, &c.LastSentRunID,
			&c.LastOutcome, &c.LastDisableRiskScan, &c.OpenErrors); err != nil {
			rows.Close()
			return fail("last sync", err)
		}
		c.LastAcceptedRunID, c.LastAcceptedAt, c.LastSentAt = runID.Int64, c.LastAcceptedAt.UTC(), utc(c.LastSentAt)
		rep.Sync = append(rep.Sync, c)
	}
	if err := closeRows(rows); err != nil {
		return fail("last sync", err)
	}

	if rep.Events, err = s.historyEvents(ctx, q.customerHistory, externalID); err != nil {
		return fail("history", err)
	}
	if rep.Relations, err = s.historyEvents(ctx, q.customerRelations, externalID); err != nil {
		return fail("relations", err)
	}

	// The API's problems and the transform's warnings (an invalid field
	// left out of the record sent) attach to the send they are about; the
	// other problems are events of their own.
	rows, err = s.db.QueryContext(ctx, q.customerErrors, externalID)
	if err != nil {
		return fail("record errors", err)
	}
	for rows.Next() {
		var (
			e                 CustomerEvent
			p                 Problem
			payload           []byte
			at                time.Time
			sourceKey         string
			stream, runStatus string
		)
		if err := rows.Scan(&e.RunID, &e.Job, &e.Kind, &runStatus, &stream, &at, &sourceKey, &p.Stage, &p.Severity, &p.Code,
			&p.Field, &p.Message, &p.Open, &payload); err != nil {
			rows.Close()
			return fail("record errors", err)
		}
		if p.Stage == StageAPI || (p.Stage == StageTransform && p.Severity == SeverityWarning) {
			if i := sentEvent(rep.Events, e.RunID, stream, at, p.Severity); i >= 0 {
				rep.Events[i].Problems = append(rep.Events[i].Problems, p)
				continue
			}
		}
		e.RunStatus, e.Stream, e.At, e.SourceKey, e.Outcome = runStatus, stream, at.UTC(), sourceKey, p.Stage
		e.Problems = []Problem{p}
		if payload != nil {
			e.Payload = json.RawMessage(payload)
		}
		// Several problems of one row in one run and stage are one event.
		if n := len(rep.Events); n > 0 {
			last := &rep.Events[n-1]
			if last.RunID == e.RunID && last.Outcome == e.Outcome && last.Hash == nil && last.At.Equal(e.At) {
				last.Problems = append(last.Problems, p)
				continue
			}
		}
		rep.Events = append(rep.Events, e)
	}
	if err := closeRows(rows); err != nil {
		return fail("record errors", err)
	}
	sort.SliceStable(rep.Events, func(i, j int) bool {
		a, b := &rep.Events[i], &rep.Events[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		// A chunk's state is one transaction, so its problems and its
		// sends bear one instant: the problems were found first.
		return a.Hash == nil && b.Hash != nil
	})
	return rep, nil
}

// sentEvent returns the index of the send in events that an API problem
// recorded at at is about: of the sends of the run and stream that were
// refused (for an error) or accepted (for a warning), the one recorded
// closest to at; -1 if none. A run may send a record twice: in its window,
// and again when it retries the record's open error.
func sentEvent(events []CustomerEvent, runID int64, stream string, at time.Time, severity string) int {
	best, bestGap := -1, time.Duration(0)
	for i, e := range events {
		if e.RunID != runID || e.Stream != stream || e.Hash == nil || (severity == SeverityError) != (e.Outcome == OutcomeError) {
			continue
		}
		gap := e.At.Sub(at)
		if gap < 0 {
			gap = -gap
		}
		if best < 0 || gap < bestGap {
			best, bestGap = i, gap
		}
	}
	return best
}

// historyEvents reads the rows of record_history that query selects.
func (s *Store) historyEvents(ctx context.Context, query, externalID string) ([]CustomerEvent, error) {
	rows, err := s.db.QueryContext(ctx, query, externalID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var events []CustomerEvent
	for rows.Next() {
		var (
			e       CustomerEvent
			payload []byte
			risk    bool
		)
		if err := rows.Scan(&e.RunID, &e.Job, &e.Kind, &e.RunStatus, &e.Stream, &e.At, &e.SourceKey, &e.Outcome, &e.Warnings,
			&e.CustomerID, &risk, &e.Hash, &payload, &e.RelationExternalID, &e.ParentExternalID, &e.ChildExternalID); err != nil {
			return nil, err
		}
		e.At, e.DisableRiskScan = e.At.UTC(), &risk
		if payload != nil {
			e.Payload = json.RawMessage(payload)
		}
		events = append(events, e)
	}
	return events, rows.Err()
}

// knownJobs limits a query on record_errors or sent_records, whose indexes
// lead with the job, to the jobs that have runs: a handful, read from the
// small runs table.
const knownJobs = `ARRAY(SELECT DISTINCT job FROM {s}.runs)`

const customerSync = `SELECT job, last_accepted_at, last_accepted_run_id, last_accepted_hash, coalesce(customer_id, ''),
	last_sent_at, coalesce(last_sent_run_id, 0), coalesce(last_outcome, ''), last_disable_risk_scan, open_errors
FROM {s}.customer_last_sync
WHERE job = ANY (` + knownJobs + `) AND external_id = $1
ORDER BY job`

const historyColumns = `h.run_id, h.job, r.kind, r.status, h.stream, h.created_at, coalesce(h.source_key, ''), h.outcome, h.warnings,
	coalesce(h.customer_id, ''), h.disable_risk_scan, h.hash, h.payload`

const customerHistory = `SELECT ` + historyColumns + `, '', '', ''
FROM {s}.record_history AS h
JOIN {s}.runs AS r ON r.id = h.run_id
WHERE h.external_id = $1 AND h.stream = 'customers'
ORDER BY h.created_at, h.id`

const customerRelations = `SELECT ` + historyColumns + `, h.external_id, h.parent_external_id, h.child_external_id
FROM {s}.record_history AS h
JOIN {s}.runs AS r ON r.id = h.run_id
WHERE (h.parent_external_id = $1 OR h.child_external_id = $1) AND h.stream = 'relations'
ORDER BY h.created_at, h.id`

// customerErrors lists the record errors of a customer, each in the run
// that recorded it and in the runs that met it again.
const customerErrors = `SELECT x.run_id, e.job, r.kind, r.status, e.stream, x.at, coalesce(e.source_key, ''),
	e.stage, e.severity, e.code, coalesce(e.field, ''), e.message, e.severity = 'error' AND e.resolved_at IS NULL, e.payload
FROM {s}.record_errors AS e
CROSS JOIN LATERAL (
	SELECT e.run_id, e.created_at AS at
	UNION ALL
	SELECT m.run_id, m.seen_at FROM {s}.record_error_runs AS m WHERE m.error_id = e.id
) AS x
JOIN {s}.runs AS r ON r.id = x.run_id
WHERE e.job = ANY (` + knownJobs + `) AND e.external_id = $1 AND e.stream = 'customers'
ORDER BY x.at, e.id`

// closeRows closes rows and returns the error that ended their iteration.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	rows.Close()
	return err
}

// nullTime returns t, or nil (NULL) for the zero time.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// limit returns n as a LIMIT argument: nil (LIMIT ALL) when n <= 0.
func limit(n int) any {
	if n <= 0 {
		return nil
	}
	return n
}

// utc returns t in UTC, or nil.
func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
