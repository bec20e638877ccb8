package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/state"
)

// The jobs' settings, the same at every size. The latency run uses
// latencyConcurrency and latencyChunkSize instead: its bound, concurrency
// × chunk size / latency, must be below what the machine does without
// latency, or the run measures the CPU rather than how well the pipeline
// keeps its calls in flight.
const (
	job                = "customers"
	diffJob            = "customers-diff" // the same queries without cursor_updated_at, incremental: diff
	chunkSize          = 500
	concurrency        = 4
	pageSize           = 5000
	latency            = 100 * time.Millisecond
	latencyConcurrency = 8
	latencyChunkSize   = 100
)

// benchDatabase is the name of the database the bench creates, fills and
// drops: unique to this process, so that a bench never drops a database
// it did not create on a server that others share.
var benchDatabase = "algoreg_etl_bench_" + strings.ToLower(rand.Text()[:12])

// A measure is one line of the table: one step at one size.
type measure struct {
	Step        string
	Size        int           // people generated; companies add 5%
	Rows        int64         // rows read: customers and relations
	Sent        int64         // records sent to the API; -1 when not known
	Wall        time.Duration // wall time of the step
	MaxRSS      int64         // peak resident memory of the child, bytes; 0 when none
	Requests    int           // HTTP calls the sandbox answered; -1 when none were possible
	CallTime    time.Duration // time the sandbox spent in calls, summed over the calls
	CPU         time.Duration // user+system CPU of the child
	SandboxCPU  time.Duration // user+system CPU of this process (the sandbox) during the step
	SamplingCPU time.Duration // the part of SandboxCPU spent reading /proc
	PostgresCPU time.Duration // user+system CPU of the PostgreSQL backends of the bench's database
	ServerCPU   time.Duration // user+system CPU of the PostgreSQL server's own processes (WAL writer, checkpointer, ...)
	KernelCPU   time.Duration // user+system CPU of kernel threads
	OtherCPU    time.Duration // user+system CPU of every other process of the machine
	Server      string        // the server's processes that used most of ServerCPU
	Others      string        // the commands that used most of OtherCPU
	Backends    int           // backends (connections) that served the bench's database
	Machine     cpuShare      // how the machine's CPUs were used during the step
	TimedOut    bool          // the step was stopped at the step timeout
	Note        string
}

// rowsPerSec returns the step's throughput in rows read per second.
func (m measure) rowsPerSec() float64 {
	if m.Wall <= 0 {
		return 0
	}
	return float64(m.Rows) / m.Wall.Seconds()
}

// perRow returns d per row read, in µs; "-" for none.
func (m measure) perRow(d time.Duration) string {
	if d == 0 || m.Rows == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3/float64(m.Rows))
}

// unseenCPU returns the machine's busy time during the step that no
// process it measures accounts for: processes that lived less than a
// sample period, soft interrupts served while a core was idle, time the
// hypervisor took (steal). Sampling may make it negative.
func (m measure) unseenCPU() time.Duration {
	return m.Machine.BusyCPU - m.CPU - m.PostgresCPU - m.ServerCPU - m.SandboxCPU - m.KernelCPU - m.OtherCPU
}

// env is what the steps of a bench share.
type env struct {
	s        settings
	tmp      string // scratch folder: binary, config files, logs
	etl      string // the algoreg-etl binary
	self     string // this program, for its child commands
	sandbox  *algoregtest.Handler
	callTime atomic.Int64 // nanoseconds the sandbox spent in calls, summed over the calls
	apiURL   string
	token    string
	config   string // the jobs' config file
	latConf  string // the same job at latencyConcurrency
	dbURL    string // the benchmark database, once created
	logIndex int
}

// bench builds algoreg-etl, serves the sandbox, measures every size, runs
// the Go benchmarks, and prints and writes the report.
func bench(ctx context.Context, s settings) error {
	started, loadBefore := time.Now(), loadAverage()
	tmp, err := os.MkdirTemp("", "algoreg-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	e := &env{s: s, tmp: tmp, etl: filepath.Join(tmp, "algoreg-etl"), token: "bench-" + randomHex(16)}
	if e.self, err = os.Executable(); err != nil {
		return err
	}
	step("building algoreg-etl")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.etl, "./cmd/algoreg-etl")
	build.Dir, build.Stdout, build.Stderr = s.repo, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/algoreg-etl: %w", err)
	}
	stopSandbox, err := e.serveSandbox()
	if err != nil {
		return err
	}
	defer stopSandbox()
	if err := e.writeConfigs(); err != nil {
		return err
	}
	m, err := machineInfo(ctx, s.dbURL)
	if err != nil {
		return err
	}

	var all []measure
	sizes := []int{s.n}
	if s.small > 0 {
		sizes = []int{s.small, s.n}
	}
	for _, n := range sizes {
		ms, err := e.runSize(ctx, n, n == s.n)
		all = append(all, ms...)
		if err != nil {
			return fmt.Errorf("at %d customers: %w", n, err)
		}
	}
	var goBench string
	if s.goBench {
		step("Go benchmarks")
		if goBench, err = runGoBenchmarks(ctx, s); err != nil {
			return err
		}
	}
	r := &report{machine: m, date: started, took: time.Since(started), settings: s, measures: all, goBench: goBench,
		load: [2]string{loadBefore, loadAverage()}}
	fmt.Println()
	fmt.Print(r.table())
	fmt.Println()
	fmt.Print(r.targets())
	if s.out != "" {
		if err := r.write(s.out); err != nil {
			return err
		}
		fmt.Printf("\nwritten to %s (%s in all)\n", s.out, r.took.Round(time.Second))
	}
	return nil
}

// runSize recreates the database with n people and measures every step.
func (e *env) runSize(ctx context.Context, n int, profile bool) ([]measure, error) {
	var out []measure
	add := func(m measure, err error) error {
		m.Size = n
		if err == nil {
			out = append(out, m)
			fmt.Fprintf(os.Stderr, "  %-34s %9d rows %8.2fs %9.0f rows/s  RSS %s  requests %s  %s\n",
				m.Step, m.Rows, m.Wall.Seconds(), m.rowsPerSec(), mib(m.MaxRSS), requests(m.Requests), m.Note)
			fmt.Fprintf(os.Stderr, "  %34s CPU per row: child %s, PostgreSQL %s, PG server %s (%s), sandbox %s (sampling %s), kernel %s, other processes %s (%s), unseen %s\n",
				"", m.perRow(m.CPU), m.perRow(m.PostgresCPU), m.perRow(m.ServerCPU), m.Server, m.perRow(m.SandboxCPU), m.perRow(m.SamplingCPU),
				m.perRow(m.KernelCPU), m.perRow(m.OtherCPU), m.Others, m.perRow(m.unseenCPU()))
		}
		return err
	}
	step(fmt.Sprintf("%d customers", n))
	dbURL, dropDB, err := createDatabase(ctx, e.s.dbURL, benchDatabase, e.s.keep)
	if err != nil {
		return nil, err
	}
	defer dropDB()
	e.dbURL = dbURL
	if err := add(e.generate(ctx, n)); err != nil {
		return out, err
	}
	if err := add(e.readLimit(ctx)); err != nil {
		return out, err
	}
	ref, err := e.reference(ctx, "")
	if err := add(ref, err); err != nil {
		return out, err
	}
	backfill := []string{"backfill", "--all", job}
	if err := add(e.etlRun(ctx, stepBackfill, e.config, backfill)); err != nil {
		return out, err
	}
	if err := add(e.etlRun(ctx, stepFirstRun, e.config, []string{"run", job})); err != nil {
		return out, err
	}
	if err := e.change(ctx); err != nil {
		return out, err
	}
	if err := add(e.etlRun(ctx, stepChanged, e.config, []string{"run", job})); err != nil {
		return out, err
	}
	if err := add(e.etlRun(ctx, stepNothing, e.config, []string{"run", job})); err != nil {
		return out, err
	}
	if err := e.exec(ctx, "drift 1%", driftSQL); err != nil {
		return out, err
	}
	if err := add(e.etlRun(ctx, stepDrift, e.config, []string{"reconcile", job})); err != nil {
		return out, err
	}
	e.sandbox.SetFaults(algoregtest.Faults{Latency: latency})
	m, err := e.etlRun(ctx, stepLatency, e.latConf,
		[]string{"backfill", "--all", "--full", job})
	e.sandbox.SetFaults(algoregtest.Faults{})
	if m.Requests > 0 && m.Wall > 0 {
		m.Note += fmt.Sprintf("; calls in flight %.2f of %d on average, %.1f ms a call in the sandbox",
			m.CallTime.Seconds()/m.Wall.Seconds(), latencyConcurrency, m.CallTime.Seconds()*1000/float64(m.Requests))
	}
	if err := add(m, err); err != nil {
		return out, err
	}
	// A job with incremental: diff over the same tables: its first run
	// sends every row, the next ones compare the whole source with what
	// the API accepted and find nothing to send.
	if err := add(e.etlRunJob(ctx, stepDiffFirst, e.config, diffJob, []string{"run", diffJob})); err != nil {
		return out, err
	}
	if err := add(e.etlRunJob(ctx, stepDiffNothing, e.config, diffJob, []string{"run", diffJob})); err != nil {
		return out, err
	}
	if err := add(e.etlRunJob(ctx, stepDiffNoCount, e.config, diffJob, []string{"run", diffJob, "--risk-scan", "off"})); err != nil {
		return out, err
	}
	if profile && e.s.profileDir != "" {
		if err := e.profile(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// etlRun runs algoreg-etl with args and the config file config, and reads
// the counts of the run of the job customers from the state tables.
func (e *env) etlRun(ctx context.Context, name, config string, args []string) (measure, error) {
	return e.etlRunJob(ctx, name, config, job, args)
}

// etlRunJob is etlRun for the run of the job named jobName.
func (e *env) etlRunJob(ctx context.Context, name, config, jobName string, args []string) (measure, error) {
	args = append([]string{args[0], "--config", config, "--log-format", "json"}, args[1:]...)
	m, stdout, err := e.child(ctx, name, e.etl, args)
	if err != nil {
		return m, err
	}
	st, err := state.Open(ctx, e.dbURL, "")
	if err != nil {
		return m, err
	}
	defer st.Close()
	runs, err := st.Runs(ctx, jobName, 1)
	if err != nil {
		return m, err
	}
	if len(runs) == 0 {
		return m, fmt.Errorf("%s: no run recorded; output: %s", name, stdout)
	}
	r := runs[0]
	m.Rows, m.Sent = r.Extracted+r.Retried, r.Sent
	var notes []string
	if m.TimedOut {
		notes = append(notes, fmt.Sprintf("**stopped at the step timeout (%v)**", e.s.stepTimeout))
	}
	if r.Status != state.StatusSucceeded && !m.TimedOut {
		notes = append(notes, fmt.Sprintf("status %s: %d invalid, %d rejected", r.Status, r.Invalid, r.Rejected))
	}
	notes = append(notes, fmt.Sprintf("%d sent", r.Sent))
	if r.Kind == state.KindReconcile || jobName == diffJob {
		notes = append(notes, fmt.Sprintf("%d new, %d changed, %d missing from the source", r.New, r.Changed, r.Missing))
	}
	if r.Skipped > 0 {
		notes = append(notes, fmt.Sprintf("%d skipped as unchanged", r.Skipped))
	}
	m.Note = strings.Join(notes, ", ")
	return m, nil
}

// change changes 1% of the rows, as a day of business would.
func (e *env) change(ctx context.Context) error { return e.exec(ctx, "change 1%", changeSQL) }

// exec runs statements on the bench database, then vacuums and analyses
// the source tables.
func (e *env) exec(ctx context.Context, what string, stmts []string) error {
	db, err := openDB(ctx, e.dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	_, err = db.ExecContext(ctx, "VACUUM (ANALYZE) clients, client_links")
	return err
}

// generate fills the database and measures it.
func (e *env) generate(ctx context.Context, n int) (measure, error) {
	db, err := openDB(ctx, e.dbURL)
	if err != nil {
		return measure{}, err
	}
	defer db.Close()
	m := measure{Step: stepGenerate, Sent: -1, Requests: -1}
	t := startTimer(benchDatabase)
	err = generate(ctx, db, n)
	t.stop(&m)
	if err != nil {
		return m, err
	}
	var clients, links int64
	if err := db.GetContext(ctx, &clients, "SELECT count(*) FROM clients"); err != nil {
		return m, err
	}
	if err := db.GetContext(ctx, &links, "SELECT count(*) FROM client_links"); err != nil {
		return m, err
	}
	m.Rows = clients + links
	m.Note = fmt.Sprintf("%d clients, %d links; source tables vacuumed and analysed", clients, links)
	return m, nil
}

// step announces a step on stderr.
func step(what string) {
	fmt.Fprintf(os.Stderr, "== %s (%s)\n", what, time.Now().Format(time.TimeOnly))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + " MiB"
}

func requests(n int) string {
	if n < 0 {
		return "-"
	}
	return strconv.Itoa(n)
}
