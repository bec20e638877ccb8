package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A timer measures a step: its wall time, the CPU this process (the
// sandbox) spends meanwhile, and how busy the machine's CPUs are.
type timer struct {
	start    time.Time
	self     time.Duration
	machine  cpuStat
	backends *backendSampler
}

// startTimer starts measuring a step that uses the database named
// database.
func startTimer(database string) timer {
	return timer{start: time.Now(), self: selfCPU(), machine: readCPUStat(), backends: startBackendSampler(database)}
}

// stop fills m's Wall, SandboxCPU, PostgresCPU, Backends and Busy.
func (t timer) stop(m *measure) {
	m.Wall = time.Since(t.start)
	m.SandboxCPU = selfCPU() - t.self
	m.PostgresCPU, m.Backends = t.backends.finish()
	m.Busy = readCPUStat().busySince(t.machine)
}

// child runs a program as a child process and measures it: wall time, CPU
// from its rusage, peak RSS from its /proc status (peakRSS), and the HTTP
// calls the sandbox answered meanwhile. Its stderr goes to a log file in the scratch folder, whose
// tail is shown when it fails; its stdout is returned.
func (e *env) child(ctx context.Context, name, path string, args []string) (measure, string, error) {
	m := measure{Step: name, Sent: -1}
	e.logIndex++
	logPath := filepath.Join(e.tmp, fmt.Sprintf("%02d.log", e.logIndex))
	logFile, err := os.Create(logPath)
	if err != nil {
		return m, "", err
	}
	defer logFile.Close()
	var stdout bytes.Buffer
	// A step that outlives the step timeout is interrupted as an operator
	// would (SIGINT: algoreg-etl drains, checkpoints and closes its run),
	// then killed if it does not end within a minute.
	stepCtx, cancel := context.WithTimeout(ctx, e.s.stepTimeout)
	defer cancel()
	cmd := exec.CommandContext(stepCtx, path, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.Env = append(os.Environ(), "ALGOREG_TOKEN="+e.token, "ALGOREG_BENCH_DSN="+e.dbURL)
	cmd.Stdout, cmd.Stderr = &stdout, logFile
	before := e.sandbox.Requests()
	t := startTimer(benchDatabase)
	if err = cmd.Start(); err == nil {
		peak := watchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		m.MaxRSS = peak.stop()
	}
	t.stop(&m)
	m.Requests = e.sandbox.Requests() - before
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	if ctx.Err() == nil && stepCtx.Err() != nil {
		m.TimedOut = true
		fmt.Fprintf(os.Stderr, "  %s: stopped at the step timeout (%v)\n", name, e.s.stepTimeout)
		return m, stdout.String(), nil
	}
	if err != nil {
		return m, stdout.String(), fmt.Errorf("%s: %s %s: %w\nstdout: %s\nlog (%s):\n%s", name, filepath.Base(path),
			strings.Join(args, " "), err, stdout.String(), logPath, tail(logPath, 20))
	}
	return m, stdout.String(), nil
}

// A peakRSS follows the peak resident memory of a child process: the
// VmHWM of /proc/PID/status, read every samplePeriod until it exits, the
// last reading being its peak (to a period before its end). The rusage's
// maxrss cannot be used: a child forked from this process, then exec'd,
// reports this process's peak too when it is larger (Linux keeps the
// larger of the two across exec), and this process holds the sandbox.
type peakRSS struct {
	stopc chan struct{}
	done  chan int64
}

func watchPeakRSS(pid int) *peakRSS {
	p := &peakRSS{stopc: make(chan struct{}), done: make(chan int64, 1)}
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	go func() {
		var peak int64
		t := time.NewTicker(samplePeriod)
		defer t.Stop()
		for {
			if kb, ok := statusField(path, "VmHWM:"); ok {
				peak = max(peak, kb*1024)
			}
			select {
			case <-p.stopc:
				p.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peak in bytes; 0 if never read.
func (p *peakRSS) stop() int64 {
	close(p.stopc)
	return <-p.done
}

// statusField returns the value, in kB, of a field of a /proc status file.
func statusField(path, name string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// selfCPU returns the user and system CPU this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clockTick is the unit of CPU times in /proc: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// A backendSampler follows the CPU of the PostgreSQL backends serving one
// database during a step, by reading /proc every few milliseconds: a
// backend that exits takes its CPU time with it, so the last reading
// before it exits is what counts. Other databases of the server are not
// counted. A backend that lives less than one
// period is missed.
type backendSampler struct {
	database string
	stop     chan struct{}
	done     chan struct{}
	first    map[int]uint64 // ticks of each backend when first seen
	last     map[int]uint64
	existed  map[int]bool // backends alive when the step began
	other    map[int]bool // processes that are not backends of the database
}

const samplePeriod = 20 * time.Millisecond

func startBackendSampler(database string) *backendSampler {
	s := &backendSampler{database: database, stop: make(chan struct{}), done: make(chan struct{}),
		first: make(map[int]uint64), last: make(map[int]uint64), existed: make(map[int]bool), other: make(map[int]bool)}
	s.sample()
	for pid := range s.last {
		s.existed[pid] = true
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(samplePeriod)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample()
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

// finish stops sampling and returns the CPU the backends used since the
// start and how many backends served the database meanwhile.
func (s *backendSampler) finish() (time.Duration, int) {
	close(s.stop)
	<-s.done
	var ticks uint64
	for pid, last := range s.last {
		if s.existed[pid] {
			ticks += last - s.first[pid]
		} else {
			ticks += last
		}
	}
	return time.Duration(ticks) * clockTick, len(s.last)
}

func (s *backendSampler) sample() {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || s.other[pid] {
			continue
		}
		ticks, ok := backendTicks(pid, s.database)
		if !ok {
			// Processes do not become backends: do not read this one again.
			s.other[pid] = true
			continue
		}
		if _, seen := s.first[pid]; !seen {
			s.first[pid] = ticks
		}
		s.last[pid] = ticks
	}
}

// backendTicks returns the user and system CPU ticks of process pid if it
// is a PostgreSQL backend connected to database.
func backendTicks(pid int, database string) (uint64, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ppid ...: utime and stime are fields 14 and 15;
	// comm may hold spaces, so count from its ')'.
	st := string(b)
	open, end := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
	if open < 0 || end < open || st[open+1:end] != "postgres" {
		return 0, false
	}
	// A backend's title: "postgres: 15/main: user database host(port) state".
	cmd, err := os.ReadFile(dir + "/cmdline")
	if err != nil || !strings.Contains(string(cmd), " "+database+" ") {
		return 0, false
	}
	f := strings.Fields(st[end+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return u + k, true
}

// cpuStat is the machine's CPU time so far, from /proc/stat, in clock ticks.
type cpuStat struct{ busy, total uint64 }

func readCPUStat() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return cpuStat{}
	}
	var s cpuStat
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		s.total += v
		if i != 3 && i != 4 { // idle, iowait
			s.busy += v
		}
	}
	return s
}

// busySince returns the fraction of CPU time spent busy since earlier.
func (s cpuStat) busySince(earlier cpuStat) float64 {
	if s.total <= earlier.total {
		return 0
	}
	return float64(s.busy-earlier.busy) / float64(s.total-earlier.total)
}
