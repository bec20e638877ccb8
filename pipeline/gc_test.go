package pipeline

import (
	"math"
	"os"
	"runtime/debug"
	"testing"
)

// The program collects garbage less often than Go's default, under a soft
// memory limit, unless GOGC or GOMEMLIMIT say otherwise, each on its own.
func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	for _, tc := range []struct {
		env         map[string]string
		wantPercent int
		wantLimit   int64
	}{
		{env: nil, wantPercent: gcPercent, wantLimit: memoryLimit},
		{env: map[string]string{"GOGC": "150"}, wantPercent: 150, wantLimit: memoryLimit},
		{env: map[string]string{"GOMEMLIMIT": "1GiB"}, wantPercent: gcPercent, wantLimit: 1 << 30},
		{env: map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, wantPercent: -1, wantLimit: 1 << 30},
	} {
		// What the runtime read from the environment at start-up.
		p, l := 100, int64(math.MaxInt64)
		for name, v := range tc.env {
			switch name {
			case "GOGC":
				p = 150
				if v == "off" {
					p = -1
				}
			case "GOMEMLIMIT":
				l = 1 << 30
			}
		}
		debug.SetGCPercent(p)
		debug.SetMemoryLimit(l)
		for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
			if v, ok := tc.env[name]; ok {
				t.Setenv(name, v)
			} else {
				t.Setenv(name, "")
				os.Unsetenv(name)
			}
		}
		TuneGC()
		if got := debug.SetGCPercent(100); got != tc.wantPercent {
			t.Errorf("with %v: GC percent %d, want %d", tc.env, got, tc.wantPercent)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
			t.Errorf("with %v: memory limit %d, want %d", tc.env, got, tc.wantLimit)
		}
	}
}
