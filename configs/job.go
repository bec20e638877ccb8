package configs

import (
	"log/slog"
	"time"
)

// Defaults of a job's optional keys. DefaultJob gives them all at once.
const (
	DefaultChunkSize          = 500
	DefaultConcurrency        = 4
	DefaultMaxConcurrency     = 16
	DefaultPageSize           = 5000
	DefaultSafetyLag          = 30 * time.Second
	DefaultLookback           = time.Minute
	DefaultRiskScan           = RiskScanAuto
	DefaultRiskScanThreshold  = 1000
	DefaultMaxAttempts        = 0 // no bound but MaxRetryTime
	DefaultMaxRetryTime       = 2 * time.Minute
	DefaultRetryErrorsLimit   = 1000
	DefaultStuckAfter         = 5
	DefaultDrainTimeout       = 30 * time.Second
	DefaultOnMissing          = OnMissingReport
	DefaultExitOnErrors       = ExitOnNewErrors
	DefaultMaxDisableFraction = 0.05
	DefaultIncremental        = IncrementalCursor
)

// The values of a job's incremental key: how a run finds what changed in
// the source.
const (
	// IncrementalCursor reads the rows changed since the job's watermark,
	// in (cursor_updated_at, cursor_key) order: the queries select both
	// cursor columns. The default.
	IncrementalCursor = "cursor"
	// IncrementalDiff is for tables without a trustworthy updated_at: the
	// queries select cursor_key (a unique key of the rows) and no
	// cursor_updated_at, and every run reads them whole, in cursor_key
	// order, and compares each record with what the API last accepted,
	// sending the new and changed ones and dealing with the missing ones
	// by OnMissing, as a reconcile does. Such a job has no watermark.
	IncrementalDiff = "diff"
)

// The values of a job's on_missing key: what a reconcile does with a record
// the API accepted and the source no longer has (a hard delete).
const (
	// OnMissingReport records it as a warning, deleted_in_source, and sends
	// nothing: the default, so that a wrong query disables nobody.
	OnMissingReport = "report"
	// OnMissingDisable sends it once with disabled: true (the contract has
	// no delete), within MaxDisableFraction.
	OnMissingDisable = "disable"
)

// The values of a job's exit_on_errors key: when a run that finished with
// record errors exits with code 5 (rather than 0). Its status is partial
// either way, and the errors are in record_errors.
const (
	// ExitOnNewErrors exits 5 only when the run recorded a new error: one
	// for a source row and reason (code) with no open error before the
	// run, still open at its end. The default: rows that failed before and
	// fail again unchanged are known already (report errors --open shows
	// them), and an alert that fires every night for them trains people to
	// ignore it.
	ExitOnNewErrors = "new"
	// ExitOnAnyErrors exits 5 whenever the run ends partial: any row of
	// the run invalid or refused, or stuck rows left.
	ExitOnAnyErrors = "any"
	// ExitOnErrorsNever exits 0 whenever the run finishes, partial or not.
	ExitOnErrorsNever = "never"
)

// The values of a job's risk_scan key: when a run asks the API to skip the
// risk scan of what it imports (the request's disable_risk_scan).
const (
	// RiskScanAuto skips the scan when a run will send more records (valid,
	// and new or changed since last accepted) than Job.RiskScanThreshold,
	// or the run is a backfill or a reconcile: a big import is fast
	// and its risk comes with the tenant's next ongoing scan (usually
	// overnight); a small one is scanned at once.
	RiskScanAuto = "auto"
	// RiskScanOn always scans during the import (disable_risk_scan false).
	// The API may still force the scan off for a big import.
	RiskScanOn = "on"
	// RiskScanOff never scans during the import (disable_risk_scan true).
	RiskScanOff = "off"
)

// DefaultHistoryDays is the default of a job's history_days key: 400 days,
// a year and five weeks, so that the year an annual audit looks at is still
// whole when the audit takes place some weeks after it ends. Regulations
// that ask for longer (AML record keeping is often five years) are met by
// setting the key, e.g. to 1830.
const DefaultHistoryDays = 400

// Job is one named extraction: queries whose rows become Algoreg customers
// and relations, how to page, send and retry them, and when to run.
//
// Load and Parse fill in every default; a program or test that builds a Job
// in code starts from DefaultJob, since some zero values (MaxRetryTime,
// StuckAfter) are not usable.
type Job struct {
	Name           string // key name: unique, [a-z0-9_-]+
	CustomersQuery string // key customers_query: the query file's path, resolved against the config file's folder
	CustomersSQL   string // the text of that file, read by Load or Parse
	// Incremental is key incremental: IncrementalCursor (the default) or
	// IncrementalDiff. With IncrementalDiff, SafetyLag, Lookback,
	// CursorTimezone and ReconcileSchedule must not be set in the file.
	Incremental string

	// RelationsQuery is key relations_query: the path of the file whose
	// rows become relations between customers, resolved like
	// CustomersQuery; "" when the job sends no relations.
	RelationsQuery string
	RelationsSQL   string // the text of that file, read by Load or Parse; "" without RelationsQuery
	// RelationTypes is key relation_types: the relation_type values of the
	// relations query, mapped to the tenant's RelationsTypes integers
	// (each 1 or more). Set, and not empty, exactly when RelationsQuery is.
	RelationTypes map[string]int64
	// AccountTypes is key account_types: the account_type values of the
	// customers query, mapped to "F" (firm) or "N" (individual). Nil when
	// not given: the query must then select F or N itself.
	AccountTypes map[string]string
	// Countries is key countries: the source's own spellings of countries
	// in nationality_codes and domicile_codes (matched without regard to
	// case or surrounding blanks), mapped to ISO 3166-1 codes, or to "" to
	// drop the value. It is tried before the codes and names the pipeline
	// knows (see transform.Options.Countries). Nil when not given.
	Countries map[string]string
	// OnInvalidField is key on_invalid_field: for each of OptionalFields,
	// what a run does with a customer whose value of it is invalid (a date
	// of birth in the future, an unassigned country code, ...):
	// InvalidFieldDrop sends the customer without the field and records a
	// warning, InvalidFieldReject records an error and sends nothing. Every
	// optional field is present; the default is InvalidFieldDrop for each,
	// since a customer left out of screening is worse than one screened
	// without, say, a date of birth. An invalid value of any other field
	// always rejects the row.
	OnInvalidField map[string]string

	ChunkSize int // key chunk_size: customers per API call, 1..10000
	// Concurrency is key concurrency: API calls in flight, 1..64. With
	// "concurrency: auto" it is MaxConcurrency and AdaptiveConcurrency is
	// true.
	Concurrency int
	// AdaptiveConcurrency reports "concurrency: auto": the pipeline adapts
	// the calls in flight to how the API answers, up to Concurrency.
	AdaptiveConcurrency bool
	MaxConcurrency      int     // key max_concurrency: the ceiling of "concurrency: auto", 1..256
	RateLimit           float64 // key rate_limit: API calls per second, 0 for no limit
	PageSize            int     // key page_size: rows per source query, 1..1000000

	SafetyLag time.Duration // key safety_lag: a window closes this long before now, so late commits are not missed
	// Lookback is key lookback: each run re-reads this margin below the
	// watermark, to catch rows committed late with an older updated_at;
	// rows that did not change are skipped without an API call.
	Lookback       time.Duration
	CursorTimezone *time.Location // key cursor_timezone: the zone of a cursor column that is "timestamp without time zone"; UTC when not given

	RiskScan          string // key risk_scan: RiskScanAuto, RiskScanOn or RiskScanOff
	RiskScanThreshold int    // key risk_scan_threshold: with RiskScanAuto, the records to send above which a run skips the scan; 0 or more

	// MaxAttempts is key max_attempts: if positive, the most attempts per
	// API call, the first included; 0 (the default) bounds them by
	// MaxRetryTime alone.
	MaxAttempts int
	// MaxRetryTime is key max_retry_time: how long one API call is
	// retried, waits included, before the run fails; more than 0.
	MaxRetryTime time.Duration
	// RetryErrorsLimit is key retry_errors_limit: per run, how many rows
	// with open record errors are read again and retried; 0 or more.
	RetryErrorsLimit int
	// StuckAfter is key stuck_after: a row that failed this many attempts
	// is reported as stuck and no longer retried automatically; 1 or more.
	// An attempt counts only when the row's content or the reason it fails
	// changed: reading an unchanged row again and meeting the same reason
	// is not one.
	StuckAfter int
	// DrainTimeout is key drain_timeout: on SIGINT or SIGTERM, how long the
	// calls in flight may take to finish before they are abandoned.
	DrainTimeout time.Duration
	// ExitOnErrors is key exit_on_errors: when a run that finished with
	// record errors exits with code 5: ExitOnNewErrors (the default),
	// ExitOnAnyErrors or ExitOnErrorsNever.
	ExitOnErrors string

	// HistoryDays is key history_days: `algoreg-etl prune` deletes the
	// record history of runs older than this many days; 0 keeps it
	// forever. Default DefaultHistoryDays.
	HistoryDays int
	// StorePayloads is key store_payloads: keep, in the record history,
	// each record exactly as sent. It holds personal data; default false
	// (the history keeps a content hash).
	StorePayloads bool

	Schedule string         // key schedule: a 5-field cron expression; "" when the job only runs on demand
	Timezone *time.Location // key timezone: the zone Schedule is read in; UTC when not given

	// ReconcileSchedule is key reconcile_schedule: when serve runs a
	// reconcile of the job (a cron expression read in Timezone); "" for
	// never, and always with IncrementalDiff.
	ReconcileSchedule string
	// OnMissing is key on_missing: OnMissingReport (the default) or
	// OnMissingDisable; what a reconcile, and every run of a job with
	// IncrementalDiff, does with a record missing from the source.
	OnMissing string
	// MaxDisableFraction is key max_disable_fraction: a reconcile (or a
	// run of a job with IncrementalDiff) that finds more than this
	// fraction of the records the API accepted missing from the source
	// disables none of them and fails. 0..1, default 0.05.
	MaxDisableFraction float64
}

// The values of a job's on_invalid_field entries.
const (
	InvalidFieldDrop   = "drop"   // send the customer without the field, with a recorded warning
	InvalidFieldReject = "reject" // record an error; send nothing
)

// DropInvalid returns the optional fields whose invalid value the job
// leaves out of a customer sent anyway (on_invalid_field: drop), as
// transform.Options.Drop takes them.
func (j *Job) DropInvalid() map[string]bool {
	drop := make(map[string]bool)
	for f, policy := range j.OnInvalidField {
		if policy == InvalidFieldDrop {
			drop[f] = true
		}
	}
	return drop
}

// OptionalFields are the customer fields that on_invalid_field names: those
// whose invalid value may be left out of a customer sent anyway. The
// pipeline's tests check that they are the transform package's.
var OptionalFields = []string{
	"date_of_birth", "nationality_codes", "domicile_codes", "alias_ids", "registration_number",
	"phone", "comment", "kyc_level", "kyc_level_requested", "fields",
}

// defaultOnInvalidField returns the default of Job.OnInvalidField: drop
// every optional field's invalid value.
func defaultOnInvalidField() map[string]string {
	m := make(map[string]string, len(OptionalFields))
	for _, f := range OptionalFields {
		m[f] = InvalidFieldDrop
	}
	return m
}

// DefaultJob returns a job named name with every optional key at its
// default, as Load and Parse give it when the file sets nothing else. It has
// no query: set CustomersSQL (and RelationsSQL with RelationTypes for
// relations) before running it.
func DefaultJob(name string) Job {
	return Job{
		Name:               name,
		Incremental:        DefaultIncremental,
		ChunkSize:          DefaultChunkSize,
		Concurrency:        DefaultConcurrency,
		MaxConcurrency:     DefaultMaxConcurrency,
		PageSize:           DefaultPageSize,
		SafetyLag:          DefaultSafetyLag,
		Lookback:           DefaultLookback,
		CursorTimezone:     time.UTC,
		RiskScan:           DefaultRiskScan,
		RiskScanThreshold:  DefaultRiskScanThreshold,
		MaxAttempts:        DefaultMaxAttempts,
		MaxRetryTime:       DefaultMaxRetryTime,
		RetryErrorsLimit:   DefaultRetryErrorsLimit,
		StuckAfter:         DefaultStuckAfter,
		DrainTimeout:       DefaultDrainTimeout,
		ExitOnErrors:       DefaultExitOnErrors,
		HistoryDays:        DefaultHistoryDays,
		OnInvalidField:     defaultOnInvalidField(),
		OnMissing:          DefaultOnMissing,
		MaxDisableFraction: DefaultMaxDisableFraction,
		Timezone:           time.UTC,
	}
}

// Diff reports whether the job is incremental: diff.
func (j *Job) Diff() bool { return j.Incremental == IncrementalDiff }

// LogValue gives the job's settings to log/slog, without its query texts.
func (j Job) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", j.Name),
		slog.String("customers_query", j.CustomersQuery),
		slog.String("incremental", j.Incremental),
	}
	if j.RelationsQuery != "" {
		attrs = append(attrs, slog.String("relations_query", j.RelationsQuery))
	}
	if len(j.RelationTypes) > 0 {
		attrs = append(attrs, slog.Any("relation_types", j.RelationTypes))
	}
	if len(j.AccountTypes) > 0 {
		attrs = append(attrs, slog.Any("account_types", j.AccountTypes))
	}
	if len(j.Countries) > 0 {
		attrs = append(attrs, slog.Any("countries", j.Countries))
	}
	attrs = append(attrs, slog.Any("on_invalid_field", j.OnInvalidField))
	attrs = append(attrs,
		slog.Int("chunk_size", j.ChunkSize),
		slog.Int("concurrency", j.Concurrency),
		slog.Bool("adaptive_concurrency", j.AdaptiveConcurrency),
		slog.Int("max_concurrency", j.MaxConcurrency),
		slog.Float64("rate_limit", j.RateLimit),
		slog.Int("page_size", j.PageSize),
		slog.Duration("safety_lag", j.SafetyLag),
		slog.Duration("lookback", j.Lookback),
		slog.String("cursor_timezone", locationName(j.CursorTimezone)),
		slog.String("risk_scan", j.RiskScan),
		slog.Int("risk_scan_threshold", j.RiskScanThreshold),
		slog.Int("max_attempts", j.MaxAttempts),
		slog.Duration("max_retry_time", j.MaxRetryTime),
		slog.Int("retry_errors_limit", j.RetryErrorsLimit),
		slog.Int("stuck_after", j.StuckAfter),
		slog.String("exit_on_errors", j.ExitOnErrors),
		slog.Duration("drain_timeout", j.DrainTimeout),
		slog.Int("history_days", j.HistoryDays),
		slog.Bool("store_payloads", j.StorePayloads),
	)
	if j.Schedule != "" {
		attrs = append(attrs, slog.String("schedule", j.Schedule), slog.String("timezone", locationName(j.Timezone)))
	}
	if j.ReconcileSchedule != "" {
		attrs = append(attrs, slog.String("reconcile_schedule", j.ReconcileSchedule))
	}
	attrs = append(attrs, slog.String("on_missing", j.OnMissing), slog.Float64("max_disable_fraction", j.MaxDisableFraction))
	return slog.GroupValue(attrs...)
}

func locationName(l *time.Location) string {
	if l == nil {
		return "UTC"
	}
	return l.String()
}
