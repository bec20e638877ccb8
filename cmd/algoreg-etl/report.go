package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
)

// reportFlags are the flags of report.
type reportFlags struct {
	job, since, format, html string
	open, showPII            bool
	limit                    int
}

func (a *app) reportCmd() *cobra.Command {
	var f reportFlags
	cmd := &cobra.Command{
		Use:   "report (runs | run ID | errors | customer EXTERNAL_ID | --html FILE)",
		Short: "Report runs, one run, record errors or one customer; --html for auditors",
		Long: "Report what was sent, when, and with what result, from the state tables:\n\n" +
			"- runs: one line per run, newest first (--since, default 7 days)\n" +
			"- run ID: the run, its record errors by code with examples, its slowest chunks\n" +
			"- errors: one line per source row with errors (--open: only those not resolved)\n" +
			"- customer EXTERNAL_ID: its last sync, every run that sent or refused it, its relations\n" +
			"- --html FILE: one self-contained page for auditors (--since, default 30 days)\n\n" +
			"Tables fit the terminal; --format csv or json gives every value whole. Names and the " +
			"values that error messages quote are shown only with --show-pii. Only the state " +
			"database is needed.",
		Example: "algoreg-etl report runs --since 7d\n" +
			"algoreg-etl report run 1 --format json\n" +
			"algoreg-etl report errors --open --format csv\n" +
			"algoreg-etl report customer C-0001\n" +
			"algoreg-etl report --html audit.html --since 30d",
		Args: func(cmd *cobra.Command, args []string) error {
			if f.html != "" {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q: --html writes the overview page, give no sub-report with it", args[0])
				}
				return nil
			}
			want := map[string][]string{"runs": nil, "run": {"ID"}, "errors": nil, "customer": {"EXTERNAL_ID"}}
			if len(args) == 0 {
				return usageErrorf("missing the report: runs, run ID, errors, customer EXTERNAL_ID, or --html FILE")
			}
			names, ok := want[args[0]]
			if !ok {
				msg := fmt.Sprintf("unknown report %q", args[0])
				if s := suggest(args[0], []string{"runs", "run", "errors", "customer"}); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
				return &usageError{msg}
			}
			return wantArgs(names...)(cmd, args[1:])
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return []cobra.Completion{"runs", "run", "errors", "customer"}, cobra.ShellCompDirectiveNoFileComp
		},
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.report(cmd.Context(), f, args)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.job, "job", "j", "", "only the runs and errors of `JOB`")
	fs.StringVar(&f.since, "since", "", "only what happened since `WHEN`: a number of days (7d), a duration (12h) or a date (2025-01-01); default 7d for runs, 30d for --html")
	fs.StringVar(&f.format, "format", formatTable, "`FORMAT` of the output: table, csv or json")
	fs.StringVar(&f.html, "html", "", "write a self-contained HTML report (runs, error breakdown, daily volumes) to `FILE`")
	fs.BoolVar(&f.open, "open", false, "errors: only the open ones")
	fs.BoolVar(&f.showPII, "show-pii", false, "show names and the values in error messages (personal data)")
	fs.IntVar(&f.limit, "limit", 1000, "at most `N` lines (0: no limit)")
	completeValues(cmd, "format", formatTable, formatCSV, formatJSON)
	cmd.MarkFlagFilename("html", "html")
	return exits(cmd, plainExits...)
}

// tableWidth returns the width report tables fit in: the terminal's, or
// 120 columns off a terminal.
func (a *app) tableWidth() int {
	if f, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 40 {
			return cols
		}
	}
	return tableWidth
}

// Defaults of --since.
const (
	defaultRunsSince = 7 * 24 * time.Hour
	defaultHTMLSince = 30 * 24 * time.Hour
)

// Numbers of a run's report.
const (
	runExamples      = 3 // examples per error group
	runSlowestChunks = 5
)

func (a *app) report(ctx context.Context, f reportFlags, args []string) int {
	switch f.format {
	case formatTable, formatCSV, formatJSON:
	default:
		return a.badArg("--format %q: want table, csv or json", f.format)
	}
	now := time.Now()
	var since time.Time
	if f.since != "" {
		var err error
		if since, err = parseSince(f.since, now); err != nil {
			return a.badArg("%v", err)
		}
	}
	var sub string
	if len(args) > 0 {
		sub = args[0]
	}
	var runID int64
	if sub == "run" {
		var err error
		if runID, err = strconv.ParseInt(args[1], 10, 64); err != nil || runID <= 0 {
			return a.badArg("report run %q: want a run id, a positive number", args[1])
		}
	}

	cfg, code := a.loadConfig(configs.NeedState)
	if cfg == nil {
		return code
	}
	st, err := openState(ctx, cfg, true)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer st.Close()
	r := &reporter{st: st, pii: f.showPII}

	var sections []*section
	switch {
	case f.html != "":
		if since.IsZero() {
			since = now.Add(-defaultHTMLSince)
		}
		err = a.writeHTML(ctx, st, cfg, f.html, f.job, since, now)
		if err == nil {
			fmt.Fprintf(a.stdout, "wrote %s\n", f.html)
		}
	case sub == "runs":
		if since.IsZero() {
			since = now.Add(-defaultRunsSince)
		}
		sections, err = r.runs(ctx, state.RunFilter{Job: f.job, Since: since, Limit: f.limit})
	case sub == "run":
		sections, err = r.run(ctx, runID)
		if errors.Is(err, sql.ErrNoRows) {
			return a.badArg("no run %d", runID)
		}
	case sub == "errors":
		ef := state.ErrorFilter{Job: f.job, Open: f.open, Since: since, Limit: f.limit,
			StuckAfter: map[string]int{}, DefaultStuckAfter: configs.DefaultStuckAfter}
		for _, j := range cfg.Jobs {
			ef.StuckAfter[j.Name] = j.StuckAfter
		}
		sections, err = r.errors(ctx, ef)
	case sub == "customer":
		sections, err = r.customer(ctx, args[1])
	}
	if err != nil {
		return a.fail(err, exitFailed)
	}
	if len(sections) > 0 {
		if err := writeReport(a.stdout, f.format, a.tableWidth(), sections...); err != nil {
			return a.fail(err, exitFailed)
		}
	}
	return exitOK
}

// parseSince reads --since: a number of days ("7d"), a Go duration
// ("12h"), both counted back from now, or a date or RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := parseAge(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := parseTime("--since", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want a number of days (7d), a duration (12h), or a date (2025-01-01)", s)
}

// parseAge reads an age: a whole number of days ("90d") or a Go duration
// ("2160h"), more than 0.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("%q: want a whole number of days such as 90d, or a duration such as 12h", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q: want a whole number of days such as 90d, or a duration such as 12h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be more than 0", s)
	}
	return d, nil
}

// A reporter turns the state's reports into sections, hiding personal
// data unless pii is set.
type reporter struct {
	st  *state.Store
	pii bool
}

// quoted finds the quoted parts of a text: "2999-01-01" in
// date_of_birth "2999-01-01": date in the future.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// fieldValue finds the value that a message of the pipeline quotes after
// its field, the one part of it that comes from the source:
// date_of_birth "2999-01-01": date in the future.
var fieldValue = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_.\[\]]*) "(?:[^"\\]|\\.)*"`)

// message returns a record error's message of stage, the values of the
// record in it hidden unless personal data is shown. The pipeline's own
// messages quote the record's value after the field name and nothing else
// of the record (account_type "…": want "company" (F), "person" (N)); the
// API's may quote anything of it, so all they quote is hidden.
func (r *reporter) message(stage, s string) string {
	switch {
	case r.pii:
		return s
	case stage == state.StageAPI:
		return quoted.ReplaceAllString(s, `"…"`)
	}
	return fieldValue.ReplaceAllString(s, `$1 "…"`)
}

// text returns an error text that may quote values of records (a
// database's or the API's error that ended a run): all it quotes is hidden
// unless personal data is shown.
func (r *reporter) text(s string) string {
	if r.pii {
		return s
	}
	return quoted.ReplaceAllString(s, `"…"`)
}

// runTable are the columns of the runs table on a terminal.
var runTable = []string{"run_id", "job", "kind", "status", "started_at", "extracted", "sent", "would_send", "skipped", "invalid",
	"rejected", "open_errors", "error"}

var runColumns = []string{"run_id", "job", "kind", "dry_run", "status", "started_at", "duration", "window_from", "window_to",
	"extracted", "retried", "sent", "added", "updated", "would_send", "skipped", "invalid", "rejected", "warnings", "resolved",
	"open_errors", "disable_risk_scan", "calls", "error", "warning"}

func (r *reporter) runRow(s *section, run state.RunSummary) {
	var dur any = run.Duration
	if run.FinishedAt == nil {
		dur = nil
	}
	s.add(run.ID, run.Job, run.Kind, run.DryRun, run.Status, run.StartedAt, dur, run.WindowFrom, run.WindowTo,
		run.Extracted, run.Retried, run.Sent, run.Added, run.Updated, run.WouldSend, run.Skipped, run.Invalid, run.Rejected, run.Warnings, run.Resolved,
		run.OpenErrors, run.DisableRiskScan, run.Calls, r.text(run.Error), run.Warning)
}

func (r *reporter) runs(ctx context.Context, f state.RunFilter) ([]*section, error) {
	runs, err := r.st.RunSummaries(ctx, f)
	if err != nil {
		return nil, err
	}
	s := &section{name: "runs", cols: runColumns, table: runTable}
	for _, run := range runs {
		r.runRow(s, run)
	}
	return []*section{s}, nil
}

func (r *reporter) run(ctx context.Context, id int64) ([]*section, error) {
	rep, err := r.st.RunReport(ctx, id, runExamples, runSlowestChunks)
	if err != nil {
		return nil, err
	}
	run := &section{name: "run", cols: runColumns}
	r.runRow(run, rep.Run)
	errs := &section{name: "errors_by_code", cols: []string{"stream", "stage", "severity", "code", "errors", "open", "examples"}}
	for _, g := range rep.Errors {
		var ex []string
		for _, e := range g.Examples {
			id := e.ExternalID
			if id == "" {
				id = "key " + e.SourceKey
			}
			ex = append(ex, fmt.Sprintf("%s: %s", id, r.message(g.Stage, e.Message)))
		}
		errs.add(g.Stream, g.Stage, g.Severity, g.Code, g.Errors, g.Open, ex)
	}
	chunks := &section{name: "slowest_chunks", cols: []string{"stream", "phase", "chunk", "records", "added", "updated", "errors",
		"warnings", "calls", "retries", "started_at", "duration"}}
	for _, c := range rep.SlowestChunks {
		phase := "window"
		if c.Retry {
			phase = "retry"
		}
		chunks.add(c.Stream, phase, c.Chunk, c.Records, c.Added, c.Updated, c.Errors, c.Warned, c.Calls, c.Retries, c.StartedAt, c.Duration)
	}
	return []*section{run, errs, chunks}, nil
}

func (r *reporter) errors(ctx context.Context, f state.ErrorFilter) ([]*section, error) {
	lines, err := r.st.ErrorLines(ctx, f)
	if err != nil {
		return nil, err
	}
	s := &section{name: "errors", cols: []string{"job", "stream", "source_key", "external_id", "stage", "severity", "code", "field",
		"reason", "attempts", "first_seen", "last_seen", "open", "stuck", "resolved_at", "resolved_by_run", "last_run"},
		table: []string{"job", "stream", "source_key", "external_id", "code", "reason", "attempts", "open", "stuck"}}
	for _, l := range lines {
		var resolvedBy any
		if l.ResolvedRunID != 0 {
			resolvedBy = l.ResolvedRunID
		}
		s.add(l.Job, l.Stream, l.SourceKey, l.ExternalID, l.Stage, l.Severity, l.Code, l.Field, r.message(l.Stage, l.Message),
			l.Attempts, l.FirstSeen, l.LastSeen, l.Open, l.Stuck, l.ResolvedAt, resolvedBy, l.LastRunID)
	}
	return []*section{s}, nil
}

func (r *reporter) customer(ctx context.Context, externalID string) ([]*section, error) {
	rep, err := r.st.CustomerReport(ctx, externalID)
	if err != nil {
		return nil, err
	}
	sync := &section{name: "last_sync", cols: []string{"job", "customer_id", "last_accepted_at", "last_accepted_run", "last_sent_at",
		"last_sent_run", "last_outcome", "last_disable_risk_scan", "open_errors", "hash"},
		table: []string{"job", "customer_id", "last_accepted_at", "last_accepted_run", "last_sent_at", "last_outcome", "open_errors"}}
	for _, s := range rep.Sync {
		sync.add(s.Job, s.CustomerID, s.LastAcceptedAt, s.LastAcceptedRunID, s.LastSentAt, s.LastSentRunID, s.LastOutcome,
			s.LastDisableRiskScan, s.OpenErrors, s.Hash)
	}
	cols := []string{"run_id", "job", "kind", "run_status", "at", "outcome", "warnings", "customer_id", "disable_risk_scan", "problems", "hash"}
	if r.pii {
		cols = append(cols, "name", "payload")
	}
	table := []string{"run_id", "job", "kind", "at", "outcome", "customer_id", "problems"}
	if r.pii {
		table = append(table, "name")
	}
	history := &section{name: "history", cols: cols, table: table}
	for _, e := range rep.Events {
		history.add(r.eventRow(e)...)
	}
	rcols := []string{"run_id", "job", "kind", "at", "relation_external_id", "parent_external_id", "child_external_id", "outcome",
		"warnings", "disable_risk_scan", "hash"}
	relations := &section{name: "relations", cols: rcols,
		table: []string{"run_id", "kind", "at", "relation_external_id", "parent_external_id", "child_external_id", "outcome"}}
	for _, e := range rep.Relations {
		relations.add(e.RunID, e.Job, e.Kind, e.At, e.RelationExternalID, e.ParentExternalID, e.ChildExternalID, e.Outcome,
			e.Warnings, e.DisableRiskScan, e.Hash)
	}
	return []*section{sync, history, relations}, nil
}

// eventRow returns the values of a customer's event.
func (r *reporter) eventRow(e state.CustomerEvent) []any {
	var problems []string
	for _, p := range e.Problems {
		s := p.Severity + " " + p.Code
		if p.Field != "" {
			s += " (" + p.Field + ")"
		}
		s += ": " + r.message(p.Stage, p.Message)
		if p.Open {
			s += " [open]"
		}
		problems = append(problems, s)
	}
	row := []any{e.RunID, e.Job, e.Kind, e.RunStatus, e.At, e.Outcome, e.Warnings, e.CustomerID, e.DisableRiskScan, problems, e.Hash}
	if r.pii {
		var payload any // nil: none
		if e.Payload != nil {
			payload = e.Payload
		}
		row = append(row, nameOf(e.Payload), payload)
	}
	return row
}

// nameOf returns the name a customer's payload holds: its company name, or
// its first, middle and last names; "" for none.
func nameOf(payload json.RawMessage) string {
	var c struct {
		FirstName   string `json:"first_name"`
		MiddleName  string `json:"middle_name"`
		LastName    string `json:"last_name"`
		CompanyName string `json:"company_name"`
	}
	if payload == nil || json.Unmarshal(payload, &c) != nil {
		return ""
	}
	if c.CompanyName != "" {
		return c.CompanyName
	}
	return strings.Join(strings.Fields(c.FirstName+" "+c.MiddleName+" "+c.LastName), " ")
}
