package configs

import (
	"log/slog"
	"time"
)

// Defaults of a job's optional keys. DefaultJob gives them all at once.
const (
	DefaultChunkSize         = 500
	DefaultConcurrency       = 4
	DefaultMaxConcurrency    = 16
	DefaultPageSize          = 5000
	DefaultSafetyLag         = 30 * time.Second
	DefaultLookback          = time.Minute
	DefaultRiskScan          = RiskScanAuto
	DefaultRiskScanThreshold = 1000
	DefaultMaxAttempts       = 5
	DefaultMaxRetryTime      = 2 * time.Minute
	DefaultRetryErrorsLimit  = 1000
	DefaultStuckAfter        = 5
	DefaultDrainTimeout      = 30 * time.Second
)

// The values of a job's risk_scan key: when a run asks the API to skip the
// risk scan of what it imports (the request's disable_risk_scan).
const (
	// RiskScanAuto skips the scan when a run's changed rows exceed
	// Job.RiskScanThreshold, or the run is a backfill: a big import is fast
	// and its risk comes with the tenant's next ongoing scan (usually
	// overnight); a small one is scanned at once.
	RiskScanAuto = "auto"
	// RiskScanOn always scans during the import (disable_risk_scan false).
	// The API may still force the scan off for a big import.
	RiskScanOn = "on"
	// RiskScanOff never scans during the import (disable_risk_scan true).
	RiskScanOff = "off"
)

// Job is one named extraction: queries whose rows become Algoreg customers
// and relations, how to page, send and retry them, and when to run.
//
// Load and Parse fill in every default; a program or test that builds a Job
// in code starts from DefaultJob, since some zero values (MaxAttempts,
// StuckAfter) are not usable.
type Job struct {
	Name           string // key name: unique, [a-z0-9_-]+
	CustomersQuery string // key customers_query: the query file's path, resolved against the config file's folder
	CustomersSQL   string // the text of that file, read by Load or Parse

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
	RiskScanThreshold int    // key risk_scan_threshold: with RiskScanAuto, the changed rows above which a run skips the scan; 0 or more

	MaxAttempts  int           // key max_attempts: attempts per API call, the first included, 1..100
	MaxRetryTime time.Duration // key max_retry_time: the bound on the time spent retrying one chunk; more than 0
	// RetryErrorsLimit is key retry_errors_limit: per run, how many rows
	// with open record errors are read again and retried; 0 or more.
	RetryErrorsLimit int
	// StuckAfter is key stuck_after: a row that failed this many times is
	// reported as stuck and no longer retried automatically; 1 or more.
	StuckAfter int
	// DrainTimeout is key drain_timeout: on SIGINT or SIGTERM, how long the
	// calls in flight may take to finish before they are abandoned.
	DrainTimeout time.Duration

	Schedule string         // key schedule: a 5-field cron expression; "" when the job only runs on demand
	Timezone *time.Location // key timezone: the zone Schedule is read in; UTC when not given
}

// DefaultJob returns a job named name with every optional key at its
// default, as Load and Parse give it when the file sets nothing else. It has
// no query: set CustomersSQL (and RelationsSQL with RelationTypes for
// relations) before running it.
func DefaultJob(name string) Job {
	return Job{
		Name:              name,
		ChunkSize:         DefaultChunkSize,
		Concurrency:       DefaultConcurrency,
		MaxConcurrency:    DefaultMaxConcurrency,
		PageSize:          DefaultPageSize,
		SafetyLag:         DefaultSafetyLag,
		Lookback:          DefaultLookback,
		CursorTimezone:    time.UTC,
		RiskScan:          DefaultRiskScan,
		RiskScanThreshold: DefaultRiskScanThreshold,
		MaxAttempts:       DefaultMaxAttempts,
		MaxRetryTime:      DefaultMaxRetryTime,
		RetryErrorsLimit:  DefaultRetryErrorsLimit,
		StuckAfter:        DefaultStuckAfter,
		DrainTimeout:      DefaultDrainTimeout,
		Timezone:          time.UTC,
	}
}

// LogValue gives the job's settings to log/slog, without its query texts.
func (j Job) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", j.Name),
		slog.String("customers_query", j.CustomersQuery),
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
		slog.Duration("drain_timeout", j.DrainTimeout),
	)
	if j.Schedule != "" {
		attrs = append(attrs, slog.String("schedule", j.Schedule), slog.String("timezone", locationName(j.Timezone)))
	}
	return slog.GroupValue(attrs...)
}

func locationName(l *time.Location) string {
	if l == nil {
		return "UTC"
	}
	return l.String()
}
