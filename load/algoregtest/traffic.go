package algoregtest

import (
	"slices"
	"time"
)

// maxCallTimes is the number of arrival times CallTimes keeps.
const maxCallTimes = 100_000

// callTimes is a ring of the latest arrival times.
type callTimes struct {
	ring []time.Time
	next int // where the next time goes once the ring is full
}

func (c *callTimes) add(t time.Time) {
	if len(c.ring) < maxCallTimes {
		c.ring = append(c.ring, t)
		return
	}
	c.ring[c.next] = t
	c.next = (c.next + 1) % maxCallTimes
}

// CallTimes returns the arrival times of the calls answered, the latest
// 100,000 at most, in order of arrival. A rate test reads the API's own
// view of the traffic from it.
func (h *Handler) CallTimes() []time.Time {
	h.mu.Lock()
	times := slices.Clone(h.times.ring)
	h.mu.Unlock()
	slices.SortFunc(times, time.Time.Compare)
	return times
}

// MaxInFlight reports the highest number of calls the Handler was serving
// at once, whatever their path or answer, since it was made or Reset.
func (h *Handler) MaxInFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxInFlight
}

// enter counts a call in and returns its arrival time.
func (h *Handler) enter() time.Time {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight++
	h.maxInFlight = max(h.maxInFlight, h.inFlight)
	return now
}

// leave counts a call out and records when it arrived.
func (h *Handler) leave(arrived time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inFlight--
	h.times.add(arrived)
}

// admit admits a call under the cap of Faults.MaxConcurrent, and returns
// the Faults in force. A call admitted must be let go with unadmit.
func (h *Handler) admit() (Faults, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.MaxConcurrent > 0 && h.admitted >= h.cfg.MaxConcurrent {
		return h.cfg, false
	}
	h.admitted++
	return h.cfg, true
}

func (h *Handler) unadmit() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.admitted--
}
