package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

func TestRenderProgress(t *testing.T) {
	for _, tc := range []struct {
		p     pipeline.Progress
		width int
		want  string
	}{
		{pipeline.Progress{Job: "customers", Done: 1200, Total: 2400, Elapsed: 4 * time.Second}, 100,
			"customers [##########----------]  1200/2400 rows  50%  300 rows/s  ETA 4s"},
		{pipeline.Progress{Job: "customers", Done: 0, Total: 0, Elapsed: time.Second}, 100,
			"customers [####################]  0/0 rows  100%  0 rows/s"},
		{pipeline.Progress{Job: "customers", Done: 30, Total: -1, Elapsed: 3 * time.Second}, 100,
			"customers  30 rows  10 rows/s"},
		{pipeline.Progress{Job: "customers", Done: 1200, Total: 2400, Elapsed: 4 * time.Second}, 30,
			"customers [##########---------"},
	} {
		if got := renderProgress(tc.p, tc.width); got != tc.want {
			t.Errorf("renderProgress(%+v, %d)\n got %q\nwant %q", tc.p, tc.width, got, tc.want)
		}
	}
}

// Log lines written during a run go above the bar, never into it, and the
// bar is gone when the run ends.
func TestProgressBarAndLogLines(t *testing.T) {
	var out bytes.Buffer
	bar := &progressBar{w: &out, width: 80}
	logger := slog.New(barHandler{slog.NewTextHandler(&out, nil), bar}).With("job", "customers")

	logger.Info("before the bar")
	bar.update(pipeline.Progress{Job: "customers", Done: 5, Total: 10, Elapsed: time.Second})
	logger.Warn("retrying")
	bar.update(pipeline.Progress{Job: "customers", Done: 10, Total: 10, Elapsed: 2 * time.Second, Final: true})
	logger.Info("after the bar")

	const clear = "\r\033[K"
	drawn := clear + renderProgress(pipeline.Progress{Job: "customers", Done: 5, Total: 10, Elapsed: time.Second}, 79)
	text := out.String()
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("output %q: want 3 lines", text)
	}
	// Line 1 is a log line; line 2 the bar, erased, then a log line; line 3
	// the bar drawn again below it, erased at the end, then a log line.
	for i, want := range []struct{ prefix, msg string }{
		{"time=", "msg=\"before the bar\" job=customers"},
		{drawn + clear + "time=", "msg=retrying job=customers"},
		{drawn + clear + "time=", "msg=\"after the bar\" job=customers"},
	} {
		if !strings.HasPrefix(lines[i], want.prefix) || !strings.HasSuffix(lines[i], want.msg) {
			t.Errorf("line %d: %q\nwant %q ... %q", i+1, lines[i], want.prefix, want.msg)
		}
	}
}

func TestNoProgressBarOffATerminal(t *testing.T) {
	a := &app{stderr: io.Discard}
	env := &pipeline.Env{Logger: slog.New(slog.DiscardHandler)}
	var opts pipeline.Options
	a.showProgress(env, &opts)
	if opts.Progress != nil {
		t.Error("a progress bar on a stderr that is not a terminal")
	}
	if _, ok := env.Logger.Handler().(barHandler); ok {
		t.Error("logs routed around a bar that is not shown")
	}
}

func TestSummary(t *testing.T) {
	var out bytes.Buffer
	res := &pipeline.Result{RunID: 7, Kind: state.KindBackfill, Status: state.StatusPartial,
		Counts: state.Counts{Extracted: 120, Sent: 100, Added: 90, Skipped: 12, Invalid: 6, Rejected: 2, Warnings: 1}}
	printSummary(&out, res, 2*time.Second)
	text := out.String()
	for _, want := range []string{
		"backfill 7 partial\n",
		"  extracted         120  rows read from the source\n",
		"  sent              100  accepted by the API (90 added)\n",
		"  skipped            12  ",
		"  invalid             6  ",
		"  rejected            2  ",
		"  took 2s (60 rows/s)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "retried") || strings.Contains(text, "resolved") {
		t.Errorf("summary shows counts that are zero and rare:\n%s", text)
	}
}

// A dry run's summary says what it would send, never that it sent.
func TestSummaryOfDryRuns(t *testing.T) {
	for _, res := range []*pipeline.Result{
		{RunID: 8, Kind: state.KindVerify, DryRun: true, Status: state.StatusSucceeded, Counts: state.Counts{Extracted: 10, Sent: 10, Added: 4}},
		{RunID: 9, Kind: state.KindOffline, DryRun: true, Status: state.StatusSucceeded, Counts: state.Counts{Extracted: 10, Sent: 10}},
		{RunID: 10, Kind: state.KindReconcile, DryRun: true, Status: state.StatusSucceeded, Counts: state.Counts{Extracted: 10, Sent: 10}},
	} {
		var out bytes.Buffer
		printSummary(&out, res, 0)
		if text := out.String(); !strings.Contains(text, "  would send         10  ") || strings.Contains(text, "  sent ") {
			t.Errorf("summary of a %s run:\n%s", res.Kind, text)
		}
	}
}

// A run's warning about the job ends its summary.
func TestSummaryWarning(t *testing.T) {
	var out bytes.Buffer
	printSummary(&out, &pipeline.Result{RunID: 3, Kind: state.KindRun, Status: state.StatusSucceeded, Warning: "5 rows of the customers query ..."}, 0)
	if !strings.HasSuffix(out.String(), "  warning: 5 rows of the customers query ...\n") {
		t.Errorf("summary:\n%s", out.String())
	}
}
