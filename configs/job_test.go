package configs_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
)

// TestJobKeys: each key, given a value, sets its Job field to it, and leaves
// the others at their defaults.
func TestJobKeys(t *testing.T) {
	tests := []struct {
		name  string
		lines string // added to base's job
		got   func(j *configs.Job) any
		want  any
	}{
		{"relations_query", "    relations_query: q.sql\n    relation_types: {director: 1}\n",
			func(j *configs.Job) any { return j.RelationsSQL }, "SELECT 1"},
		{"relation_types", "    relations_query: q.sql\n    relation_types:\n      director: 1\n      shareholder: 2\n      Beneficial Owner: 17\n",
			func(j *configs.Job) any { return fmt.Sprint(j.RelationTypes) }, "map[Beneficial Owner:17 director:1 shareholder:2]"},
		{"account_types", "    account_types:\n      person: N\n      company: F\n      \"1\": N\n",
			func(j *configs.Job) any { return fmt.Sprint(j.AccountTypes) }, "map[1:N company:F person:N]"},
		{"account_types, one value in two cases", "    account_types: {person: N, PERSON: N}\n",
			func(j *configs.Job) any { return fmt.Sprint(j.AccountTypes) }, "map[PERSON:N person:N]"},
		{"countries", "    countries:\n      Kazakstan: KZ\n      Deutschland: deu\n      Norge: NO\n      Österreich: 040\n      unknown: \"\"\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Countries) }, "map[Deutschland:DEU Kazakstan:KZ Norge:NO unknown: Österreich:040]"},
		{"countries, one value in two cases", "    countries: {UK: GB, uk: gb}\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Countries) }, "map[UK:GB uk:GB]"},
		{"on_invalid_field default", "",
			func(j *configs.Job) any {
				return fmt.Sprintln(len(j.OnInvalidField), j.OnInvalidField["date_of_birth"], j.OnInvalidField["fields"])
			}, "10 drop drop\n"},
		{"on_invalid_field one field", "    on_invalid_field: {date_of_birth: reject}\n",
			func(j *configs.Job) any {
				return fmt.Sprintln(j.OnInvalidField["date_of_birth"], j.OnInvalidField["phone"])
			}, "reject drop\n"},
		{"on_invalid_field default and one field", "    on_invalid_field:\n      default: reject\n      date_of_birth: drop\n",
			func(j *configs.Job) any {
				return fmt.Sprintln(j.OnInvalidField["date_of_birth"], j.OnInvalidField["phone"])
			}, "drop reject\n"},
		{"incremental diff", "    incremental: diff\n    on_missing: disable\n",
			func(j *configs.Job) any { return fmt.Sprintln(j.Incremental, j.Diff(), j.OnMissing) }, "diff true disable\n"},
		{"incremental default", "",
			func(j *configs.Job) any { return fmt.Sprintln(j.Incremental, j.Diff()) }, "cursor false\n"},
		{"lookback", "    lookback: 10m\n",
			func(j *configs.Job) any { return j.Lookback }, 10 * time.Minute},
		{"lookback 0", "    lookback: 0s\n",
			func(j *configs.Job) any { return j.Lookback }, time.Duration(0)},
		{"risk_scan on", "    risk_scan: on\n",
			func(j *configs.Job) any { return j.RiskScan }, configs.RiskScanOn},
		{"risk_scan off", "    risk_scan: \"off\"\n",
			func(j *configs.Job) any { return j.RiskScan }, configs.RiskScanOff},
		{"risk_scan_threshold", "    risk_scan_threshold: 0\n",
			func(j *configs.Job) any { return j.RiskScanThreshold }, 0},
		{"history_days", "    history_days: 1830\n",
			func(j *configs.Job) any { return j.HistoryDays }, 1830},
		{"history_days 0 keeps forever", "    history_days: 0\n",
			func(j *configs.Job) any { return j.HistoryDays }, 0},
		{"history_days default", "",
			func(j *configs.Job) any { return j.HistoryDays }, configs.DefaultHistoryDays},
		{"store_payloads", "    store_payloads: true\n",
			func(j *configs.Job) any { return j.StorePayloads }, true},
		{"store_payloads default", "",
			func(j *configs.Job) any { return j.StorePayloads }, false},
		{"reconcile keys", "    reconcile_schedule: \"0 3 * * 0\"\n    on_missing: disable\n    max_disable_fraction: 0.2\n",
			func(j *configs.Job) any { return fmt.Sprintln(j.ReconcileSchedule, j.OnMissing, j.MaxDisableFraction) }, "0 3 * * 0 disable 0.2\n"},
		{"exit_on_errors", "    exit_on_errors: any\n",
			func(j *configs.Job) any { return j.ExitOnErrors }, "any"},
		{"exit_on_errors default", "",
			func(j *configs.Job) any { return j.ExitOnErrors }, configs.ExitOnNewErrors},
		{"reconcile defaults", "",
			func(j *configs.Job) any {
				return fmt.Sprintln(j.ReconcileSchedule == "", j.OnMissing, j.MaxDisableFraction)
			}, "true report 0.05\n"},
		{"concurrency number", "    concurrency: 64\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Concurrency, j.AdaptiveConcurrency) }, "64 false"},
		{"concurrency auto", "    concurrency: auto\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Concurrency, j.AdaptiveConcurrency) }, "16 true"},
		{"concurrency auto, quoted, with max_concurrency", "    concurrency: \"auto\"\n    max_concurrency: 256\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Concurrency, j.AdaptiveConcurrency, j.MaxConcurrency) }, "256 true 256"},
		{"max_concurrency alone leaves concurrency", "    max_concurrency: 1\n",
			func(j *configs.Job) any { return fmt.Sprint(j.Concurrency, j.AdaptiveConcurrency, j.MaxConcurrency) }, "4 false 1"},
		{"rate_limit fraction", "    rate_limit: 0.5\n",
			func(j *configs.Job) any { return j.RateLimit }, 0.5},
		{"rate_limit whole", "    rate_limit: 20\n",
			func(j *configs.Job) any { return j.RateLimit }, 20.0},
		{"max_attempts", "    max_attempts: 1\n",
			func(j *configs.Job) any { return j.MaxAttempts }, 1},
		{"max_attempts 0", "    max_attempts: 0\n",
			func(j *configs.Job) any { return j.MaxAttempts }, 0},
		{"max_retry_time", "    max_retry_time: 90s\n",
			func(j *configs.Job) any { return j.MaxRetryTime }, 90 * time.Second},
		{"retry_errors_limit 0", "    retry_errors_limit: 0\n",
			func(j *configs.Job) any { return j.RetryErrorsLimit }, 0},
		{"stuck_after", "    stuck_after: 1\n",
			func(j *configs.Job) any { return j.StuckAfter }, 1},
		{"drain_timeout", "    drain_timeout: 0s\n",
			func(j *configs.Job) any { return j.DrainTimeout }, time.Duration(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustParse(t, withJob(tt.lines), nil).Jobs[0]
			if got := tt.got(&j); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestJobKeyFromEnvironment(t *testing.T) {
	j := mustParse(t, withJob("    concurrency: ${C}\n    rate_limit: ${R}\n"), map[string]string{"C": "auto", "R": "2.5"}).Jobs[0]
	if !j.AdaptiveConcurrency || j.RateLimit != 2.5 {
		t.Errorf("concurrency ${C}=auto, rate_limit ${R}=2.5 gave adaptive %v, rate limit %v", j.AdaptiveConcurrency, j.RateLimit)
	}
}

func TestJobKeyErrors(t *testing.T) {
	const job = `config.yaml:%d: job "customers": `
	at := func(line int, rest string) string { return fmt.Sprintf(job, line) + rest }
	tests := []struct {
		name  string
		lines string // added to base's job, from line 9
		want  []string
	}{
		{"relations_query without relation_types", "    relations_query: q.sql\n",
			[]string{at(9, "relation_types: is required with relations_query")}},
		{"relations_query with null relation_types", "    relations_query: q.sql\n    relation_types:\n",
			[]string{at(9, "relation_types: is required with relations_query")}},
		{"empty relation_types", "    relations_query: q.sql\n    relation_types: {}\n",
			[]string{at(10, "relation_types: is empty")}},
		{"relation_types without relations_query", "    relation_types: {director: 1}\n",
			[]string{at(9, "relation_types: is set but relations_query is not")}},
		{"relations_query missing file", "    relations_query: nope.sql\n    relation_types: {director: 1}\n",
			[]string{at(9, "relations_query: file "), "nope.sql does not exist"}},
		{"relation_types 0", "    relations_query: q.sql\n    relation_types:\n      director: 1\n      ubo: 0\n",
			[]string{at(12, "relation_types.ubo: must be 1 or more (one of the tenant's RelationsTypes), got 0")}},
		{"relation_types negative", "    relations_query: q.sql\n    relation_types: {director: -3}\n",
			[]string{at(10, "relation_types.director: must be 1 or more (one of the tenant's RelationsTypes), got -3")}},
		{"relation_types not a number", "    relations_query: q.sql\n    relation_types:\n      director: first\n",
			[]string{at(11, `relation_types.director: want a whole number, got "first"`)}},
		{"relation_types a fraction", "    relations_query: q.sql\n    relation_types: {director: 1.5}\n",
			[]string{at(10, `relation_types.director: want a whole number, got "1.5"`)}},
		{"relation_types no value", "    relations_query: q.sql\n    relation_types:\n      director:\n",
			[]string{at(11, `relation_types.director: has no value`)}},
		{"relation_types twice", "    relations_query: q.sql\n    relation_types:\n      director: 1\n      director: 2\n",
			[]string{at(12, `relation_types.director: given twice (first at line 11)`)}},
		{"relation_types blank", "    relations_query: q.sql\n    relation_types:\n      \" \": 1\n",
			[]string{at(11, `relation_types: a blank relation_type`)}},
		{"relation_types a list", "    relations_query: q.sql\n    relation_types: [director, ubo]\n",
			[]string{at(10, `relation_types: want a mapping of keys to values, got a list`)}},
		{"account_types bad value", "    account_types:\n      person: N\n      company: firm\n",
			[]string{at(11, `account_types.company: want "F" (firm) or "N" (individual), got "firm"`)}},
		{"account_types lower case", "    account_types: {person: n}\n",
			[]string{at(9, `account_types.person: want "F" (firm) or "N" (individual), got "n"`)}},
		{"countries bad code", "    countries:\n      Kazakstan: Kazakhstan\n",
			[]string{at(10, `countries.Kazakstan: want an ISO 3166-1 code such as "DE", "DEU" or "276" (or "" to drop the value), got "Kazakhstan"`)}},
		{"countries no value", "    countries:\n      Yugoslavia:\n",
			[]string{at(10, `countries.Yugoslavia: has no value`)}},
		{"countries clash in case", "    countries:\n      UK: GB\n      uk: UA\n",
			[]string{at(11, `countries.uk: maps to "UA", but "UK" (line 10) maps to "GB": values are matched without regard to case`)}},
		{"account_types clash in case", "    account_types:\n      person: N\n      Person: F\n",
			[]string{at(11, `account_types.Person: maps to F, but "person" (line 10) maps to N: values are matched without regard to case`)}},
		{"account_types empty", "    account_types: {}\n",
			[]string{at(9, `account_types: is empty`)}},
		{"account_types a value", "    account_types: person\n",
			[]string{at(9, `account_types: want a mapping of keys to values, got "person"`)}},
		{"lookback negative", "    lookback: -1m\n",
			[]string{at(9, `lookback: must not be negative, got -1m0s`)}},
		{"lookback without unit", "    lookback: 60\n",
			[]string{at(9, `lookback: want a duration such as "30s" or "5m", got "60"`)}},
		{"on_invalid_field of a required field", "    on_invalid_field: {last_name: drop}\n",
			[]string{at(9, `on_invalid_field.last_name: not an optional field: want "default" or one of date_of_birth, `)}},
		{"on_invalid_field value unknown", "    on_invalid_field: {phone: ignore}\n",
			[]string{at(9, `on_invalid_field.phone: want "drop" or "reject", got "ignore"`)}},
		{"exit_on_errors unknown", "    exit_on_errors: always\n",
			[]string{at(9, `exit_on_errors: want "new", "any" or "never", got "always"`)}},
		{"on_missing unknown", "    on_missing: delete\n",
			[]string{at(9, `on_missing: want "report" or "disable", got "delete"`)}},
		{"max_disable_fraction over 1", "    max_disable_fraction: 5\n",
			[]string{at(9, `max_disable_fraction: must be between 0 and 1, got 5`)}},
		{"reconcile_schedule bad", "    reconcile_schedule: weekly\n",
			[]string{at(9, `reconcile_schedule:`)}},
		{"history_days negative", "    history_days: -1\n",
			[]string{at(9, `history_days: must be 0 or more, got -1`)}},
		{"history_days a duration", "    history_days: 90d\n",
			[]string{at(9, `history_days: want a whole number, got "90d"`)}},
		{"store_payloads not a boolean", "    store_payloads: sometimes\n",
			[]string{at(9, `store_payloads: want true or false, got "sometimes"`)}},
		{"risk_scan unknown", "    risk_scan: sometimes\n",
			[]string{at(9, `risk_scan: want "auto", "on" or "off", got "sometimes"`)}},
		{"risk_scan boolean", "    risk_scan: true\n",
			[]string{at(9, `risk_scan: want "auto", "on" or "off", got "true"`)}},
		{"risk_scan_threshold negative", "    risk_scan_threshold: -1\n",
			[]string{at(9, `risk_scan_threshold: must be 0 or more, got -1`)}},
		{"concurrency 0", "    concurrency: 0\n",
			[]string{at(9, `concurrency: must be between 1 and 64, got 0 (or "auto"`)}},
		{"concurrency Auto", "    concurrency: Auto\n",
			[]string{at(9, `concurrency: want a whole number or "auto", got "Auto"`)}},
		{"concurrency a list", "    concurrency: [1, 2]\n",
			[]string{at(9, `concurrency: want a whole number or "auto", got a list`)}},
		{"max_concurrency 0", "    concurrency: auto\n    max_concurrency: 0\n",
			[]string{at(10, `max_concurrency: must be between 1 and 256, got 0`)}},
		{"max_concurrency too big", "    max_concurrency: 257\n",
			[]string{at(9, `max_concurrency: must be between 1 and 256, got 257`)}},
		{"rate_limit negative", "    rate_limit: -0.5\n",
			[]string{at(9, `rate_limit: must be 0 (no limit) or more, got -0.5`)}},
		{"rate_limit infinite", "    rate_limit: .inf\n",
			[]string{at(9, `rate_limit: must be a finite number of calls per second, got +Inf`)}},
		{"rate_limit not a number", "    rate_limit: fast\n",
			[]string{at(9, `rate_limit: want a number, got "fast"`)}},
		{"max_attempts negative", "    max_attempts: -1\n",
			[]string{at(9, `max_attempts: must be 0 or more, got -1`)}},
		{"max_retry_time 0", "    max_retry_time: 0s\n",
			[]string{at(9, `max_retry_time: must be more than 0, got 0s`)}},
		{"retry_errors_limit negative", "    retry_errors_limit: -5\n",
			[]string{at(9, `retry_errors_limit: must be 0 or more, got -5`)}},
		{"stuck_after 0", "    stuck_after: 0\n",
			[]string{at(9, `stuck_after: must be 1 or more, got 0`)}},
		{"stuck_after a fraction", "    stuck_after: 2.5\n",
			[]string{at(9, `stuck_after: want a whole number, got "2.5"`)}},
		{"drain_timeout negative", "    drain_timeout: -1s\n",
			[]string{at(9, `drain_timeout: must not be negative, got -1s`)}},
		{"incremental unknown", "    incremental: full\n",
			[]string{at(9, `incremental: want "cursor" (read what changed since the watermark, by cursor_updated_at) or "diff"`)}},
		{"incremental diff with lookback", "    incremental: diff\n    lookback: 5m\n",
			[]string{at(10, `lookback: means nothing with incremental: diff, whose runs read the whole query, without cursor_updated_at: remove it`)}},
		{"incremental diff with safety_lag", "    safety_lag: 0s\n    incremental: diff\n",
			[]string{at(9, `safety_lag: means nothing with incremental: diff`)}},
		{"incremental diff with cursor_timezone", "    incremental: diff\n    cursor_timezone: UTC\n",
			[]string{at(10, `cursor_timezone: means nothing with incremental: diff`)}},
		{"incremental diff with reconcile_schedule", "    incremental: diff\n    reconcile_schedule: \"0 3 * * 0\"\n",
			[]string{at(10, `reconcile_schedule: every run of a job with incremental: diff compares the whole source as a reconcile does`)}},
		{"unknown key near a new one", "    look_back: 1m\n",
			[]string{at(9, `look_back: unknown key (did you mean "lookback"?)`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, withJob(tt.lines), nil)
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want an error", c.Jobs[0])
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
			if n := strings.Count(msg, "\n") + 1; n != 1 {
				t.Errorf("got %d errors, want 1:\n%s", n, msg)
			}
		})
	}
}

func TestJobLogValue(t *testing.T) {
	j := mustParse(t, withJob("    relations_query: q.sql\n    relation_types: {director: 1}\n    account_types: {person: N}\n    concurrency: auto\n"), nil).Jobs[0]
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("job", "job", j)
	got := buf.String()
	for _, want := range []string{
		"job.name=customers", "job.incremental=cursor", "job.relation_types=map[director:1]", "job.account_types=map[person:N]",
		"job.concurrency=16", "job.adaptive_concurrency=true", "job.max_concurrency=16", "job.rate_limit=0",
		"job.lookback=1m0s", "job.risk_scan=auto", "job.risk_scan_threshold=1000", "job.max_attempts=0",
		"job.max_retry_time=2m0s", "job.retry_errors_limit=1000", "job.stuck_after=5", "job.exit_on_errors=new", "job.drain_timeout=30s",
		"job.history_days=400", "job.store_payloads=false",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log line does not hold %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "SELECT") {
		t.Errorf("log line holds query text:\n%s", got)
	}
}

// TestDefaultJob: a job built in code from DefaultJob has every setting the
// pipeline needs, with the documented defaults.
func TestDefaultJob(t *testing.T) {
	j := configs.DefaultJob("nightly")
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", j.Name, "nightly"},
		{"chunk_size", j.ChunkSize, configs.DefaultChunkSize},
		{"concurrency", j.Concurrency, configs.DefaultConcurrency},
		{"max_concurrency", j.MaxConcurrency, 16},
		{"page_size", j.PageSize, configs.DefaultPageSize},
		{"lookback", j.Lookback, time.Minute},
		{"risk_scan", j.RiskScan, configs.RiskScanAuto},
		{"max_attempts", j.MaxAttempts, 0},
		{"stuck_after", j.StuckAfter, 5},
		{"exit_on_errors", j.ExitOnErrors, configs.ExitOnNewErrors},
		{"cursor_timezone", j.CursorTimezone, time.UTC},
		{"timezone", j.Timezone, time.UTC},
		{"incremental", j.Incremental, configs.IncrementalCursor},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}
