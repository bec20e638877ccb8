package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// showProgress draws a progress bar of the run on stderr when stderr is a
// terminal: it sets opts.Progress, and routes env's log lines around the
// bar. Elsewhere (a file, a pipe, a journal) it does nothing, and the run
// counts no total.
func (a *app) showProgress(env *pipeline.Env, opts *pipeline.Options) {
	f, ok := a.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil || width <= 0 {
		width = 80
	}
	bar := &progressBar{w: f, width: width}
	opts.Progress = bar.update
	logger := env.Logger
	if logger == nil {
		logger = slog.Default()
	}
	env.Logger = slog.New(barHandler{logger.Handler(), bar})
}

// A progressBar keeps one line of a terminal showing a run's progress.
type progressBar struct {
	w     io.Writer
	width int // the terminal's columns

	mu   sync.Mutex
	line string // the line as drawn; "" when none is shown
}

func (b *progressBar) update(p pipeline.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.Final {
		b.clear()
		b.line = ""
		return
	}
	b.line = renderProgress(p, b.width-1)
	b.draw()
}

// clear erases the bar; the caller holds b.mu.
func (b *progressBar) clear() {
	if b.line != "" {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// draw writes the bar; the caller holds b.mu.
func (b *progressBar) draw() {
	if b.line != "" {
		fmt.Fprint(b.w, "\r\033[K"+b.line)
	}
}

// barHandler writes log records above the progress bar: it erases the bar,
// writes the record, and draws the bar again below it.
type barHandler struct {
	slog.Handler
	bar *progressBar
}

func (h barHandler) Handle(ctx context.Context, r slog.Record) error {
	h.bar.mu.Lock()
	defer h.bar.mu.Unlock()
	h.bar.clear()
	err := h.Handler.Handle(ctx, r)
	h.bar.draw()
	return err
}

func (h barHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return barHandler{h.Handler.WithAttrs(attrs), h.bar}
}

func (h barHandler) WithGroup(name string) slog.Handler {
	return barHandler{h.Handler.WithGroup(name), h.bar}
}

// renderProgress returns the progress line of p, at most width columns:
//
//	customers [##########----------]  1200/2400 rows  50%  300 rows/s  ETA 4s
func renderProgress(p pipeline.Progress, width int) string {
	var b strings.Builder
	b.WriteString(p.Job)
	rate := fmt.Sprintf("%.0f rows/s", p.Rate())
	if p.Total >= 0 {
		frac := 1.0
		if p.Total > 0 {
			frac = min(float64(p.Done)/float64(p.Total), 1)
		}
		const cells = 20
		n := int(frac * cells)
		fmt.Fprintf(&b, " [%s%s]  %d/%d rows  %.0f%%  %s", strings.Repeat("#", n), strings.Repeat("-", cells-n), p.Done, p.Total, 100*frac, rate)
		if eta, ok := p.ETA(); ok {
			fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
		}
	} else {
		fmt.Fprintf(&b, "  %d rows  %s", p.Done, rate)
	}
	s := b.String()
	if width > 0 && len(s) > width {
		s = s[:width]
	}
	return s
}

// printSummary writes a run's outcome as a table; took is the run's
// duration as the CLI saw it, 0 when not known.
func printSummary(w io.Writer, res *pipeline.Result, took time.Duration) {
	c := res.Counts
	fmt.Fprintf(w, "%s %d %s\n", res.Kind, res.RunID, res.Status)
	row := func(name string, n int64, note string) {
		fmt.Fprintf(w, "  %-10s %10d  %s\n", name, n, note)
	}
	row("extracted", c.Extracted, "rows read from the source")
	if c.Retried > 0 {
		row("retried", c.Retried, "rows read again for open record errors")
	}
	switch {
	case !res.DryRun:
		row("sent", c.Sent, fmt.Sprintf("accepted by the API (%d added)", c.Added))
	case res.Kind == state.KindVerify:
		row("would send", c.Sent, fmt.Sprintf("accepted by the API's verification, which kept nothing (%d would be added)", c.Added))
	default:
		row("would send", c.Sent, "nothing was sent (dry run)")
	}
	row("skipped", c.Skipped, "unchanged since last accepted")
	row("invalid", c.Invalid, "refused before sending: see record errors")
	row("rejected", c.Rejected, "refused by the API: see record errors")
	row("warnings", c.Warnings, "accepted with a warning")
	if c.Resolved > 0 {
		row("resolved", c.Resolved, "open record errors of earlier runs now settled")
	}
	if c.NewErrors > 0 {
		row("new errors", c.NewErrors, "record errors of a row and reason with no open error before this run")
	}
	if c.Stuck > 0 {
		row("stuck", c.Stuck, "rows no longer retried: algoreg-etl report errors --open; algoreg-etl release")
	}
	if res.Diff {
		fmt.Fprintf(w, "  disable_risk_scan %v; no watermark (incremental: diff)\n", res.DisableRiskScan)
	} else {
		fmt.Fprintf(w, "  disable_risk_scan %v; watermark %v\n", res.DisableRiskScan, res.Watermark)
	}
	if took > 0 {
		fmt.Fprintf(w, "  took %s (%.0f rows/s)\n", took.Round(time.Millisecond), float64(c.Extracted+c.Retried)/took.Seconds())
	}
	if res.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", res.Warning)
	}
}
