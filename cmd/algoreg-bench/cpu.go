package main

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of CPU times in /proc: USER_HZ, 100 on Linux.
const clockTick = 10 * time.Millisecond

// samplePeriod is how often /proc is read during a step.
const samplePeriod = 20 * time.Millisecond

// otherEvery is how many sample periods pass between two readings of the
// processes that are neither PostgreSQL's nor this one's: reading every
// process of the machine costs about 1 ms of CPU.
const otherEvery = 5

// A procClass says whose work a process does.
type procClass int

const (
	classIgnored procClass = iota // this process and its children, measured by their rusage
	classBackend                  // a backend of the bench's database, or a parallel worker of one
	classServer                   // the PostgreSQL server's background processes: checkpointer, WAL writer, background writer, autovacuum, ...
	classKernel                   // a kernel thread: I/O completion, soft interrupts, the file system's journal, ...
	classOther                    // any other process, backends of other databases included
	numClasses

	// classUnknown is a backend forked but not yet titled: it is read
	// again at the next sample.
	classUnknown procClass = -1
)

// serverProcesses are the titles of the PostgreSQL server's own processes,
// after its "postgres: [cluster: ]" prefix.
var serverProcesses = []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher",
	"autovacuum worker", "logical replication launcher", "logical replication worker", "archiver",
	"stats collector", "logger", "startup", "walreceiver", "walsummarizer", "io worker"}

// A proc is a process as a cpuSampler follows it.
type proc struct {
	class       procClass
	name        string // its command, for the breakdown of classOther
	start       uint64 // its start time, which tells a process from a later one with the same pid
	first, last uint64 // its CPU ticks when first and last read
	existed     bool   // alive when the step began
	conn        bool   // a backend serving a connection (not a parallel worker)
}

// ticks returns the CPU the process used during the step, in clock ticks.
func (p *proc) ticks() uint64 {
	if p.existed {
		return p.last - p.first
	}
	return p.last
}

// A cpuSampler follows the CPU of every process of the machine during a
// step, by class (see procClass), by reading /proc every samplePeriod: a
// process that exits takes its CPU time with it, so the last reading
// before it exits is what counts. PostgreSQL's processes are read every
// period, others every otherEvery periods; a process that lives less than
// that is missed, and its CPU shows as unseen.
type cpuSampler struct {
	database string
	self     string // this process's pid
	stop     chan struct{}
	done     chan struct{}
	procs    map[int]*proc
	gone     [numClasses]uint64 // ticks of processes whose pid was taken by another
	cost     time.Duration      // the CPU the sampling took, once stopped
	n        int                // samples taken
}

// cpuUse is the CPU a cpuSampler found, by class.
type cpuUse struct {
	byClass  [numClasses]time.Duration
	backends int           // backends that served the bench's database
	sampling time.Duration // the CPU this process spent reading /proc, part of its own
	server   string        // the server's processes that used most of classServer's CPU, with their share
	others   string        // the commands that used most of classOther's CPU, with their share
}

func startCPUSampler(database string) *cpuSampler {
	s := &cpuSampler{database: database, self: strconv.Itoa(os.Getpid()), stop: make(chan struct{}), done: make(chan struct{}),
		procs: make(map[int]*proc)}
	s.sample(true)
	for _, p := range s.procs {
		p.existed = true
	}
	go func() {
		defer close(s.done)
		// On a thread of its own, so that its CPU can be told from the
		// sandbox's.
		runtime.LockOSThread()
		start := threadCPU()
		t := time.NewTicker(samplePeriod)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				s.sample(true)
				s.cost = threadCPU() - start
				return
			case <-t.C:
				s.n++
				s.sample(s.n%otherEvery == 0)
			}
		}
	}()
	return s
}

// finish stops sampling and returns the CPU each class used since the
// start.
func (s *cpuSampler) finish() cpuUse {
	close(s.stop)
	<-s.done
	var u cpuUse
	ticks := s.gone
	byName := [numClasses]map[string]uint64{classServer: {}, classOther: {}}
	for _, p := range s.procs {
		t := p.ticks()
		ticks[p.class] += t
		if p.conn {
			u.backends++
		}
		if m := byName[p.class]; m != nil && t > 0 {
			m[p.name] += t
		}
	}
	for c, t := range ticks {
		u.byClass[c] = time.Duration(t) * clockTick
	}
	u.server, u.others = top(byName[classServer]), top(byName[classOther])
	u.sampling = s.cost
	return u
}

// top returns the four names that used the most ticks, with their share.
func top(ticks map[string]uint64) string {
	var total uint64
	for _, t := range ticks {
		total += t
	}
	names := slices.SortedFunc(maps.Keys(ticks), func(a, b string) int { return cmp.Compare(ticks[b], ticks[a]) })
	var out []string
	for _, n := range names[:min(len(names), 4)] {
		out = append(out, fmt.Sprintf("%s %.0f%%", n, 100*float64(ticks[n])/float64(total)))
	}
	return strings.Join(out, ", ")
}

// sample reads the processes of /proc: PostgreSQL's and new ones always,
// the others when all is set.
func (s *cpuSampler) sample(all bool) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		p := s.procs[pid]
		if p != nil && (p.class == classIgnored || !all && p.class != classBackend && p.class != classServer) {
			continue
		}
		st, ok := readProcStat(pid)
		if !ok {
			continue
		}
		if p != nil && p.start != st.start { // the pid of an exited process, taken again
			s.gone[p.class] += p.ticks()
			p = nil
		}
		if p == nil {
			class, conn := s.classify(pid, st)
			if class == classUnknown {
				continue // counted from its start once it has a title
			}
			p = &proc{start: st.start, first: st.ticks, name: st.comm, class: class, conn: conn}
			switch {
			case p.class == classServer:
				p.name = serverProcess(pid)
			case st.comm == "postgres" && serverProcess(pid) == "postmaster":
				p.name = "postgres (the postmaster: a fork per connection, to any database)"
			case st.comm == "postgres":
				p.name = "postgres (backends of other databases)"
			}
			s.procs[pid] = p
		}
		p.last = st.ticks
	}
}

// classify says whose work process pid, whose stat is st, does, and whether
// it is a backend serving a connection to the bench's database.
func (s *cpuSampler) classify(pid int, st procStat) (procClass, bool) {
	switch {
	case strconv.Itoa(pid) == s.self || st.ppid == s.self:
		return classIgnored, false
	case pid == 2 || st.ppid == "2":
		return classKernel, false
	case st.comm != "postgres":
		return classOther, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return classOther, false
	}
	title := string(b)
	if !strings.HasPrefix(title, "postgres: ") {
		// A backend keeps the postmaster's command line from its fork
		// until it has read the connection's database.
		if parent, ok := readProcStat(atoi(st.ppid)); ok && parent.comm == "postgres" {
			return classUnknown, false
		}
		// The postmaster: it forks a backend for each connection to any
		// database of the server, and on a shared server most are not
		// the bench's.
		return classOther, false
	}
	// A backend's title: "postgres: 15/main: user database host(port) state".
	if strings.Contains(title, " "+s.database+" ") {
		return classBackend, true
	}
	if _, leader, ok := strings.Cut(title, "parallel worker for PID "); ok {
		if l, err := strconv.Atoi(strings.Fields(leader + " ")[0]); err == nil {
			if lp := s.procs[l]; lp != nil && lp.class == classBackend {
				return classBackend, false
			}
			if lst, ok := readProcStat(l); ok {
				if c, _ := s.classify(l, lst); c == classBackend {
					return classBackend, false
				}
			}
		}
		return classOther, false
	}
	for _, name := range serverProcesses {
		if strings.Contains(title, ": "+name) {
			return classServer, false
		}
	}
	return classOther, false
}

// serverProcess names a process of the PostgreSQL server by its title:
// "checkpointer", "walwriter", ...; "postmaster" for the postmaster, whose
// command line is not a title.
func serverProcess(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	title := strings.TrimRight(string(b), " \x00")
	if err != nil || !strings.HasPrefix(title, "postgres: ") {
		return "postmaster"
	}
	return title[strings.LastIndex(title, ": ")+2:]
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// threadCPU returns the user and system CPU the calling thread has used.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procStat is what a cpuSampler reads of /proc/PID/stat.
type procStat struct {
	comm  string
	ppid  string
	ticks uint64 // user and system CPU
	start uint64 // start time, in ticks after boot
}

func readProcStat(pid int) (procStat, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid ...: utime and stime are fields 14 and 15,
	// starttime 22; comm may hold spaces, so count from its ')'.
	line := string(b)
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(line[end+1:])
	if len(f) < 20 {
		return procStat{}, false
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{comm: line[open+1 : end], ppid: f[1], ticks: u + k, start: start}, true
}

// cpuStat is the machine's CPU time so far, from the first line of
// /proc/stat, in clock ticks.
type cpuStat struct {
	busy, total uint64
	sys         uint64 // system, irq and softirq
	iowait      uint64 // idle while waiting for I/O
}

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
	// user nice system idle iowait irq softirq steal guest guest_nice
	for i, f := range fields[1:] {
		v, _ := strconv.ParseUint(f, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		s.total += v
		switch i {
		case 3: // idle
		case 4:
			s.iowait += v
		default:
			s.busy += v
		}
		switch i {
		case 2, 5, 6:
			s.sys += v
		}
	}
	return s
}

// A cpuShare is how the machine's CPUs were used between two cpuStats.
type cpuShare struct {
	Busy, Sys, IOWait float64       // shares of the CPU time of all cores
	BusyCPU           time.Duration // the busy time of all cores
}

// since returns the machine's use of its CPUs since earlier.
func (s cpuStat) since(earlier cpuStat) cpuShare {
	if s.total <= earlier.total {
		return cpuShare{}
	}
	total := float64(s.total - earlier.total)
	return cpuShare{
		Busy:    float64(s.busy-earlier.busy) / total,
		Sys:     float64(s.sys-earlier.sys) / total,
		IOWait:  float64(s.iowait-earlier.iowait) / total,
		BusyCPU: time.Duration(s.busy-earlier.busy) * clockTick,
	}
}
