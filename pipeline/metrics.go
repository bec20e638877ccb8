package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
)

// Metrics are the Prometheus metrics of the runs and the scheduler of one
// process. Every name starts with algoreg_etl_; the README's "Operating it"
// section says what each one means. The job a series is about is its
// etl_job label: Prometheus gives the label "job" to the scrape job itself.
// A nil *Metrics records nothing.
type Metrics struct {
	extracted, retried, sent, skipped, invalid, rejected *prometheus.CounterVec // by job

	requests *prometheus.CounterVec   // by job and HTTP status
	latency  *prometheus.HistogramVec // by job
	retries  *prometheus.CounterVec   // by job

	runs        *prometheus.CounterVec   // by job, kind and status
	duration    *prometheus.HistogramVec // by job and kind
	lastSuccess *prometheus.GaugeVec     // by job

	slots  *prometheus.CounterVec // by job and outcome
	leader prometheus.Gauge

	lagDesc *prometheus.Desc
	now     func() time.Time

	mu         sync.Mutex
	watermarks map[string]time.Time // the customers watermark of each job
	settled    map[string]time.Time // the end of the window of each job's last successful run
}

// Outcomes of a scheduled slot, the label of algoreg_etl_scheduled_slots_total.
const (
	slotRan    = "ran"    // claimed and run (the run's status is in algoreg_etl_runs_total)
	slotTaken  = "taken"  // claimed before, by this process or another
	slotLocked = "locked" // claimed, but the job was being run by another process
	slotFailed = "failed" // not claimed, or the run could not start
)

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "algoreg_etl_" + name, Help: help}, labels)
	}
	m := &Metrics{
		extracted: counter("rows_extracted_total", "Rows read from the source by the job's windows.", "etl_job"),
		retried:   counter("rows_retried_total", "Source rows read again to retry open record errors of earlier runs.", "etl_job"),
		sent:      counter("rows_sent_total", "Records sent to the API and accepted and kept by it (not a dry run's).", "etl_job"),
		skipped:   counter("rows_skipped_total", "Rows not sent because they are unchanged since last accepted.", "etl_job"),
		invalid:   counter("rows_invalid_total", "Rows refused before sending (invalid, or waiting for a customer they name); each is a record error.", "etl_job"),
		rejected:  counter("rows_rejected_total", "Records the API refused; each is a record error.", "etl_job"),
		requests:  counter("api_requests_total", "HTTP calls to the Algoreg API, retries included, by status code (\"none\": no answer).", "etl_job", "code"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "algoreg_etl_api_request_duration_seconds",
			Help:    "Time from sending a call to the Algoreg API to reading its answer.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60},
		}, []string{"etl_job"}),
		retries: counter("api_retries_total", "HTTP calls that repeated one that failed (network error, 5xx, 429, or a 401 after the token was renewed).", "etl_job"),
		runs:    counter("runs_total", "Runs finished, by kind and status (succeeded, partial, failed, interrupted).", "etl_job", "kind", "status"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "algoreg_etl_run_duration_seconds",
			Help:    "Duration of finished runs, from taking the job's lock to closing the run row.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400},
		}, []string{"etl_job", "kind"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "algoreg_etl_last_success_timestamp_seconds",
			Help: "When the job's last incremental run that succeeded or finished partial (Unix time).",
		}, []string{"etl_job"}),
		slots: counter("scheduled_slots_total", "Scheduled slots this process handled as leader, by outcome: ran, taken (claimed before), locked (job running elsewhere), failed.", "etl_job", "outcome"),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "algoreg_etl_scheduler_leader",
			Help: "1 while this process leads the scheduling (holds the leader lock), else 0.",
		}),
		lagDesc: prometheus.NewDesc("algoreg_etl_watermark_lag_seconds",
			"Now minus the later of the updated_at of the job's customers watermark and the end of the window of its last incremental run that succeeded or finished partial: how far the settled source rows trail now.", []string{"etl_job"}, nil),
		now:        time.Now,
		watermarks: make(map[string]time.Time),
		settled:    make(map[string]time.Time),
	}
	for _, c := range []prometheus.Collector{m.extracted, m.retried, m.sent, m.skipped, m.invalid, m.rejected,
		m.requests, m.latency, m.retries, m.runs, m.duration, m.lastSuccess, m.slots, m.leader, lagCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Restore sets the metrics that outlive a process from the state tables:
// the last successful run, with the end of its window, and the watermark of
// each job. It also makes
// every job's counters appear, at zero, before its first run.
func (m *Metrics) Restore(ctx context.Context, st *state.Store, jobs []*configs.Job) error {
	for _, j := range jobs {
		for _, c := range []*prometheus.CounterVec{m.extracted, m.retried, m.sent, m.skipped, m.invalid, m.rejected, m.retries} {
			c.WithLabelValues(j.Name)
		}
		at, ok, err := st.LastSuccess(ctx, j.Name)
		if err != nil {
			return err
		}
		if ok {
			m.lastSuccess.WithLabelValues(j.Name).Set(float64(at.Unix()))
		}
		if j.Diff() {
			// No watermark, no window: no lag, even if the job had a
			// cursor once.
			continue
		}
		until, ok, err := st.LastSuccessUntil(ctx, j.Name)
		if err != nil {
			return err
		}
		if ok {
			m.setSettled(j.Name, until)
		}
		wm, ok, err := st.Watermark(ctx, j.Name, StreamCustomers)
		if err != nil {
			return err
		}
		if ok {
			m.setWatermark(j.Name, wm.UpdatedAt)
		}
	}
	return nil
}

// observer returns the load.SenderOptions.Observe function of a job's runs.
func (m *Metrics) observer(job string) func(load.Call) {
	if m == nil {
		return nil
	}
	latency, retries := m.latency.WithLabelValues(job), m.retries.WithLabelValues(job)
	return func(c load.Call) {
		latency.Observe(c.Latency.Seconds())
		code := "none"
		if c.Status != 0 {
			code = strconv.Itoa(c.Status)
		}
		m.requests.WithLabelValues(job, code).Inc()
		if c.Retry {
			retries.Inc()
		}
	}
}

// addCounts adds what a run did since it last reported.
func (m *Metrics) addCounts(job string, d state.Counts) {
	if m == nil {
		return
	}
	for _, x := range []struct {
		c *prometheus.CounterVec
		n int64
	}{{m.extracted, d.Extracted}, {m.retried, d.Retried}, {m.sent, d.Sent}, {m.skipped, d.Skipped}, {m.invalid, d.Invalid}, {m.rejected, d.Rejected}} {
		if x.n > 0 {
			x.c.WithLabelValues(job).Add(float64(x.n))
		}
	}
}

// finished records a run's end.
func (m *Metrics) finished(job string, res *Result, took time.Duration, at time.Time) {
	if m == nil || res == nil {
		return
	}
	m.runs.WithLabelValues(job, res.Kind, res.Status).Inc()
	m.duration.WithLabelValues(job, res.Kind).Observe(took.Seconds())
	if res.Kind == state.KindRun && (res.Status == state.StatusSucceeded || res.Status == state.StatusPartial) {
		m.lastSuccess.WithLabelValues(job).Set(float64(at.Unix()))
		m.setSettled(job, res.Window.Until)
	}
}

// setSettled records the end of the window of job's last successful
// incremental run: every source row up to it is settled, whatever the
// watermark says. A cursor that never moves (a constant) leaves the
// watermark where it was; the lag is counted from here then.
func (m *Metrics) setSettled(job string, until time.Time) {
	if m == nil || until.IsZero() {
		return
	}
	m.mu.Lock()
	m.settled[job] = until
	m.mu.Unlock()
}

// setWatermark records where the customers watermark of job stands.
func (m *Metrics) setWatermark(job string, at time.Time) {
	if m == nil || at.IsZero() {
		return
	}
	m.mu.Lock()
	m.watermarks[job] = at
	m.mu.Unlock()
}

func (m *Metrics) slot(job, outcome string) {
	if m != nil {
		m.slots.WithLabelValues(job, outcome).Inc()
	}
}

func (m *Metrics) setLeader(leading bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leading {
		v = 1
	}
	m.leader.Set(v)
}

// lagCollector computes the watermark lag at each scrape: from the later of
// the watermark and the end of the last successful run's window.
type lagCollector struct{ m *Metrics }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.m.lagDesc }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.m.now()
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	lag := make(map[string]time.Time, len(c.m.watermarks))
	for job, at := range c.m.watermarks {
		lag[job] = at
	}
	for job, at := range c.m.settled {
		if at.After(lag[job]) {
			lag[job] = at
		}
	}
	for job, at := range lag {
		ch <- prometheus.MustNewConstMetric(c.m.lagDesc, prometheus.GaugeValue, now.Sub(at).Seconds(), job)
	}
}
