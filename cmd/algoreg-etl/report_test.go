package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// auditFixture is a deployment whose job sends customers and relations and
// keeps payloads, with the state migrated.
type auditFixture struct {
	path string
	db   *sqltest.DB
	api  *algoregtest.Server
	cfg  *configs.Config
	st   *state.Store
	env  *pipeline.Env
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	ctx := context.Background()
	path, db, api := deployment(t,
		"relations_query: {sql}/relations.sql",
		"relation_types: {director: 1, shareholder: 2, ubo: 3}",
		"lookback: 100000h",
		"history_days: 30",
		"store_payloads: true")
	var err error
	f := &auditFixture{path: path, db: db, api: api}
	if f.cfg, err = configs.Load(path); err != nil {
		t.Fatal(err)
	}
	if f.st, err = state.Open(ctx, db.URL, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	if _, err := f.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f.env = &pipeline.Env{Source: db.DB, State: f.st, API: load.NewClient(api.URL, load.BearerToken(api.Token), nil),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return f
}

func (f *auditFixture) run(t *testing.T, opts pipeline.Options) *pipeline.Result {
	t.Helper()
	res, err := pipeline.Run(context.Background(), f.env, &f.cfg.Jobs[0], opts)
	if err != nil {
		t.Fatalf("%s run: %v", opts.Kind, err)
	}
	return res
}

// report runs `algoreg-etl report` with args and returns its output; the
// command must succeed, and no output may hold the token.
func (f *auditFixture) report(t *testing.T, args ...string) string {
	t.Helper()
	code, out, stderr := cli(t, append([]string{"report", "--config", f.path}, args...)...)
	if code != exitOK {
		t.Fatalf("report %v: exit %d\n%s%s", args, code, out, stderr)
	}
	if strings.Contains(out+stderr, f.api.Token) {
		t.Fatalf("report %v shows the API token", args)
	}
	return out
}

func (f *auditFixture) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.db.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// fourRuns does a run that meets errors (invalid rows, a record the API
// refuses, warnings), an unchanged run that skips every row (the job's
// lookback re-reads them all), a verify run
// of three changed customers, and a full backfill; it returns their ids.
func (f *auditFixture) fourRuns(t *testing.T) (run, unchanged, verify, backfill int64) {
	t.Helper()
	f.api.Poison("C-0005", "the API cannot store this record")
	// A person without a date of birth gets a warning.
	if _, err := f.db.Exec(`INSERT INTO clients (client_ref, kind, given_name, family_name, updated_at)
		VALUES ('C-0901', 'person', 'Nora', 'Nodob', now() - interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	r1 := f.run(t, pipeline.Options{Kind: state.KindRun})
	r2 := f.run(t, pipeline.Options{Kind: state.KindRun})
	if r1.Counts.Invalid == 0 || r1.Counts.Rejected == 0 || r1.Counts.Warnings == 0 || r2.Counts.Skipped == 0 || r2.Counts.Sent != 0 {
		t.Fatalf("runs do not cover errors and skips: first %+v, second %+v", r1.Counts, r2.Counts)
	}
	if _, err := f.db.Exec(`UPDATE clients SET family_name = family_name || 'hofer', updated_at = now()
		WHERE client_ref IN ('C-0001', 'C-0002', 'C-0003')`); err != nil {
		t.Fatal(err)
	}
	r3 := f.run(t, pipeline.Options{Kind: state.KindVerify})
	r4 := f.run(t, pipeline.Options{Kind: state.KindBackfill, Full: true})
	if r3.Counts.Sent != 3 || r4.Counts.Sent == 0 {
		t.Fatalf("verify sent %d, backfill %d", r3.Counts.Sent, r4.Counts.Sent)
	}
	return r1.RunID, r2.RunID, r3.RunID, r4.RunID
}

// TestReportsMatchStateAndSandbox runs four kinds of run against the
// sandbox and checks each report's numbers against the state tables and
// against what the sandbox received.
func TestReportsMatchStateAndSandbox(t *testing.T) {
	ctx := context.Background()
	f := newAuditFixture(t)
	r1, r2, r3, r4 := f.fourRuns(t)
	ids := []int64{r4, r3, r2, r1} // newest first

	t.Run("history against the sandbox", func(t *testing.T) {
		// Every customer and relation the sandbox stores was recorded as
		// accepted by a run that persists, and the other way round.
		for _, s := range []struct {
			stream string
			stored []string
		}{{"customers", keys(f.api.Customers())}, {"relations", keys(f.api.Relations())}} {
			var accepted []string
			if err := f.db.Select(&accepted, `SELECT DISTINCT h.external_id FROM algoreg_etl.record_history h
				JOIN algoreg_etl.runs r ON r.id = h.run_id
				WHERE h.stream = $1 AND h.outcome <> 'error' AND r.kind <> 'verify' ORDER BY 1`, s.stream); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(accepted, s.stored) {
				t.Errorf("%s accepted in the history:\n%v\nstored by the sandbox:\n%v", s.stream, accepted, s.stored)
			}
		}
		// Each customer of an answered call arrived once: every history row
		// but those of the record the API refused whole.
		sent := f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE stream = 'customers' AND external_id <> 'C-0005'`)
		if got := int64(f.api.Received()); got != sent {
			t.Errorf("sandbox received %d customers, history holds %d sends", got, sent)
		}
		// The added customers got distinct ids; the verify run's are not ids.
		if n := f.count(t, `SELECT count(DISTINCT customer_id) FROM algoreg_etl.record_history WHERE outcome = 'added' AND run_id <> $1`, r3); n != int64(len(f.api.Customers())) {
			t.Errorf("%d distinct customer ids, sandbox stores %d customers", n, len(f.api.Customers()))
		}
	})

	t.Run("runs", func(t *testing.T) {
		var got []map[string]any
		if err := json.Unmarshal([]byte(f.report(t, "runs", "--since", "1d", "--format", "json")), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("%d runs reported, want 4", len(got))
		}
		for i, row := range got {
			run, err := f.st.Run(ctx, ids[i])
			if err != nil {
				t.Fatal(err)
			}
			c := run.Counts
			h := func(outcome string) int64 {
				return f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE run_id = $1 AND outcome = ANY($2::text[])`,
					run.ID, "{"+outcome+"}")
			}
			// A verify run's sends were not kept: they are would_send.
			sent, added, wouldSend := c.Sent, c.Added, int64(0)
			if run.DryRun {
				sent, added, wouldSend = 0, 0, c.Sent
			}
			want := map[string]any{
				"run_id": run.ID, "job": "customers", "kind": run.Kind, "dry_run": run.Kind == state.KindVerify, "status": run.Status,
				"extracted": c.Extracted, "retried": c.Retried, "sent": sent, "added": added, "updated": sent - added, "would_send": wouldSend,
				"skipped": c.Skipped, "invalid": c.Invalid, "rejected": c.Rejected, "warnings": c.Warnings, "resolved": c.Resolved,
				"disable_risk_scan": *run.DisableRiskScan,
				// The errors it recorded, and those of earlier runs it met again.
				"open_errors": f.count(t, `SELECT count(*) FROM algoreg_etl.record_errors WHERE severity = 'error' AND resolved_at IS NULL
					AND (run_id = $1 OR id IN (SELECT error_id FROM algoreg_etl.record_error_runs WHERE run_id = $1))`, run.ID),
				"calls": f.count(t, `SELECT coalesce(sum(calls), 0) FROM algoreg_etl.run_chunks WHERE run_id = $1`, run.ID),
			}
			for k, w := range want {
				if fmt.Sprint(row[k]) != fmt.Sprint(w) {
					t.Errorf("run %d: %s = %v, want %v", run.ID, k, row[k], w)
				}
			}
			// The run's counts are what its history holds.
			if c.Sent != h("added,updated") || c.Added != h("added") || c.Rejected != h("error") {
				t.Errorf("run %d: sent %d added %d rejected %d; history: %d accepted, %d added, %d refused",
					run.ID, c.Sent, c.Added, c.Rejected, h("added,updated"), h("added"), h("error"))
			}
		}
		if got := f.report(t, "runs", "--job", "nosuchjob", "--format", "csv"); strings.Count(got, "\n") != 1 {
			t.Errorf("runs of an unknown job:\n%s", got)
		}
	})

	t.Run("run", func(t *testing.T) {
		var got struct {
			Run    []map[string]any `json:"run"`
			Errors []struct {
				Stream, Stage, Severity, Code string
				Errors, Open                  int64
				Examples                      []string
			} `json:"errors_by_code"`
			Chunks []struct {
				Records, Calls int
				Duration       float64
			} `json:"slowest_chunks"`
		}
		if err := json.Unmarshal([]byte(f.report(t, "run", fmt.Sprint(r1), "--format", "json")), &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Run) != 1 || fmt.Sprint(got.Run[0]["run_id"]) != fmt.Sprint(r1) {
			t.Fatalf("run section: %v", got.Run)
		}
		var want []string
		if err := f.db.Select(&want, `SELECT stream || '/' || stage || '/' || severity || '/' || code || '=' || count(*)
			FROM algoreg_etl.record_errors WHERE run_id = $1 GROUP BY stream, stage, severity, code ORDER BY 1`, r1); err != nil {
			t.Fatal(err)
		}
		var groups []string
		for _, g := range got.Errors {
			groups = append(groups, fmt.Sprintf("%s/%s/%s/%s=%d", g.Stream, g.Stage, g.Severity, g.Code, g.Errors))
			if len(g.Examples) == 0 || int64(len(g.Examples)) > min(g.Errors, runExamples) {
				t.Errorf("%s: %d examples of %d errors", g.Code, len(g.Examples), g.Errors)
			}
		}
		sort.Strings(groups)
		if !slices.Equal(groups, want) {
			t.Errorf("errors by code:\n%v\nrecord_errors:\n%v", groups, want)
		}
		chunks := f.count(t, `SELECT count(*) FROM algoreg_etl.run_chunks WHERE run_id = $1`, r1)
		if int64(len(got.Chunks)) != min(chunks, runSlowestChunks) {
			t.Errorf("%d slowest chunks of %d", len(got.Chunks), chunks)
		}
		for i, c := range got.Chunks {
			if c.Records == 0 || c.Calls == 0 || (i > 0 && c.Duration > got.Chunks[i-1].Duration) {
				t.Errorf("slowest chunks: %+v", got.Chunks)
			}
		}
		// The poisoned record took its chunk's call and split calls.
		if f.count(t, `SELECT max(calls) FROM algoreg_etl.run_chunks WHERE run_id = $1`, r1) < 2 {
			t.Error("no chunk of the first run took more than one call")
		}
	})

	t.Run("errors", func(t *testing.T) {
		rows := readCSV(t, f.report(t, "errors", "--open", "--format", "csv"))
		want := f.count(t, `SELECT count(*) FROM (SELECT DISTINCT e.source_key, e.code FROM algoreg_etl.record_errors e
			JOIN algoreg_etl.runs r ON r.id = e.run_id
			WHERE e.resolved_at IS NULL AND e.severity = 'error' AND r.kind NOT IN ('verify', 'offline')) AS k`)
		if int64(len(rows)) != want || want == 0 {
			t.Fatalf("%d open error lines, want %d", len(rows), want)
		}
		for _, row := range rows {
			attempts := f.count(t, `SELECT max(e.attempt) FROM algoreg_etl.record_errors e JOIN algoreg_etl.runs r ON r.id = e.run_id
				WHERE e.source_key = $1 AND e.code = $2 AND r.kind NOT IN ('verify', 'offline')`, row["source_key"], row["code"])
			if row["attempts"] != fmt.Sprint(attempts) || row["open"] != "true" || row["stuck"] != "false" || row["first_seen"] == "" {
				t.Errorf("line %v: want %d attempts, not stuck", row, attempts)
			}
		}
		// C-0005 was refused by the run, its retry in the unchanged run, and
		// the backfill: unchanged, for the same reason, one attempt.
		if i := slices.IndexFunc(rows, func(r map[string]string) bool { return r["external_id"] == "C-0005" }); i < 0 ||
			rows[i]["code"] != algoregtest.CodePoisoned || rows[i]["attempts"] != "1" || rows[i]["last_run"] != fmt.Sprint(r4) {
			t.Errorf("C-0005's line: %v", rows)
		}
		all := readCSV(t, f.report(t, "errors", "--format", "csv"))
		if len(all) <= len(rows) {
			t.Errorf("%d lines without --open, %d with", len(all), len(rows))
		}
	})

	t.Run("customer", func(t *testing.T) {
		type report struct {
			Sync []struct {
				CustomerID  string `json:"customer_id"`
				LastOutcome string `json:"last_outcome"`
				LastSentRun int64  `json:"last_sent_run"`
			} `json:"last_sync"`
			History []struct {
				RunID    int64 `json:"run_id"`
				Kind     string
				Outcome  string
				Problems []string
			} `json:"history"`
			Relations []struct {
				RunID  int64  `json:"run_id"`
				ID     string `json:"relation_external_id"`
				Parent string `json:"parent_external_id"`
			} `json:"relations"`
		}
		get := func(id string) report {
			var r report
			if err := json.Unmarshal([]byte(f.report(t, "customer", id, "--format", "json")), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
		tests := []struct {
			id      string
			history string // run:kind:outcome, oldest first
		}{
			{"C-0001", fmt.Sprintf("%d:run:added %d:verify:updated %d:backfill:updated", r1, r3, r4)},
			// Never accepted, C-0005 is sent (and refused) by every run.
			{"C-0005", fmt.Sprintf("%d:run:error %d:run:error %d:verify:error %d:backfill:error", r1, r2, r3, r4)},
			// C-0021's kind is none of account_types: refused before sending.
			{"C-0021", fmt.Sprintf("%d:run:transform %d:run:transform %d:verify:transform %d:backfill:transform", r1, r2, r3, r4)},
			// C-0013, born in 2999, is sent without its date of birth (the
			// warning attaches to the send), then found unchanged.
			{"C-0013", fmt.Sprintf("%d:run:added %d:backfill:updated", r1, r4)},
			{"C-0008", fmt.Sprintf("%d:run:added %d:backfill:updated", r1, r4)},
		}
		for _, tt := range tests {
			rep := get(tt.id)
			var got []string
			for _, e := range rep.History {
				got = append(got, fmt.Sprintf("%d:%s:%s", e.RunID, e.Kind, e.Outcome))
			}
			if strings.Join(got, " ") != tt.history {
				t.Errorf("%s: history %s, want %s", tt.id, strings.Join(got, " "), tt.history)
			}
			sends := f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE external_id = $1`, tt.id)
			// Refusals before sending: by the run that recorded them, or a
			// run that met them again.
			errs := f.count(t, `SELECT count(DISTINCT x.run_id) FROM algoreg_etl.record_errors AS e
				CROSS JOIN LATERAL (SELECT e.run_id UNION SELECT m.run_id FROM algoreg_etl.record_error_runs AS m WHERE m.error_id = e.id) AS x
				WHERE e.external_id = $1 AND e.stage <> 'api' AND e.severity = 'error'`, tt.id)
			if int64(len(rep.History)) != sends+errs {
				t.Errorf("%s: %d events, the state holds %d sends and %d refusals before sending", tt.id, len(rep.History), sends, errs)
			}
		}
		c1 := get("C-0001")
		if len(c1.Sync) != 1 || c1.Sync[0].CustomerID == "" || c1.Sync[0].LastOutcome != "updated" || c1.Sync[0].LastSentRun != r4 {
			t.Errorf("C-0001's last sync: %+v", c1.Sync)
		}
		if c5 := get("C-0005"); len(c5.Sync) != 0 || !strings.Contains(strings.Join(c5.History[0].Problems, ""), algoregtest.CodePoisoned) {
			t.Errorf("C-0005, never accepted: %+v", c5)
		}
		// C-0008 is the parent of the seed's links: each was sent by the
		// run and the backfill.
		c8 := get("C-0008")
		links := f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE stream = 'relations' AND (parent_external_id = 'C-0008' OR child_external_id = 'C-0008')`)
		if int64(len(c8.Relations)) != links || links == 0 || c8.Relations[0].Parent != "C-0008" {
			t.Errorf("C-0008's relations: %+v; history holds %d", c8.Relations, links)
		}
	})

	t.Run("personal data", func(t *testing.T) {
		for _, tt := range []struct {
			args    []string
			private string // a name or a value of a record
		}{
			{[]string{"customer", "C-0001"}, "Meierhofer"},
			{[]string{"customer", "C-0013"}, "2999-01-01"},
			{[]string{"errors"}, "2999-01-01"},
			{[]string{"run", fmt.Sprint(r1)}, "2999-01-01"},
		} {
			for _, format := range []string{"table", "csv", "json"} {
				args := append(slices.Clone(tt.args), "--format", format)
				if out := f.report(t, args...); strings.Contains(out, tt.private) {
					t.Errorf("report %v shows %q without --show-pii", args, tt.private)
				}
			}
			if out := f.report(t, append(slices.Clone(tt.args), "--show-pii", "--format", "csv")...); !strings.Contains(out, tt.private) {
				t.Errorf("report %v --show-pii does not show %q:\n%s", tt.args, tt.private, out)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		out := f.report(t, "customer", "C-0001")
		for _, want := range []string{"Last sync:", "History:", "Relations:", "(none)", "RUN ", "added", "verify"} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
		// Every table fits a terminal of 120 columns.
		for _, args := range [][]string{{"runs", "--since", "60d"}, {"run", fmt.Sprint(r1)}, {"errors"}, {"customer", "C-0013"},
			{"customer", "C-0008", "--show-pii"}} {
			out := f.report(t, args...)
			for _, line := range strings.Split(out, "\n") {
				if n := len([]rune(line)); n > 120 {
					t.Errorf("report %v: a line of %d columns:\n%s", args, n, line)
				}
			}
		}
	})

	t.Run("errors by key, values hidden but not the product's words", func(t *testing.T) {
		lines := readCSV(t, f.report(t, "errors", "--format", "csv"))
		for i := 1; i < len(lines); i++ {
			a, b := lines[i-1], lines[i]
			ka, _ := strconv.Atoi(a["source_key"])
			kb, _ := strconv.Atoi(b["source_key"])
			if a["stream"] > b["stream"] || (a["stream"] == b["stream"] && ka > kb) {
				t.Errorf("errors out of key order: %s %s before %s %s", a["stream"], a["source_key"], b["stream"], b["source_key"])
			}
		}
		var reason string
		for _, l := range lines {
			if l["external_id"] == "C-0021" {
				reason = l["reason"]
			}
		}
		if want := `account_type "…": want "company" (F), "person" (N)`; reason != want {
			t.Errorf("C-0021's reason: %q, want %q", reason, want)
		}
	})
}

func TestReportHTML(t *testing.T) {
	ctx := context.Background()
	f := newAuditFixture(t)
	_, _, r3, _ := f.fourRuns(t)
	path := filepath.Join(t.TempDir(), "audit.html")
	f.report(t, "--html", path, "--since", "2d")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	doc := parseXHTML(t, page)
	// make report-check renders the page in a browser.
	if out := os.Getenv("ALGOREG_ETL_REPORT_HTML"); out != "" {
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", out)
	}

	// Self-contained: nothing to fetch, nothing to run.
	for _, bad := range []string{"<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	if strings.Contains(page, f.api.Token) {
		t.Error("the page shows the API token")
	}

	runs, err := f.st.RunSummaries(ctx, state.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	rows := doc.all(func(n *node) bool { return n.name == "tr" && n.attr("data-run") != "" })
	if len(rows) != len(runs) {
		t.Fatalf("%d run rows, want %d", len(rows), len(runs))
	}
	var want int64 // today's records in runs that send
	for i, r := range runs {
		cell := func(class string) string {
			c := rows[i].first(func(n *node) bool { return n.name == "td" && strings.Contains(" "+n.attr("class")+" ", " "+class+" ") })
			if c == nil {
				t.Fatalf("run %d: no %s cell", r.ID, class)
			}
			return c.text()
		}
		got := fmt.Sprintln(rows[i].attr("data-run"), cell("sent"), cell("added"), cell("would-send"), cell("skipped"), cell("invalid"), cell("rejected"), cell("open"))
		if w := fmt.Sprintln(r.ID, r.Sent, r.Added, r.WouldSend, r.Skipped, r.Invalid, r.Rejected, r.OpenErrors); got != w {
			t.Errorf("run row %s, want %s", got, w)
		}
		if r.ID != r3 {
			want += r.Sent + r.Invalid + r.Rejected
		}
	}

	codes, err := f.st.OpenErrorsByCode(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	crows := doc.all(func(n *node) bool { return n.name == "tr" && n.attr("data-code") != "" })
	if len(crows) != len(codes) || len(codes) == 0 {
		t.Fatalf("%d error rows, want %d", len(crows), len(codes))
	}
	for i, c := range codes {
		records := crows[i].first(func(n *node) bool { return n.attr("class") == "n records" })
		if crows[i].attr("data-code") != c.Code || records == nil || records.text() != fmt.Sprint(c.Records) {
			t.Errorf("error row %d: %s, want %s with %d records", i, crows[i].text(), c.Code, c.Records)
		}
	}

	// The chart: a bar per day from two days ago, today's the sum of the
	// runs that send.
	days := doc.all(func(n *node) bool { return n.name == "g" && n.attr("class") == "day" })
	if len(days) != 3 {
		t.Fatalf("%d days in the chart, want 3", len(days))
	}
	today := days[2]
	if today.attr("data-day") != time.Now().UTC().Format("2006-01-02") || today.attr("data-total") != fmt.Sprint(want) {
		t.Errorf("today's bar: day %s total %s, want %d", today.attr("data-day"), today.attr("data-total"), want)
	}
	var height float64
	for _, r := range today.all(func(n *node) bool { return n.name == "rect" }) {
		h, err := strconv.ParseFloat(r.attr("height"), 64)
		if err != nil {
			t.Fatal(err)
		}
		height += h
	}
	if height <= 0 || height > chartBottom-chartTop+0.5 {
		t.Errorf("today's bar is %v high", height)
	}
}

func TestReportUsage(t *testing.T) {
	f := newAuditFixture(t)
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"run"},
		{"run", "x"},
		{"customer"},
		{"runs", "--format", "xml"},
		{"runs", "--since", "yesterday"},
		{"runs", "--html", "x.html"},
	} {
		code, out, stderr := cli(t, append([]string{"report", "--config", f.path}, args...)...)
		if code != exitUsage {
			t.Errorf("report %v: exit %d, want %d\n%s%s", args, code, exitUsage, out, stderr)
		}
	}
	code, out, stderr := cli(t, "report", "run", "99", "--config", f.path)
	if code != exitUsage || out != "" || stderr != "algoreg-etl: no run 99\nRun 'algoreg-etl report --help' for usage.\n" {
		t.Errorf("report run 99: exit %d\n%s%s", code, out, stderr)
	}
	// Flags go before or after the sub-report and its argument.
	for _, args := range [][]string{
		{"--format", "csv", "customer", "C-1"},
		{"customer", "C-1", "--format", "csv"},
		{"customer", "--format", "csv", "C-1"},
	} {
		code, out, stderr := cli(t, append([]string{"report", "--config", f.path}, args...)...)
		if code != exitOK || !strings.HasPrefix(out, "job,customer_id") {
			t.Errorf("report %v: exit %d\n%s%s", args, code, out, stderr)
		}
	}
}

func TestPruneCommand(t *testing.T) {
	f := newAuditFixture(t)
	r1, r2, _, _ := f.fourRuns(t)
	// The first two runs were 40 days ago; the job keeps 30 days.
	if _, err := f.db.Exec(`UPDATE algoreg_etl.runs SET started_at = started_at - interval '40 days' WHERE id IN ($1, $2)`, r1, r2); err != nil {
		t.Fatal(err)
	}
	history := f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE run_id IN ($1, $2)`, r1, r2)
	prune := func(args ...string) string {
		t.Helper()
		code, out, stderr := cli(t, append([]string{"prune", "--config", f.path}, args...)...)
		if code != exitOK {
			t.Fatalf("prune %v: exit %d\n%s%s", args, code, out, stderr)
		}
		return out
	}
	if out := prune("--older-than", "60d"); !strings.Contains(out, ": 0 runs' history") {
		t.Errorf("prune of 60 days: %s", out)
	}
	want := fmt.Sprintf("2 runs' history (%d records,", history)
	if out := prune("--dry-run", "--batch", "3"); !strings.Contains(out, "would prune") || !strings.Contains(out, want) {
		t.Errorf("dry run: %s, want %s", out, want)
	}
	if out := prune("--batch", "3"); !strings.Contains(out, want) {
		t.Errorf("prune: %s, want %s", out, want)
	}
	if n := f.count(t, `SELECT count(*) FROM algoreg_etl.record_history WHERE run_id IN ($1, $2)`, r1, r2); n != 0 {
		t.Errorf("%d history rows of pruned runs left", n)
	}
	// The runs keep their counts; C-0005 keeps its open error.
	var got []map[string]any
	if err := json.Unmarshal([]byte(f.report(t, "runs", "--since", "60d", "--format", "json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || fmt.Sprint(got[3]["run_id"]) != fmt.Sprint(r1) || got[3]["sent"].(float64) == 0 {
		t.Errorf("runs after prune: %v", got)
	}
	if out := f.report(t, "errors", "--open", "--format", "csv"); !strings.Contains(out, "C-0005") {
		t.Errorf("open errors after prune:\n%s", out)
	}
	if code, _, stderr := cli(t, "prune", "--config", f.path, "--job", "gone"); code != exitUsage || !strings.Contains(stderr, "--older-than") {
		t.Errorf("prune of an unknown job: exit %d, %s", code, stderr)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 6, 10, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in, want string
	}{
		{"7d", "2025-06-03T12:00:00Z"},
		{"12h", "2025-06-10T00:00:00Z"},
		{"2025-01-01", "2025-01-01T00:00:00Z"},
		{"2025-01-01T06:00:00+02:00", "2025-01-01T04:00:00Z"},
		{"0d", "error"},
		{"-3d", "error"},
		{"1.5d", "error"},
		{"yesterday", "error"},
	} {
		got, err := parseSince(tt.in, now)
		s := got.UTC().Format(time.RFC3339)
		if err != nil {
			s = "error"
		}
		if s != tt.want {
			t.Errorf("parseSince(%q) = %s (%v), want %s", tt.in, s, err, tt.want)
		}
	}
}

func TestStateLineHidesPassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://etl:S3cr3t-pw@db.internal:5432/state?sslmode=require",
		"host=db.internal user=etl password=S3cr3t-pw dbname=state",
	} {
		if got := stateLine(dsn, "algoreg_etl"); strings.Contains(got, "S3cr3t") || !strings.Contains(got, "db.internal") {
			t.Errorf("stateLine(%q) = %q", dsn, got)
		}
	}
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// readCSV reads a CSV report into one map per line, keyed by column.
func readCSV(t *testing.T, s string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := make(map[string]string, len(rec))
		for i, v := range rec {
			row[recs[0][i]] = v
		}
		rows = append(rows, row)
	}
	return rows
}

// node is an element of a parsed page.
type node struct {
	name  string
	attrs []xml.Attr
	kids  []*node
	chars string // text directly inside
}

func (n *node) attr(name string) string {
	for _, a := range n.attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n *node) text() string {
	s := n.chars
	for _, k := range n.kids {
		s += k.text()
	}
	return strings.TrimSpace(s)
}

func (n *node) all(match func(*node) bool) []*node {
	var out []*node
	for _, k := range n.kids {
		if match(k) {
			out = append(out, k)
		}
		out = append(out, k.all(match)...)
	}
	return out
}

func (n *node) first(match func(*node) bool) *node {
	if all := n.all(match); len(all) > 0 {
		return all[0]
	}
	return nil
}

// parseXHTML parses the page as XML: the template writes every element
// closed and every attribute quoted, so a strict parse proves it well
// formed, which a browser then renders without guessing.
func parseXHTML(t *testing.T, page string) *node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Entity = xml.HTMLEntity
	root := &node{}
	stack := []*node{root}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the page is not well formed: %v", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &node{name: tok.Name.Local, attrs: tok.Attr}
			top.kids = append(top.kids, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			top.chars += string(tok)
		}
	}
	if len(stack) != 1 || len(root.kids) != 1 || root.kids[0].name != "html" {
		t.Fatalf("the page is not one html element")
	}
	return root
}

// A table fits its width: long text is cut with an ellipsis, numbers and
// times never; CSV and JSON keep every character.
func TestTableFitsItsWidth(t *testing.T) {
	long := strings.Repeat("a long reason that goes on ", 10)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s := &section{name: "errors", cols: []string{"source_key", "external_id", "count", "at", "reason", "hidden"},
		table: []string{"source_key", "external_id", "count", "at", "reason"}}
	s.add("123456789", "C-0001", int64(1234567890), at, long, "not in the table")
	s.add("2", strings.Repeat("X", 90), int64(7), at, "short", "")
	for _, width := range []int{120, 80} {
		var b strings.Builder
		if err := writeReport(&b, formatTable, width, s); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if n := len([]rune(line)); n > width || strings.HasSuffix(line, " ") {
				t.Errorf("width %d: a line of %d columns: %q", width, n, line)
			}
		}
		for _, want := range []string{"123456789", "1234567890", "2025-06-01 12:00:00", "a long reason", "…", "KEY "} {
			if !strings.Contains(out, want) {
				t.Errorf("width %d: the table lacks %q:\n%s", width, want, out)
			}
		}
		if strings.Contains(out, "HIDDEN") || strings.Contains(out, long) {
			t.Errorf("width %d: the table shows what it should not:\n%s", width, out)
		}
	}
	var b strings.Builder
	writeReport(&b, formatCSV, 80, s)
	if !strings.Contains(b.String(), long) || !strings.Contains(b.String(), strings.Repeat("X", 90)) || !strings.Contains(b.String(), "hidden") {
		t.Errorf("CSV cuts values or columns:\n%s", b.String())
	}
}
