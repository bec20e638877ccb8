package algoregtest

import (
	"testing"
	"time"
)

func TestCallTimesRing(t *testing.T) {
	var c callTimes
	base := time.Unix(0, 0)
	const n = maxCallTimes + 10
	for i := range n {
		c.add(base.Add(time.Duration(i)))
	}
	if len(c.ring) != maxCallTimes {
		t.Fatalf("kept %d times, want %d", len(c.ring), maxCallTimes)
	}
	oldest := base.Add(n - maxCallTimes)
	for _, tm := range c.ring {
		if tm.Before(oldest) {
			t.Fatalf("kept %v, older than the latest %d", tm, maxCallTimes)
		}
	}
}
