package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Limits of the job settings.
const (
	maxChunkSize      = 10000
	maxConcurrency    = 64
	maxMaxConcurrency = 256
	maxPageSize       = 1000000
)

// checkJob checks the i-th job and fills in its defaults.
func checkJob(p *problems, e *jobEntry, i int, dir string) Job {
	label, line := fmt.Sprintf("#%d", i+1), e.at.line
	j := DefaultJob("")
	if fieldOK(p, &e.Name, label, "name") && e.Name.val != "" {
		if jobName.MatchString(e.Name.val) {
			j.Name, label = e.Name.val, e.Name.val
		} else {
			p.add(e.Name.line, label, "name", "%q: use lower-case letters, digits, '_' and '-'", e.Name.val)
		}
	} else if e.Name.bad == "" {
		p.add(line, label, "name", "is required")
	}
	// Shape problems come after the name, so that they can carry it.
	sectionProblems(p, &e.at, label, "")

	// Queries and their value mappings.
	j.CustomersQuery, j.CustomersSQL = readQuery(p, &e.CustomersQuery, label, "customers_query", dir)
	if cq := &e.CustomersQuery; !(cq.ok() && cq.val != "") && cq.bad == "" {
		p.add(line, label, "customers_query", "is required: the path of the SQL file that selects the customers")
	}
	if f := &e.Incremental; fieldOK(p, f, label, "incremental") {
		switch f.val {
		case IncrementalCursor, IncrementalDiff:
			j.Incremental = f.val
		default:
			p.add(f.line, label, "incremental", "want %q (read what changed since the watermark, by cursor_updated_at) or %q (read the whole query every run and send what differs from what the API last accepted), got %q",
				IncrementalCursor, IncrementalDiff, f.val)
		}
	}
	j.AccountTypes = checkAccountTypes(p, &e.AccountTypes, label)
	j.Countries = checkCountries(p, &e.Countries, label)
	j.OnInvalidField = checkOnInvalidField(p, &e.OnInvalidField, label)
	j.RelationsQuery, j.RelationsSQL = readQuery(p, &e.RelationsQuery, label, "relations_query", dir)
	j.RelationTypes = checkRelationTypes(p, &e.RelationTypes, label)
	rq, rt := &e.RelationsQuery, &e.RelationTypes
	switch relations := rq.ok() && rq.val != ""; {
	case relations && !rt.set:
		p.add(rq.line, label, "relation_types", "is required with relations_query: map each relation_type the query selects to the tenant's integer, e.g. {director: 1}")
	case relations && rt.ok() && len(rt.val) == 0:
		p.add(rt.line, label, "relation_types", "is empty: map each relation_type the query selects to the tenant's integer, e.g. {director: 1}")
	case !relations && rq.bad == "" && rt.set:
		p.add(rt.line, label, "relation_types", "is set but relations_query is not: give the query, or remove relation_types")
		j.RelationTypes = nil
	}

	// Sending.
	j.ChunkSize = checkInt(p, &e.ChunkSize, label, "chunk_size", j.ChunkSize, 1, maxChunkSize)
	j.MaxConcurrency = checkInt(p, &e.MaxConcurrency, label, "max_concurrency", j.MaxConcurrency, 1, maxMaxConcurrency)
	if c := &e.Concurrency; fieldOK(p, c, label, "concurrency") {
		switch {
		case c.val.auto:
			j.Concurrency, j.AdaptiveConcurrency = j.MaxConcurrency, true
		case c.val.n < 1 || c.val.n > maxConcurrency:
			p.add(c.line, label, "concurrency", "must be between 1 and %d, got %d (or \"auto\", to adapt up to max_concurrency)", maxConcurrency, c.val.n)
		default:
			j.Concurrency = c.val.n
		}
	}
	if r := &e.RateLimit; fieldOK(p, r, label, "rate_limit") {
		switch {
		case math.IsNaN(r.val) || math.IsInf(r.val, 0):
			p.add(r.line, label, "rate_limit", "must be a finite number of calls per second, got %g", r.val)
		case r.val < 0:
			p.add(r.line, label, "rate_limit", "must be 0 (no limit) or more, got %g", r.val)
		default:
			j.RateLimit = r.val
		}
	}
	j.MaxAttempts = checkInt(p, &e.MaxAttempts, label, "max_attempts", j.MaxAttempts, 0, math.MaxInt)
	j.MaxRetryTime = checkDuration(p, &e.MaxRetryTime, label, "max_retry_time", j.MaxRetryTime, true)
	j.RetryErrorsLimit = checkInt(p, &e.RetryErrorsLimit, label, "retry_errors_limit", j.RetryErrorsLimit, 0, math.MaxInt)
	j.StuckAfter = checkInt(p, &e.StuckAfter, label, "stuck_after", j.StuckAfter, 1, math.MaxInt)
	j.DrainTimeout = checkDuration(p, &e.DrainTimeout, label, "drain_timeout", j.DrainTimeout, false)
	if s := &e.ExitOnErrors; fieldOK(p, s, label, "exit_on_errors") {
		switch s.val {
		case ExitOnNewErrors, ExitOnAnyErrors, ExitOnErrorsNever:
			j.ExitOnErrors = s.val
		default:
			p.add(s.line, label, "exit_on_errors", "want %q, %q or %q, got %q", ExitOnNewErrors, ExitOnAnyErrors, ExitOnErrorsNever, s.val)
		}
	}
	if s := &e.RiskScan; fieldOK(p, s, label, "risk_scan") {
		switch s.val {
		case RiskScanAuto, RiskScanOn, RiskScanOff:
			j.RiskScan = s.val
		default:
			p.add(s.line, label, "risk_scan", "want %q, %q or %q, got %q", RiskScanAuto, RiskScanOn, RiskScanOff, s.val)
		}
	}
	j.RiskScanThreshold = checkInt(p, &e.RiskScanThreshold, label, "risk_scan_threshold", j.RiskScanThreshold, 0, math.MaxInt)

	// Reading.
	j.PageSize = checkInt(p, &e.PageSize, label, "page_size", j.PageSize, 1, maxPageSize)
	j.SafetyLag = checkDuration(p, &e.SafetyLag, label, "safety_lag", j.SafetyLag, false)
	j.Lookback = checkDuration(p, &e.Lookback, label, "lookback", j.Lookback, false)
	j.CursorTimezone = checkLocation(p, &e.CursorTimezone, label, "cursor_timezone")

	// Audit.
	j.HistoryDays = checkInt(p, &e.HistoryDays, label, "history_days", j.HistoryDays, 0, math.MaxInt)
	if f := &e.StorePayloads; fieldOK(p, f, label, "store_payloads") {
		j.StorePayloads = f.val
	}

	// Schedule.
	j.Timezone = checkLocation(p, &e.Timezone, label, "timezone")
	if s := &e.Schedule; fieldOK(p, s, label, "schedule") && strings.TrimSpace(s.val) != "" {
		j.Schedule = strings.TrimSpace(s.val)
		if err := checkSchedule(j.Schedule, j.Timezone); err != nil {
			p.add(s.line, label, "schedule", "%v", err)
		}
	}

	// Reconciliation.
	if s := &e.ReconcileSchedule; fieldOK(p, s, label, "reconcile_schedule") && strings.TrimSpace(s.val) != "" {
		j.ReconcileSchedule = strings.TrimSpace(s.val)
		if err := checkSchedule(j.ReconcileSchedule, j.Timezone); err != nil {
			p.add(s.line, label, "reconcile_schedule", "%v", err)
		}
	}
	if s := &e.OnMissing; fieldOK(p, s, label, "on_missing") {
		switch s.val {
		case OnMissingReport, OnMissingDisable:
			j.OnMissing = s.val
		default:
			p.add(s.line, label, "on_missing", "want %q or %q, got %q", OnMissingReport, OnMissingDisable, s.val)
		}
	}
	if f := &e.MaxDisableFrac; fieldOK(p, f, label, "max_disable_fraction") {
		if math.IsNaN(f.val) || f.val < 0 || f.val > 1 {
			p.add(f.line, label, "max_disable_fraction", "must be between 0 and 1, got %g", f.val)
		} else {
			j.MaxDisableFraction = f.val
		}
	}
	if j.Diff() {
		diffProblems(p, e, label)
		j.ReconcileSchedule = ""
	}
	return j
}

// diffProblems reports the keys of a job with incremental: diff that mean
// nothing for it: its runs read no window of cursor_updated_at, and each
// of them compares the whole source, as a reconcile does.
func diffProblems(p *problems, e *jobEntry, job string) {
	for _, k := range []struct {
		set  bool
		line int
		key  string
	}{
		{e.SafetyLag.set, e.SafetyLag.line, "safety_lag"},
		{e.Lookback.set, e.Lookback.line, "lookback"},
		{e.CursorTimezone.set, e.CursorTimezone.line, "cursor_timezone"},
	} {
		if k.set {
			p.add(k.line, job, k.key, "means nothing with incremental: diff, whose runs read the whole query, without cursor_updated_at: remove it")
		}
	}
	if f := &e.ReconcileSchedule; f.set {
		p.add(f.line, job, "reconcile_schedule", "every run of a job with incremental: diff compares the whole source as a reconcile does: remove it, and run the job on its schedule")
	}
}

// readQuery reads the SQL file named by f, resolved against dir, and
// returns its path and text; "", "" when f is not given or not readable.
func readQuery(p *problems, f *field[string], job, key, dir string) (path, text string) {
	if !fieldOK(p, f, job, key) || f.val == "" {
		return "", ""
	}
	path = f.val
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		p.add(f.line, job, key, "file %s does not exist", path)
	case err != nil:
		p.add(f.line, job, key, "%v", err)
	case strings.TrimSpace(string(b)) == "":
		p.add(f.line, job, key, "file %s is empty", path)
	default:
		return path, string(b)
	}
	return "", ""
}

// checkRelationTypes checks relation_types: each relation_type of the
// relations query, mapped to one of the tenant's RelationsTypes. The
// contract does not list them: they are integers from 1, set up with
// Algoreg.
func checkRelationTypes(p *problems, f *field[mapping[int64]], job string) map[string]int64 {
	const key = "relation_types"
	if !fieldOK(p, f, job, key) {
		return nil
	}
	m := make(map[string]int64, len(f.val))
	for _, e := range f.val {
		switch {
		case e.bad != "":
			p.add(e.line, job, entryKey(key, e.key), "%s", e.bad)
		case strings.TrimSpace(e.key) == "":
			p.add(e.line, job, key, "a blank relation_type: name a value the relations query selects")
		case e.val < 1:
			p.add(e.line, job, entryKey(key, e.key), "must be 1 or more (one of the tenant's RelationsTypes), got %d", e.val)
		default:
			m[e.key] = e.val
		}
	}
	return m
}

// checkAccountTypes checks account_types: each account_type of the
// customers query, mapped to "F" (firm) or "N" (individual). The pipeline
// matches source values without regard to case or surrounding blanks, so
// two keys that differ only so must not map to different values.
func checkAccountTypes(p *problems, f *field[mapping[string]], job string) map[string]string {
	const key = "account_types"
	if !fieldOK(p, f, job, key) {
		return nil
	}
	if len(f.val) == 0 {
		p.add(f.line, job, key, "is empty: map the customers query's account_type values to F or N, or remove the key to accept only F and N")
		return nil
	}
	m := make(map[string]string, len(f.val))
	first := map[string]mapEntry[string]{} // by folded key
	for _, e := range f.val {
		folded := strings.ToLower(strings.TrimSpace(e.key))
		o, clash := first[folded]
		switch {
		case e.bad != "":
			p.add(e.line, job, entryKey(key, e.key), "%s", e.bad)
		case folded == "":
			p.add(e.line, job, key, "a blank account_type: name a value the customers query selects")
		case e.val != "F" && e.val != "N":
			p.add(e.line, job, entryKey(key, e.key), "want \"F\" (firm) or \"N\" (individual), got %q", e.val)
		case clash && o.val != e.val:
			p.add(e.line, job, entryKey(key, e.key), "maps to %s, but %q (line %d) maps to %s: values are matched without regard to case", e.val, o.key, o.line, o.val)
		default:
			first[folded] = e
			m[e.key] = e.val
		}
	}
	return m
}

// checkCountries checks countries: each spelling of a country the customers
// query may select, mapped to an ISO 3166-1 code (two or three letters, or
// up to three digits), or to "" to drop the value. Whether the code is an
// assigned one is checked by the transform, before any row is read. Keys
// are matched without regard to case or surrounding blanks, so two keys
// that differ only so must not map to different codes.
func checkCountries(p *problems, f *field[mapping[string]], job string) map[string]string {
	const key = "countries"
	if !fieldOK(p, f, job, key) {
		return nil
	}
	m := make(map[string]string, len(f.val))
	first := map[string]mapEntry[string]{} // by folded key
	for _, e := range f.val {
		folded := strings.ToLower(strings.TrimSpace(e.key))
		code := strings.ToUpper(strings.TrimSpace(e.val))
		o, clash := first[folded]
		switch {
		case e.bad != "":
			p.add(e.line, job, entryKey(key, e.key), "%s", e.bad)
		case folded == "":
			p.add(e.line, job, key, "a blank country: name a value the customers query selects")
		case code != "" && !countryCodeShape.MatchString(code):
			p.add(e.line, job, entryKey(key, e.key), "want an ISO 3166-1 code such as \"DE\", \"DEU\" or \"276\" (or \"\" to drop the value), got %q", e.val)
		case clash && strings.ToUpper(strings.TrimSpace(o.val)) != code:
			p.add(e.line, job, entryKey(key, e.key), "maps to %q, but %q (line %d) maps to %q: values are matched without regard to case", e.val, o.key, o.line, o.val)
		default:
			first[folded] = e
			m[e.key] = code
		}
	}
	return m
}

// countryCodeShape is the shape of an ISO 3166-1 code: alpha-2, alpha-3 or
// numeric.
var countryCodeShape = regexp.MustCompile(`^([A-Z]{2,3}|[0-9]{1,3})$`)

// checkOnInvalidField checks on_invalid_field: per optional field, or
// "default" for those not named, InvalidFieldDrop or InvalidFieldReject.
// It returns the policy of every optional field.
func checkOnInvalidField(p *problems, f *field[mapping[string]], job string) map[string]string {
	const key = "on_invalid_field"
	out := defaultOnInvalidField()
	if !fieldOK(p, f, job, key) {
		return out
	}
	known := make(map[string]bool, len(OptionalFields))
	for _, name := range OptionalFields {
		known[name] = true
	}
	named := make(map[string]string)
	for _, e := range f.val {
		switch {
		case e.bad != "":
			p.add(e.line, job, entryKey(key, e.key), "%s", e.bad)
		case e.key != "default" && !known[e.key]:
			p.add(e.line, job, entryKey(key, e.key), "not an optional field: want \"default\" or one of %s (an invalid value of any other field always rejects the row)", strings.Join(OptionalFields, ", "))
		case e.val != InvalidFieldDrop && e.val != InvalidFieldReject:
			p.add(e.line, job, entryKey(key, e.key), "want %q or %q, got %q", InvalidFieldDrop, InvalidFieldReject, e.val)
		default:
			named[e.key] = e.val
		}
	}
	if d, ok := named["default"]; ok {
		for name := range out {
			out[name] = d
		}
	}
	for name, v := range named {
		if name != "default" {
			out[name] = v
		}
	}
	return out
}

// entryKey names the entry k of mapping key for messages.
func entryKey(key, k string) string {
	if k == "" {
		return key
	}
	return key + "." + k
}

// checkInt returns f's value, or def when not given, checking it is in
// [lo, hi]; hi is math.MaxInt for no upper limit.
func checkInt(p *problems, f *field[int], job, key string, def, lo, hi int) int {
	if !fieldOK(p, f, job, key) {
		return def
	}
	switch {
	case hi == math.MaxInt && f.val < lo:
		p.add(f.line, job, key, "must be %d or more, got %d", lo, f.val)
	case f.val < lo || f.val > hi:
		p.add(f.line, job, key, "must be between %d and %d, got %d", lo, hi, f.val)
	}
	return f.val
}

// checkDuration returns f's value, or def when not given, checking it is
// not negative, or more than 0 when positive is set.
func checkDuration(p *problems, f *field[duration], job, key string, def time.Duration, positive bool) time.Duration {
	if !fieldOK(p, f, job, key) {
		return def
	}
	d := time.Duration(f.val)
	switch {
	case positive && d <= 0:
		p.add(f.line, job, key, "must be more than 0, got %s", d)
	case d < 0:
		p.add(f.line, job, key, "must not be negative, got %s", d)
	}
	return d
}

// checkLocation loads the time zone named by f, UTC when not given.
func checkLocation(p *problems, f *field[string], job, key string) *time.Location {
	if !fieldOK(p, f, job, key) || f.val == "" {
		return time.UTC
	}
	if f.val == "Local" {
		p.add(f.line, job, key, "name a zone such as \"Europe/Zurich\" or \"UTC\": \"Local\" depends on the machine")
		return time.UTC
	}
	loc, err := time.LoadLocation(f.val)
	if err != nil {
		p.add(f.line, job, key, "unknown time zone %q: use an IANA name such as \"Europe/Zurich\" or \"UTC\"", f.val)
		return time.UTC
	}
	return loc
}

// checkSchedule checks a cron expression as gocron v2's CronJob(s, false)
// reads it: five fields, or a descriptor such as "@daily", in zone loc.
func checkSchedule(s string, loc *time.Location) error {
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return errors.New("give the time zone with the timezone key, not in the expression")
	}
	sched, err := cron.ParseStandard("CRON_TZ=" + loc.String() + " " + s)
	if err != nil {
		return fmt.Errorf("invalid cron expression %q: %v (want 5 fields: minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\")", s, err)
	}
	if sched.Next(time.Now()).IsZero() {
		return fmt.Errorf("cron expression %q never fires", s)
	}
	return nil
}
