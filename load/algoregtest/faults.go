package algoregtest

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// CodePoisoned is the code of the current error item in the 400 answer to a
// call holding a record marked with Poison.
const CodePoisoned = "poisoned_record"

// Faults describes how the Handler misbehaves under load, for every call
// from the moment SetFaults is called. The zero value misbehaves in no way.
//
// A call that passes routing and authentication meets the faults in this
// order: the concurrency cap (MaxConcurrent), the added Latency, the faults
// queued with FailNext, the random 500s and 429s (drawn only when no queued
// fault was taken), and, once the body is decoded, the record limit
// (MaxRecords) and the records marked with Poison.
type Faults struct {
	// Latency is added to every call admitted under MaxConcurrent, before
	// it is handled. A call refused for the cap is answered at once, as a
	// load shedder would.
	Latency time.Duration
	// Rate500 is the fraction of calls answered 500 before processing.
	Rate500 float64
	// Rate429 is the fraction of calls answered 429, with a Retry-After
	// header, before processing.
	Rate429 float64
	// RetryAfter is the Retry-After of every 429 answer (random or for the
	// cap), sent in whole seconds rounded up; 0 sends "0".
	RetryAfter time.Duration
	// MaxConcurrent, if positive, is the most calls handled at once: a call
	// arriving while that many are admitted gets 429 at once.
	MaxConcurrent int
	// MaxRecords, if positive, is the most customers and relations one call
	// may hold; a call holding more gets 413 and is not processed.
	MaxRecords int
	// Seed seeds the draws of Rate500 and Rate429, so that a test making
	// its calls one at a time sees the same faults on every run.
	Seed uint64
}

// SetFaults replaces the Handler's faults with f; SetFaults(Faults{}) turns
// them off. Faults queued with FailNext and poisoned ids are kept.
func (h *Handler) SetFaults(f Faults) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setFaultsLocked(f)
}

func (h *Handler) setFaultsLocked(f Faults) {
	h.cfg = f
	h.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
}

// Poison makes the Handler refuse, whole, any call holding a customer whose
// external_id or a relation whose relation_external_id is externalID
// (either kind: the id is looked for among both): the
// call gets 400 with an errors body whose current item (code CodePoisoned)
// names the record and carries message, and nothing of it is stored. This
// stands in for a record that makes the real API reject a whole call, so
// that a client's way of isolating it can be tested. It lasts until
// Unpoison or Reset.
func (h *Handler) Poison(externalID, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.poisoned == nil {
		h.poisoned = make(map[string]string)
	}
	h.poisoned[externalID] = message
}

// Unpoison undoes Poison for externalID.
func (h *Handler) Unpoison(externalID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.poisoned, externalID)
}

// poisonIn returns the first poisoned record of req: where it is, its id and
// the message it was poisoned with.
func (h *Handler) poisonIn(req *load.SaveRequest) (where, id, message string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range req.Customers {
		if msg, ok := h.poisoned[req.Customers[i].ExternalID]; ok {
			return "customers[" + strconv.Itoa(i) + "] external_id", req.Customers[i].ExternalID, msg, true
		}
	}
	for i := range req.Relations {
		if msg, ok := h.poisoned[req.Relations[i].RelationExternalID]; ok {
			return "relations[" + strconv.Itoa(i) + "] relation_external_id", req.Relations[i].RelationExternalID, msg, true
		}
	}
	return "", "", "", false
}

// randomFault draws the fault, if any, that the fractions of the Faults
// give the current call.
func (h *Handler) randomFault() (Fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.Rate500 <= 0 && h.cfg.Rate429 <= 0 {
		return Fault{}, false
	}
	switch u := h.rng.Float64(); {
	case u < h.cfg.Rate500:
		return Fault{StatusCode: http.StatusInternalServerError}, true
	case u < h.cfg.Rate500+h.cfg.Rate429:
		return Fault{StatusCode: http.StatusTooManyRequests, RetryAfter: retryAfterHeader(h.cfg.RetryAfter)}, true
	}
	return Fault{}, false
}

// retryAfterHeader writes d as a Retry-After value: whole seconds, rounded
// up.
func retryAfterHeader(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}
