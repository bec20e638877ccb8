package pipeline_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// metric returns the sum over the series of the named metric that carry
// every label given as name, value pairs: counters' and gauges' values,
// histograms' sample counts. ok is false when no series matches.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
				}
				if !found {
					continue series
				}
			}
			ok = true
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return v, ok
}

func TestRunMetrics(t *testing.T) {
	f := newFixture(t)
	sqltest.Seed(t, f.db) // holds invalid rows
	f.api.Poison("C-0007", "refused for the test")
	f.api.FailNext(1, algoregtest.Fault{StatusCode: 503})
	reg := prometheus.NewRegistry()
	m, err := pipeline.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.env.Metrics = m

	res := f.run(t)
	c := res.Counts
	if c.Invalid == 0 || c.Rejected == 0 || c.Sent == 0 {
		t.Fatalf("the run should send, refuse and reject records: %+v", c)
	}
	want := map[string]int64{
		"algoreg_etl_rows_extracted_total": c.Extracted,
		"algoreg_etl_rows_retried_total":   c.Retried,
		"algoreg_etl_rows_sent_total":      c.Sent,
		"algoreg_etl_rows_skipped_total":   c.Skipped,
		"algoreg_etl_rows_invalid_total":   c.Invalid,
		"algoreg_etl_rows_rejected_total":  c.Rejected,
		"algoreg_etl_api_requests_total":   int64(f.api.Requests()),
		// Every call is timed.
		"algoreg_etl_api_request_duration_seconds": int64(f.api.Requests()),
		"algoreg_etl_api_retries_total":            1,
	}
	for name, n := range want {
		if v, _ := metric(t, reg, name, "etl_job", "customers"); v != float64(n) {
			t.Errorf("%s = %v, want %d", name, v, n)
		}
	}
	for _, x := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"algoreg_etl_api_requests_total", []string{"code", "503"}, 1},
		{"algoreg_etl_api_requests_total", []string{"code", "400"}, -1}, // the poisoned record's calls
		{"algoreg_etl_runs_total", []string{"kind", "run", "status", "partial"}, 1},
		{"algoreg_etl_run_duration_seconds", []string{"kind", "run"}, 1},
	} {
		v, ok := metric(t, reg, x.name, append([]string{"etl_job", "customers"}, x.labels...)...)
		if !ok || (x.want >= 0 && v != x.want) || v <= 0 {
			t.Errorf("%s%v = %v (present %v), want %v", x.name, x.labels, v, ok, x.want)
		}
	}
	if v, _ := metric(t, reg, "algoreg_etl_last_success_timestamp_seconds", "etl_job", "customers"); math.Abs(v-float64(time.Now().Unix())) > 60 {
		t.Errorf("last success at %v, want about now (%d)", v, time.Now().Unix())
	}
	// The seed's rows are older than the run: the source is settled up to
	// the end of the run's window, and the lag counts from there.
	lag, _ := metric(t, reg, "algoreg_etl_watermark_lag_seconds", "etl_job", "customers")
	if want := time.Since(res.Window.Until).Seconds(); !res.Window.Until.After(res.Watermark.UpdatedAt) || math.Abs(lag-want) > 60 {
		t.Errorf("watermark lag %vs, want about %vs (window until %v, watermark %v)", lag, want, res.Window.Until, res.Watermark)
	}

	// Counters add up over runs; a failed run is counted, and is no
	// success.
	before, _ := metric(t, reg, "algoreg_etl_last_success_timestamp_seconds", "etl_job", "customers")
	f.exec(t, `UPDATE clients SET family_name = family_name || '+' WHERE client_ref = 'C-0001'`)
	f.api.FailNext(100, algoregtest.Fault{StatusCode: 401})
	if res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{}); err == nil || res.Status != state.StatusFailed {
		t.Fatalf("run with a bad token: %+v, %v", res, err)
	}
	if v, _ := metric(t, reg, "algoreg_etl_runs_total", "etl_job", "customers", "status", "failed"); v != 1 {
		t.Errorf("failed runs: %v, want 1", v)
	}
	if v, _ := metric(t, reg, "algoreg_etl_api_requests_total", "etl_job", "customers", "code", "401"); v != 1 {
		t.Errorf("calls answered 401: %v, want 1", v)
	}
	if v, _ := metric(t, reg, "algoreg_etl_rows_sent_total", "etl_job", "customers"); v != float64(c.Sent) {
		t.Errorf("rows sent after a failed run: %v, want still %d", v, c.Sent)
	}
	if v, _ := metric(t, reg, "algoreg_etl_last_success_timestamp_seconds", "etl_job", "customers"); v != before {
		t.Errorf("a failed run moved the last success from %v to %v", before, v)
	}

	// A new process restores the last success and the watermark from the
	// state tables, and shows every job's counters from the start.
	reg2 := prometheus.NewRegistry()
	m2, err := pipeline.NewMetrics(reg2)
	if err != nil {
		t.Fatal(err)
	}
	other := configs.DefaultJob("other")
	if err := m2.Restore(context.Background(), f.env.State, []*configs.Job{f.job, &other}); err != nil {
		t.Fatal(err)
	}
	if v, _ := metric(t, reg2, "algoreg_etl_last_success_timestamp_seconds", "etl_job", "customers"); math.Abs(v-before) > 1 {
		t.Errorf("restored last success %v, want %v", v, before)
	}
	if _, ok := metric(t, reg2, "algoreg_etl_watermark_lag_seconds", "etl_job", "customers"); !ok {
		t.Error("no watermark lag after Restore")
	}
	if v, ok := metric(t, reg2, "algoreg_etl_rows_sent_total", "etl_job", "other"); !ok || v != 0 {
		t.Errorf("rows sent of a job that never ran: %v (present %v), want 0", v, ok)
	}
	if _, err := pipeline.NewMetrics(reg2); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}

// A cursor that never moves (a constant date) leaves the watermark decades
// old: the lag is counted from the end of the last successful run's
// window, in the process that ran it and in the next one.
func TestWatermarkLagOfAConstantCursor(t *testing.T) {
	f := newFixture(t)
	f.insertPeople(t, 1, 3, time.Now().Add(-time.Hour))
	f.job.CustomersSQL = strings.Replace(f.job.CustomersSQL, "c.updated_at        AS cursor_updated_at", "timestamptz '2000-01-01' AS cursor_updated_at", 1)
	reg := prometheus.NewRegistry()
	m, err := pipeline.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.env.Metrics = m
	if res := f.run(t); res.Counts.Sent != 3 || !res.Watermark.UpdatedAt.Equal(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("run: %+v", res)
	}
	if lag, ok := metric(t, reg, "algoreg_etl_watermark_lag_seconds", "etl_job", "customers"); !ok || lag < 0 || lag > 60 {
		t.Errorf("watermark lag %vs (present %v), want the seconds since the run", lag, ok)
	}
	reg2 := prometheus.NewRegistry()
	m2, err := pipeline.NewMetrics(reg2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Restore(context.Background(), f.env.State, []*configs.Job{f.job}); err != nil {
		t.Fatal(err)
	}
	if lag, ok := metric(t, reg2, "algoreg_etl_watermark_lag_seconds", "etl_job", "customers"); !ok || lag < 0 || lag > 60 {
		t.Errorf("restored watermark lag %vs (present %v), want the seconds since the run", lag, ok)
	}
}

// A dry run sends nothing that is kept: its would-be sends are not counted
// as rows sent.
func TestDryRunsAreNotRowsSent(t *testing.T) {
	f := newFixture(t)
	f.insertPeople(t, 1, 4, time.Now().Add(-time.Hour))
	reg := prometheus.NewRegistry()
	m, err := pipeline.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f.env.Metrics = m
	for _, opts := range []pipeline.Options{{Kind: state.KindVerify}, {Kind: state.KindOffline}, {Kind: state.KindReconcile, DryRun: true}} {
		if res := f.runWith(t, opts); res.Counts.Sent != 4 {
			t.Fatalf("%s: %+v", opts.Kind, res.Counts)
		}
	}
	if v, _ := metric(t, reg, "algoreg_etl_rows_sent_total", "etl_job", "customers"); v != 0 {
		t.Errorf("rows sent after three dry runs: %v, want 0", v)
	}
	f.run(t)
	if v, _ := metric(t, reg, "algoreg_etl_rows_sent_total", "etl_job", "customers"); v != 4 {
		t.Errorf("rows sent after the run: %v, want 4", v)
	}
}
