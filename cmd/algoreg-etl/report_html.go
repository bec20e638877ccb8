package main

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"os"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
)

// reportHTML is the page `report --html` writes: one file with its CSS and
// its chart inline, no script, nothing fetched, so that an auditor can open
// it anywhere without the tool.
//
//go:embed report.html.tmpl
var reportHTML string

var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"tsp": func(t *time.Time) string {
		if t == nil {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"dur": func(d time.Duration, finished *time.Time) string {
		if finished == nil {
			return "running"
		}
		return d.Round(time.Millisecond).String()
	},
	"flag": func(b *bool) string {
		switch {
		case b == nil:
			return "–"
		case *b:
			return "yes"
		}
		return "no"
	},
}).Parse(reportHTML))

// maxRunsHTML bounds the runs table of the page.
const maxRunsHTML = 1000

// htmlPage is what the page shows.
type htmlPage struct {
	Job              string
	Since, Generated time.Time
	State            string // where the state is: DSN without password, and schema
	Totals           struct{ Runs, Sent, Added, Refused, OpenRecords int64 }
	Chart            chart
	Runs             []state.RunSummary
	Codes            []state.CodeCount
}

// writeHTML writes the page for job ("" for all) from since to now to path.
func (a *app) writeHTML(ctx context.Context, st *state.Store, cfg *configs.Config, path, job string, since, now time.Time) error {
	p := htmlPage{Job: job, Since: since, Generated: now, State: stateLine(cfg.State.DSN.Reveal(), st.Schema())}
	var err error
	if p.Runs, err = st.RunSummaries(ctx, state.RunFilter{Job: job, Since: since, Limit: maxRunsHTML}); err != nil {
		return err
	}
	if p.Codes, err = st.OpenErrorsByCode(ctx, job); err != nil {
		return err
	}
	days, err := st.DailyCounts(ctx, job, since)
	if err != nil {
		return err
	}
	p.Chart = dailyChart(days, since, now)
	p.Totals.Runs = int64(len(p.Runs))
	for _, r := range p.Runs {
		if !r.DryRun {
			p.Totals.Sent += r.Sent
			p.Totals.Added += r.Added
			p.Totals.Refused += r.Invalid + r.Rejected
		}
	}
	for _, c := range p.Codes {
		p.Totals.OpenRecords += c.Records
	}
	var b bytes.Buffer
	if err := reportPage.Execute(&b, p); err != nil {
		return fmt.Errorf("report: render the HTML page: %w", err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// stateLine names the state database for the page, without its password.
func stateLine(dsn, schema string) string {
	return configs.RedactDSN(dsn) + ", schema " + schema
}

// chart is a bar chart of daily volumes, laid out for an SVG.
type chart struct {
	Width, Height, Left, Right, LabelY float64
	Bars                               []bar
	Ticks                              []tick
}

// bar is one day: its totals and its stacked segments, bottom up.
type bar struct {
	Day                            string
	Added, Updated, Refused, Total int64
	Segments                       []segment
	Label                          string // the day under the bar, for some bars
	LabelX                         float64
}

type segment struct {
	Class      string
	X, Y, W, H float64
}

// tick is a horizontal line of the scale with its value.
type tick struct {
	Y, LabelX, LabelY float64
	Label             string
}

// Geometry of the chart, in SVG units.
const (
	chartWidth, chartHeight = 960, 260
	chartLeft, chartRight   = 56, 950
	chartTop, chartBottom   = 12, 228
	maxChartDays            = 400
)

// dailyChart lays out one stacked bar per UTC day from since to now: the
// records added, updated, and refused or invalid, summed over the jobs and
// the runs that are not dry runs.
func dailyChart(days []state.DailyCount, since, now time.Time) chart {
	first, last := since.UTC().Truncate(24*time.Hour), now.UTC().Truncate(24*time.Hour)
	if last.Sub(first) > maxChartDays*24*time.Hour {
		first = last.Add(-(maxChartDays - 1) * 24 * time.Hour)
	}
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	bars := make([]bar, n)
	for i := range bars {
		bars[i].Day = first.Add(time.Duration(i) * 24 * time.Hour).Format("2006-01-02")
	}
	for _, d := range days {
		i := int(d.Day.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= n || d.DryRun {
			continue
		}
		bars[i].Added += d.Added
		bars[i].Updated += d.Updated
		bars[i].Refused += d.Invalid + d.Rejected
	}
	var top int64
	for i := range bars {
		b := &bars[i]
		b.Total = b.Added + b.Updated + b.Refused
		top = max(top, b.Total)
	}
	scale := niceCeil(top)
	c := chart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartRight, LabelY: chartBottom + 16}
	plotH := float64(chartBottom - chartTop)
	for _, v := range []int64{0, scale / 2, scale} {
		y := round1(chartBottom - plotH*float64(v)/float64(scale))
		c.Ticks = append(c.Ticks, tick{Y: y, LabelX: chartLeft - 6, LabelY: y + 4, Label: fmt.Sprint(v)})
	}
	step := float64(chartRight-chartLeft) / float64(n)
	labelEvery := int(math.Ceil(float64(n) / 12))
	for i := range bars {
		b := &bars[i]
		x, w := chartLeft+step*float64(i)+step*0.1, math.Max(step*0.8, 0.5)
		y := float64(chartBottom)
		for _, s := range []struct {
			class string
			v     int64
		}{{"added", b.Added}, {"updated", b.Updated}, {"refused", b.Refused}} {
			if s.v == 0 {
				continue
			}
			h := plotH * float64(s.v) / float64(scale)
			y -= h
			b.Segments = append(b.Segments, segment{Class: s.class, X: round1(x), Y: round1(y), W: round1(w), H: round1(h)})
		}
		if i%labelEvery == 0 {
			b.Label, b.LabelX = b.Day[5:], round1(x+w/2)
		}
	}
	c.Bars = bars
	return c
}

// niceCeil returns the smallest of 2, 4, 10, 20, 40, 100, ... (a round
// number with a round half) that is at least v.
func niceCeil(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{2, 4, 10} {
			if m*p >= v {
				return m * p
			}
		}
	}
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
