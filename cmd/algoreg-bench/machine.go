package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the bench ran.
type machine struct {
	CPU        string // model name
	Cores      int
	MemoryGiB  float64
	Kernel     string
	Go         string
	PostgreSQL string // the server's version
	Settings   string // the server settings that matter here
}

func machineInfo(ctx context.Context, dbURL string) (machine, error) {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = kb / (1 << 20)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	db, err := openDB(ctx, dbURL)
	if err != nil {
		return m, err
	}
	defer db.Close()
	if err := db.GetContext(ctx, &m.PostgreSQL, "SHOW server_version"); err != nil {
		return m, fmt.Errorf("server version: %w", err)
	}
	var settings []string
	for _, name := range []string{"shared_buffers", "work_mem", "synchronous_commit", "fsync", "autovacuum"} {
		var v string
		if err := db.GetContext(ctx, &v, "SELECT current_setting($1)", name); err != nil {
			return m, fmt.Errorf("setting %s: %w", name, err)
		}
		settings = append(settings, name+"="+v)
	}
	m.Settings = strings.Join(settings, ", ")
	return m, nil
}

// loadAverage returns the machine's load averages over 1, 5 and 15
// minutes, as /proc/loadavg gives them: other users of the machine show
// here.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
