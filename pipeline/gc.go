package pipeline

import (
	"os"
	"runtime/debug"
)

// The garbage collector's settings, unless GOGC or GOMEMLIMIT set them.
//
// A run's heap is mostly short-lived: rows read, customers mapped and
// encoded, requests and answers, a few chunks at a time. With Go's default
// (GOGC=100) the collector runs each time the heap has doubled and took
// about a quarter of a backfill's CPU. Letting the heap grow further
// between collections costs memory; the soft memory limit keeps the
// runtime's memory, heap and the rest, near it, whatever the collection
// percentage would allow.
const (
	gcPercent   = 400      // GOGC: collect when the heap has grown by 400% since the last collection
	memoryLimit = 40 << 20 // GOMEMLIMIT: 40 MiB
)

// TuneGC sets the collector's percentage and soft memory limit to
// gcPercent and memoryLimit, each unless its environment variable (GOGC,
// GOMEMLIMIT), which the runtime has read, is set. A program that runs
// pipelines (algoreg-etl, and the bench's profiled child) calls it first.
func TuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(memoryLimit)
	}
}
