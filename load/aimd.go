package load

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// AIMDOptions bounds the adaptive concurrency of a Sender.
//
// The Sender finds how many calls the API takes at once the way TCP
// congestion control finds a window (additive increase, multiplicative
// decrease; Jacobson, "Congestion Avoidance and Control", 1988), as
// Netflix's concurrency-limits library does for RPC clients
// (github.com/Netflix/concurrency-limits, AIMDLimit):
//
//   - Increase: after as many successful calls in a row as the limit (one
//     "window"), the limit grows by one, if the calls kept it at least half
//     used (an idle sender learns nothing about the API).
//   - Decrease: a 429, 408, 5xx or timeout, or a smoothed latency over twice
//     the lowest latency of the last 100 to 200 successful chunks, halves
//     the limit (rounding up), never below Min. Failures of calls that were
//     already in flight when the limit was last cut are the same overload
//     and do not cut it again, so a burst of 429s counts once.
//
// The latency is smoothed as TCP smooths its round-trip time (RFC 6298:
// each sample moves it by 1/8), so that one slow call, a pause of the
// garbage collector, does not cut the limit, while a lasting slowdown does.
// It is learnt from whole chunks only: the calls of a split chunk are
// smaller and faster, and would set a floor that full chunks never meet.
type AIMDOptions struct {
	Min     int // the lowest limit; 0 or less means 1
	Max     int // the highest limit; 0 or less means 64
	Initial int // the first limit; 0 or less means 2
}

// signal is what one call says about the API's load.
type signal int

const (
	neutral  signal = iota // nothing: a refusal, a cancellation
	success                // a 200
	overload               // a 429, 408, 5xx or timeout
)

// floorEpoch is the number of latency samples after which the older half
// of the latency floor's memory is forgotten.
const floorEpoch = 100

// gate bounds the calls in flight to a limit, fixed or adapted by AIMD.
// Waiters are let in in the order they came.
type gate struct {
	mu       sync.Mutex
	limit    int
	inFlight int
	waiters  list.List // of *waiter

	adaptive  bool
	min, max  int
	seq       uint64 // calls let in so far
	cutSeq    uint64 // calls let in before the last decrease
	successes int    // successful calls since the last change
	floor     latencyFloor
	srtt      time.Duration // smoothed latency of whole chunks
}

// ticket is a call's place in the gate.
type ticket struct {
	seq      uint64 // the call's number
	inFlight int    // calls in flight when it was let in, itself included
}

type waiter struct {
	ready chan struct{} // closed once let in
	t     ticket        // set before ready is closed
}

func newGate(limit int) *gate { return &gate{limit: limit} }

func newAIMDGate(o AIMDOptions) *gate {
	if o.Min <= 0 {
		o.Min = 1
	}
	if o.Max <= 0 {
		o.Max = 64
	}
	o.Max = max(o.Max, o.Min)
	if o.Initial <= 0 {
		o.Initial = 2
	}
	return &gate{limit: min(max(o.Initial, o.Min), o.Max), adaptive: true, min: o.Min, max: o.Max}
}

// Limit reports the current limit.
func (g *gate) Limit() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.limit
}

// acquire waits for a place, or until ctx is done.
func (g *gate) acquire(ctx context.Context) (ticket, error) {
	g.mu.Lock()
	if g.inFlight < g.limit && g.waiters.Len() == 0 {
		t := g.admitLocked()
		g.mu.Unlock()
		return t, nil
	}
	w := &waiter{ready: make(chan struct{})}
	elem := g.waiters.PushBack(w)
	g.mu.Unlock()

	select {
	case <-w.ready:
		return w.t, nil
	case <-ctx.Done():
		g.mu.Lock()
		defer g.mu.Unlock()
		select {
		case <-w.ready: // let in meanwhile: give the place back
			g.inFlight--
			g.wakeLocked()
		default:
			g.waiters.Remove(elem)
		}
		return ticket{}, ctx.Err()
	}
}

// release gives back the place of a call that ended with sig after the
// given latency, which teaches the limit if sample is true.
func (g *gate) release(t ticket, sig signal, latency time.Duration, sample bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inFlight--
	if g.adaptive {
		g.adaptLocked(t, sig, latency, sample)
	}
	g.wakeLocked()
}

// adaptLocked applies AIMD to the limit; see AIMDOptions.
func (g *gate) adaptLocked(t ticket, sig signal, latency time.Duration, sample bool) {
	if sig == success && sample {
		g.floor.add(latency)
		if g.srtt == 0 {
			g.srtt = latency
		} else {
			g.srtt += (latency - g.srtt) / 8
		}
		if g.srtt > 2*g.floor.get() {
			sig = overload
		}
	}
	switch sig {
	case overload:
		g.successes = 0
		if t.seq < g.cutSeq {
			return // in flight at the last decrease: the same overload
		}
		g.limit = max(g.min, (g.limit+1)/2)
		g.cutSeq = g.seq
	case success:
		if 2*t.inFlight < g.limit {
			return // the limit was not in use: no evidence it can grow
		}
		if g.successes++; g.successes >= g.limit {
			g.limit = min(g.max, g.limit+1)
			g.successes = 0
		}
	}
}

func (g *gate) admitLocked() ticket {
	g.inFlight++
	t := ticket{seq: g.seq, inFlight: g.inFlight}
	g.seq++
	return t
}

// wakeLocked lets waiters in while there is room.
func (g *gate) wakeLocked() {
	for g.inFlight < g.limit && g.waiters.Len() > 0 {
		w := g.waiters.Remove(g.waiters.Front()).(*waiter)
		w.t = g.admitLocked()
		close(w.ready)
	}
}

// latencyFloor is the lowest latency of the last floorEpoch to
// 2×floorEpoch samples: the minimum of the current epoch and the one before,
// so that it rises again when the API gets slower for good.
type latencyFloor struct {
	cur, prev time.Duration // 0: no sample
	n         int           // samples in cur
}

func (f *latencyFloor) get() time.Duration {
	switch {
	case f.prev == 0:
		return f.cur
	case f.cur == 0:
		return f.prev
	}
	return min(f.cur, f.prev)
}

func (f *latencyFloor) add(d time.Duration) {
	d = max(d, 1) // 0 means none
	if f.cur == 0 || d < f.cur {
		f.cur = d
	}
	if f.n++; f.n == floorEpoch {
		f.prev, f.cur, f.n = f.cur, 0, 0
	}
}
