package algoregtest

import (
	"fmt"
	"net/http"
	"time"
)

// Fault is a failure the Handler serves to a call instead of its normal
// answer. Faults are taken by calls that pass routing and authentication, in
// the order they were queued.
type Fault struct {
	// StatusCode is the status of the answer; 0 means 500.
	StatusCode int
	// RetryAfter, if not empty, is sent as the Retry-After header: a number
	// of seconds or an HTTP-date.
	RetryAfter string
	// Body is the answer's body as is; nil gives an errors body with a
	// deprecated and a current item, like every other failure.
	Body []byte
	// Abort drops the connection without answering, as a crashed proxy
	// would; the client sees a network error. It needs a real server:
	// under httptest.ResponseRecorder the handler panics with
	// http.ErrAbortHandler.
	Abort bool
	// AfterSave handles the call in full first (checks, storing, counters)
	// and only then serves the fault, so the call's effect is kept while its
	// answer is lost, like a gateway timing out after the API committed.
	AfterSave bool
}

// FailNext queues f for the next n calls.
func (h *Handler) FailNext(n int, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for range n {
		h.faults = append(h.faults, f)
	}
}

// FailFor serves f to every call that arrives in the next d, as an API
// that is down for a while (a deploy, a restart) would; a later FailFor
// replaces it, and FailFor(0, f) ends it. Faults queued with FailNext come
// first.
func (h *Handler) FailFor(d time.Duration, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outage, h.outageUntil, h.outagePending = f, time.Now().Add(d), 0
}

// FailFromFirstCall is FailFor from the first Save customers call to
// arrive, rather than from now: an outage that the first calls of a run
// meet however long the run takes to start.
func (h *Handler) FailFromFirstCall(d time.Duration, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.outage, h.outageUntil, h.outagePending = f, time.Time{}, d
}

// takeFault removes and returns the first queued fault, if any, or else
// the fault of an outage in progress.
func (h *Handler) takeFault() (Fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.outagePending > 0 {
		h.outageUntil, h.outagePending = time.Now().Add(h.outagePending), 0
	}
	if len(h.faults) == 0 {
		if time.Now().Before(h.outageUntil) {
			return h.outage, true
		}
		return Fault{}, false
	}
	f := h.faults[0]
	h.faults = h.faults[1:]
	return f, true
}

// serveFault answers a call with f.
func (h *Handler) serveFault(w http.ResponseWriter, f Fault) {
	if f.Abort {
		h.count()
		panic(http.ErrAbortHandler)
	}
	status := f.StatusCode
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body == nil {
		h.write(w, status, errorBody(fmt.Sprintf("E%d", status), "injected_fault",
			fmt.Sprintf("injected fault: %d %s", status, http.StatusText(status))))
		return
	}
	h.count()
	w.WriteHeader(status)
	w.Write(f.Body)
}
