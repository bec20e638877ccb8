package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Names of the steps, as the table shows them and the targets find them.
const (
	stepGenerate = "generate (SQL)"
	stepCopy     = "read limit (psql \\copy)"
	stepRef      = "reference (sqlx, JSON, HTTP)"
	stepBackfill = "backfill --all"
	stepFirstRun = "run (first, no watermark yet)"
	stepChanged  = "run (1% changed)"
	stepNothing  = "run (nothing changed)"
	stepDrift    = "reconcile (1% drift)"

	stepDiffFirst   = "diff run (first: sends every row)"
	stepDiffNothing = "diff run (nothing changed)"
	stepDiffNoCount = "diff run (nothing changed), --risk-scan off"
)

// stepLatency is the name of the latency-bound step.
var stepLatency = fmt.Sprintf("backfill --full, %v latency, c=%d, chunk %d", latency, latencyConcurrency, latencyChunkSize)

// measuredText says how the figures are measured.
const measuredText = "The API is `load/algoregtest` in fast mode (it decodes and checks the body's shape, stores nothing), served by the " +
	"bench process on loopback. algoreg-etl is built once with `go build -o` and run as a child process. Rows are the rows read " +
	"(for algoreg-etl, the run row's extracted customers and relations); HTTP calls come from the sandbox's counter; peak RSS from the " +
	"child's `VmHWM` in /proc/PID/status, read every 20 ms (not the rusage's maxrss, which counts the bench process's own peak, " +
	"the child being forked from it). \"DB conns\" is how many backends served the bench's database during the step, one per connection opened.\n\n" +
	"The CPU columns are CPU time per row read, and add up to the time the machine's cores were busy during the step: " +
	"\"CPU/row: child\" from the child's rusage; \"PostgreSQL\", the server's backends connected to the bench's database and their " +
	"parallel workers; \"PG server\", the server's background processes (checkpointer, background writer, WAL writer, autovacuum), " +
	"which write out and flush what the backends of every database dirty and commit, mostly the bench's when it writes; \"sandbox\", the bench process's own CPU: the sandbox, and the sampling of /proc, whose part is given in parentheses; " +
	"\"kernel threads\", I/O completion, soft interrupts, the file system's journal; \"other processes\", every other process of the " +
	"machine, backends of other databases and the postmaster (which forks a backend per connection, to any database) included: " +
	"work the bench does not cause, or hardly (other users of a shared machine); \"unseen\", busy " +
	"time that no process accounts for (processes that lived less than a sampling period, time the hypervisor took). Processes are read " +
	"from /proc every 20 ms (those that are neither PostgreSQL's nor the bench's every 100 ms), and a process that exits is counted " +
	"up to its last reading. \"machine busy\" is the share of both cores in use (/proc/stat), everything included, and that busy time " +
	"per row; \"sys, iowait\" are the shares of system time (interrupts included; it is part of the processes' CPU above) and of " +
	"idle time waiting for I/O. A step that runs longer than `-step-timeout` (5 minutes) is interrupted with SIGINT, as an operator " +
	"would, and marked so.\n\n"

// analysisHeading starts the hand-written part of BENCHMARKS.md, which the
// bench keeps when it rewrites the file.
const analysisHeading = "## Analysis"

// report is what a bench found.
type report struct {
	machine  machine
	date     time.Time
	took     time.Duration
	settings settings
	measures []measure
	goBench  string
	load     [2]string // load averages before and after
}

// find returns the measure of a step at a size.
func (r *report) find(size int, step string) (measure, bool) {
	for _, m := range r.measures {
		if m.Size == size && m.Step == step {
			return m, true
		}
	}
	return measure{}, false
}

// table returns the figures as a Markdown table. The CPU columns, per
// row read, add up to the machine's busy time.
func (r *report) table() string {
	var b strings.Builder
	b.WriteString("| customers | step | rows | wall | rows/s | × ref | peak RSS | HTTP calls | DB conns | CPU/row: child | PostgreSQL | PG server | sandbox | kernel threads | other processes | unseen | machine busy | sys, iowait | note |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, m := range r.measures {
		ratio := "-"
		if ref, ok := r.find(m.Size, stepRef); ok && m.Step != stepGenerate && ref.rowsPerSec() > 0 {
			ratio = fmt.Sprintf("%.2f", m.rowsPerSec()/ref.rowsPerSec())
		}
		perRow := m.perRow
		sandbox := perRow(m.SandboxCPU)
		if m.SamplingCPU > 0 && m.SandboxCPU > 0 {
			sandbox += " (" + strings.TrimSuffix(perRow(m.SamplingCPU), " µs") + " sampling)"
		}
		fmt.Fprintf(&b, "| %d | %s | %d | %.2f s | %.0f | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %.0f%% = %s | %.0f%%, %.0f%% | %s |\n",
			m.Size, m.Step, m.Rows, m.Wall.Seconds(), m.rowsPerSec(), ratio, mib(m.MaxRSS), requests(m.Requests), m.Backends,
			perRow(m.CPU), perRow(m.PostgresCPU), perRow(m.ServerCPU), sandbox, perRow(m.KernelCPU), perRow(m.OtherCPU),
			perRow(m.unseenCPU()), 100*m.Machine.Busy, perRow(m.Machine.BusyCPU), 100*m.Machine.Sys, 100*m.Machine.IOWait, m.Note)
	}
	return b.String()
}

// targets returns where each of issue 7's targets stands, at the large size.
func (r *report) targets() string {
	n, small := r.settings.n, r.settings.small
	var b strings.Builder
	fmt.Fprintf(&b, "Targets at %d customers:\n\n", n)
	verdict := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**missed**"
	}
	if g, ok := r.find(n, stepGenerate); ok {
		fmt.Fprintf(&b, "- Generating the data with set-based SQL in under a minute: %.1f s — %s\n", g.Wall.Seconds(), verdict(g.Wall < time.Minute))
	}
	ref, okRef := r.find(n, stepRef)
	bf, okBf := r.find(n, stepBackfill)
	if okRef && okBf {
		x := bf.rowsPerSec() / ref.rowsPerSec()
		fmt.Fprintf(&b, "- Full backfill ≥ 0.8 × the reference's rows/s: %.0f vs %.0f rows/s = %.2f × — %s\n",
			bf.rowsPerSec(), ref.rowsPerSec(), x, verdict(x >= 0.8))
	}
	peak := r.peakRSS(n)
	if peak > 0 {
		line := fmt.Sprintf("- Peak RSS under 64 MiB at %d: %s", n, mib(peak))
		ok := peak < 64<<20
		if s := r.peakRSS(small); small > 0 && s > 0 {
			x := float64(peak) / float64(s)
			line += fmt.Sprintf("; %s at %d, so %.2f × (within 20%%: %v)", mib(s), small, x, x <= 1.2)
			ok = ok && x <= 1.2
		}
		fmt.Fprintf(&b, "%s (the largest of the algoreg-etl runs) — %s\n", line, verdict(ok))
	}
	if ch, ok := r.find(n, stepChanged); ok && okBf {
		x := ch.Wall.Seconds() / bf.Wall.Seconds()
		fmt.Fprintf(&b, "- Nightly run with 1%% changed under 5%% of the backfill's wall time: %.2f s vs %.2f s = %.1f%% — %s\n",
			ch.Wall.Seconds(), bf.Wall.Seconds(), 100*x, verdict(x < 0.05))
	}
	if no, ok := r.find(n, stepNothing); ok {
		fmt.Fprintf(&b, "- Nightly run with nothing changed: %d HTTP calls (want 0), %.2f s (want < 2 s) — %s\n",
			no.Requests, no.Wall.Seconds(), verdict(no.Requests == 0 && no.Wall < 2*time.Second))
	}
	if rc, ok := r.find(n, stepDrift); ok {
		line := fmt.Sprintf("- Reconcile with 1%% drift (measured, no target): %.1f s, %.0f rows/s, peak RSS %s", rc.Wall.Seconds(), rc.rowsPerSec(), mib(rc.MaxRSS))
		if s, ok := r.find(small, stepDrift); ok && small > 0 && s.MaxRSS > 0 {
			line += fmt.Sprintf(" (%s at %d: %.2f ×)", mib(s.MaxRSS), small, float64(rc.MaxRSS)/float64(s.MaxRSS))
		}
		fmt.Fprintf(&b, "%s; %s\n", line, rc.Note)
	}
	if d, ok := r.find(n, stepDiffNothing); ok {
		line := fmt.Sprintf("- Run of a job with incremental: diff over an unchanged source (measured, no target): %.1f s, %.1f s per million rows read, %d HTTP calls, peak RSS %s",
			d.Wall.Seconds(), perMillion(d), d.Requests, mib(d.MaxRSS))
		if s, ok := r.find(small, stepDiffNothing); ok && small > 0 && s.MaxRSS > 0 {
			line += fmt.Sprintf(" (%s at %d: %.2f ×)", mib(s.MaxRSS), small, float64(d.MaxRSS)/float64(s.MaxRSS))
		}
		if o, ok := r.find(n, stepDiffNoCount); ok {
			line += fmt.Sprintf("; with --risk-scan off, which counts nothing: %.1f s, %.1f s per million rows", o.Wall.Seconds(), perMillion(o))
		}
		fmt.Fprintf(&b, "%s\n", line)
	}
	if lat, ok := r.find(n, stepLatency); ok {
		bound := float64(latencyConcurrency*latencyChunkSize) / latency.Seconds()
		got := float64(lat.Sent) / lat.Wall.Seconds()
		fmt.Fprintf(&b, "- Latency-bound backfill ≥ 90%% of concurrency × chunk_size / latency = %d × %d / %v = %.0f records/s: %.0f records/s = %.0f%% — %s\n",
			latencyConcurrency, latencyChunkSize, latency, bound, got, 100*got/bound, verdict(got >= 0.9*bound))
	}
	return b.String()
}

// peakRSS returns the largest peak RSS of the algoreg-etl runs at a size.
func (r *report) peakRSS(size int) int64 {
	var peak int64
	for _, m := range r.measures {
		if m.Size != size {
			continue
		}
		switch m.Step {
		case stepBackfill, stepFirstRun, stepChanged, stepNothing, stepLatency, stepDrift, stepDiffFirst, stepDiffNothing, stepDiffNoCount:
			peak = max(peak, m.MaxRSS)
		}
	}
	return peak
}

// perMillion returns a step's wall time per million rows read, in seconds.
func perMillion(m measure) float64 {
	if m.Rows == 0 {
		return 0
	}
	return m.Wall.Seconds() * 1e6 / float64(m.Rows)
}

// write writes the report to path as Markdown, keeping the hand-written
// analysis of the file it replaces.
func (r *report) write(path string) error {
	analysis := analysisHeading + "\n\n(Not written yet: explain here each missed target with the profile that shows why.)\n"
	if old, err := os.ReadFile(path); err == nil {
		if i := strings.Index(string(old), "\n"+analysisHeading+"\n"); i >= 0 {
			analysis = string(old[i+1:])
		}
	}
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Written by `make bench` (cmd/algoreg-bench); everything above \"Analysis\" is replaced on each run.\n\n")
	fmt.Fprintf(&b, "Run on %s, in %s.\n\n", r.date.UTC().Format("2006-01-02 15:04 MST"), r.took.Round(time.Second))
	m := r.machine
	b.WriteString("## Machine\n\n")
	fmt.Fprintf(&b, "- CPU: %s, %d cores\n- Memory: %.1f GiB\n- OS: %s\n- Go: %s\n- PostgreSQL: %s (%s), on the same machine\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.PostgreSQL, m.Settings)
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) before: %s; after: %s. Other processes on the machine "+
		"move the figures by as much as ±20%% from one run to the next; compare the CPU per row, which moves less.\n\n", r.load[0], r.load[1])
	b.WriteString("## What runs\n\n")
	fmt.Fprintf(&b, "`make bench` (`BENCH_N=%d`; sizes: %s). For each size the bench recreates a database with the example source "+
		"schema, fills it with set-based SQL (`generate_series`): N people and N/20 companies with 1–3 ownership links each, "+
		"one or two nationalities per person, review groups, contacts and name variations on some rows. It then measures, in order:\n\n",
		r.settings.n, r.sizes())
	b.WriteString("1. the read limit: `psql -c \"\\copy (<wrapped query>) TO '/dev/null'\"` for customers.sql then relations.sql, " +
		"each wrapped as the pipeline wraps it but for the whole window in one query;\n" +
		"2. the reference pipeline (`algoreg-bench reference`): the same two queries streamed with sqlx + lib/pq, rows mapped to " +
		"`load.Customer`/`load.Relation`, JSON-encoded in chunks and POSTed with the same concurrency; no state, no validation, no hashing;\n" +
		"3. `algoreg-etl backfill --all customers`;\n" +
		"4. `algoreg-etl run customers`: the first run after the backfill, which has no watermark yet, so it reads every row and skips it as unchanged;\n" +
		"5. 1% of the clients and of the links changed (`UPDATE ... WHERE id % 100 = 0`), then `algoreg-etl run customers`;\n" +
		"6. `algoreg-etl run customers` again with nothing changed (it re-reads the lookback margin, 1 minute, and skips it);\n" +
		fmt.Sprintf("7. `algoreg-etl backfill --all --full customers` with %v of latency added by the sandbox to every call, at concurrency %d and chunk_size %d; "+
			"its note gives the calls in flight on average (the time the sandbox spent in calls, summed over the calls, divided by the wall time; "+
			"the bound needs %d) and the time of a call in the sandbox (the latency, then reading and decoding the body). The state tables are not "+
			"vacuumed between steps, and the server's autovacuum may be off (see its settings above): this step runs over the dead rows the steps before it left;\n",
			latency, latencyConcurrency, latencyChunkSize, latencyConcurrency) +
		"8. `algoreg-etl run customers-diff`, a job with `incremental: diff` over the same tables (customers_diff.sql, and relations.sql " +
		"without cursor_updated_at): its first run, which sends every row;\n" +
		"9. `algoreg-etl run customers-diff` again, nothing changed: under `risk_scan: auto` it reads the source whole once, comparing every " +
		"record with what the API accepted, counting what it will send and marking each external id seen, and finds nothing to send and nothing missing;\n" +
		"10. the same with `--risk-scan off`, which counts nothing.\n\n")
	b.WriteString(measuredText)
	fmt.Fprintf(&b, "The jobs' config (the latency run's differs by `chunk_size: %d` and `concurrency: %d`, so that its bound, "+
		"concurrency × chunk_size / latency, stays below what the machine does without latency):\n\n```yaml\n%s```\n\n",
		latencyChunkSize, latencyConcurrency, configText())
	b.WriteString("## Figures\n\n")
	b.WriteString(r.table())
	b.WriteString("\n## Targets\n\n")
	b.WriteString(r.targets())
	if r.goBench != "" {
		b.WriteString("\n## Go benchmarks\n\n")
		fmt.Fprintf(&b, "`%s` (with `TEST_DATABASE_URL` for state). To compare a change: run it with `-count 10` before and after, "+
			"and `benchstat old.txt new.txt`.\n\n```\n%s```\n", shellQuote(goBenchCommand(r.settings.benchtime)), r.goBench)
	}
	b.WriteString("\n" + analysis)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (r *report) sizes() string {
	if r.settings.small > 0 {
		return fmt.Sprintf("%d and %d", r.settings.small, r.settings.n)
	}
	return fmt.Sprint(r.settings.n)
}

// shellQuote joins args into a command line, quoting those that need it.
func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, "^$|()*? ") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
