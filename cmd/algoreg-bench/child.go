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
// sandbox) spends meanwhile, the CPU of the machine's other processes, and
// how busy the machine's CPUs are.
type timer struct {
	start   time.Time
	self    time.Duration
	machine cpuStat
	procs   *cpuSampler
}

// startTimer starts measuring a step that uses the database named
// database.
func startTimer(database string) timer {
	return timer{start: time.Now(), self: selfCPU(), machine: readCPUStat(), procs: startCPUSampler(database)}
}

// stop fills m's Wall, SandboxCPU, the CPU of the other processes, Backends
// and the machine's use of its CPUs.
func (t timer) stop(m *measure) {
	m.Wall = time.Since(t.start)
	u := t.procs.finish()
	m.SandboxCPU = selfCPU() - t.self
	m.PostgresCPU, m.ServerCPU = u.byClass[classBackend], u.byClass[classServer]
	m.KernelCPU, m.OtherCPU = u.byClass[classKernel], u.byClass[classOther]
	m.Backends, m.Server, m.Others, m.SamplingCPU = u.backends, u.server, u.others, u.sampling
	m.Machine = readCPUStat().since(t.machine)
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
	before, callTime := e.sandbox.Requests(), e.callTime.Load()
	t := startTimer(benchDatabase)
	if err = cmd.Start(); err == nil {
		peak := watchPeakRSS(cmd.Process.Pid)
		err = cmd.Wait()
		m.MaxRSS = peak.stop()
	}
	t.stop(&m)
	m.Requests = e.sandbox.Requests() - before
	m.CallTime = time.Duration(e.callTime.Load() - callTime)
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
