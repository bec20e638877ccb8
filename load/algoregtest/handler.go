package algoregtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// maxBody is the largest request body the Handler reads; larger ones get 413.
const maxBody = 32 << 20

// Handler serves the Save customers endpoint from an in-memory store. It is
// safe for concurrent use and needs no *testing.T: a command can serve it
// with http.Server{Handler: NewHandler(token)}.
type Handler struct {
	token string

	mu          sync.Mutex
	customers   map[string]load.Customer
	ids         map[string]int64 // customer_id of each stored customer
	relations   map[string]load.Relation
	lastID      int64
	requests    int
	received    int
	riskScan    []bool
	beforeSave  func(*load.SaveRequest)
	faults      []Fault
	outage      Fault // served to calls until outageUntil (FailFor)
	outageUntil time.Time
	// outagePending is the length of an outage that starts with the next
	// call (FailFromFirstCall); 0 when none is pending.
	outagePending time.Duration

	// Programmatic users, tokens given out, and what was seen of them.
	authOpts      AuthOptions
	users         map[string]*user
	tokens        map[string]time.Time // expiry of each token given out
	tokenRequests int
	failedLogins  int
	unauthorized  int
	userAgents    []string

	// Set by SetFaults, Poison and SetFast.
	cfg      Faults
	rng      *rand.Rand // draws the random faults of cfg
	poisoned map[string]string
	fast     bool

	// Traffic, for CallTimes and MaxInFlight.
	inFlight    int // calls inside ServeHTTP
	admitted    int // calls inside ServeHTTP past the cap of cfg.MaxConcurrent
	maxInFlight int
	times       callTimes
	calls       callRing  // for Calls
	callLog     io.Writer // nil: no call log (SetCallLog)
	logMu       sync.Mutex
}

// NewHandler returns a Handler with an empty store that accepts calls
// bearing token ("" for none), and programmatic users once AddUser adds
// them.
func NewHandler(token string) *Handler {
	h := &Handler{token: token, users: make(map[string]*user)}
	h.Reset()
	return h
}

// Reset empties the store, zeroes the counters, forgets the tokens given
// out, unlocks every account, and drops the hook and any queued faults, as
// if the Handler were new; the token, the users and the AuthOptions are
// kept.
func (h *Handler) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tokens = make(map[string]time.Time)
	h.tokenRequests, h.failedLogins, h.unauthorized = 0, 0, 0
	h.userAgents = nil
	for _, u := range h.users {
		u.failed, u.locked = 0, false
	}
	h.customers = make(map[string]load.Customer)
	h.ids = make(map[string]int64)
	h.relations = make(map[string]load.Relation)
	h.lastID = 0
	h.requests = 0
	h.received = 0
	h.riskScan = nil
	h.beforeSave = nil
	h.faults = nil
	h.outage, h.outageUntil, h.outagePending = Fault{}, time.Time{}, 0
	h.setFaultsLocked(Faults{})
	h.poisoned = nil
	h.fast = false
	h.maxInFlight = h.inFlight // calls in progress still leave
	h.times = callTimes{}
	h.calls = callRing{}
}

// SetBeforeSave sets a hook called with each call that decoded, before it is
// checked and stored (nil removes it). The hook runs without the Handler's
// lock, so it may block or sleep, for example to make chunks complete out of
// order; it must not modify the request. A Server cannot close while a hook
// blocks: release it before the test ends.
func (h *Handler) SetBeforeSave(f func(*load.SaveRequest)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeSave = f
}

// Customers returns a copy of the stored customers by external_id.
func (h *Handler) Customers() map[string]load.Customer {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]load.Customer, len(h.customers))
	for id, c := range h.customers {
		m[id] = clone(c)
	}
	return m
}

// Customer returns a copy of the stored customer with the given external_id.
func (h *Handler) Customer(externalID string) (load.Customer, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.customers[externalID]
	return clone(c), ok
}

// Relations returns a copy of the stored relations by relation_external_id.
func (h *Handler) Relations() map[string]load.Relation {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]load.Relation, len(h.relations))
	for id, r := range h.relations {
		m[id] = clone(r)
	}
	return m
}

// Requests reports how many calls the Handler has answered, whatever the
// path, method or status, faults included, except calls to the token
// endpoint (see TokenRequests).
func (h *Handler) Requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests
}

// Received reports how many customers arrived in accepted calls (status 200,
// verify_input calls included, and calls whose answer a Fault with AfterSave
// replaced), counting every customer of the call, whether it passed or not,
// and counting a customer sent twice twice.
func (h *Handler) Received() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.received
}

// RiskScanFlags returns the disable_risk_scan value of each accepted call
// (as counted by Received), in the order the calls were handled.
func (h *Handler) RiskScanFlags() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.riskScan...)
}

// ServeHTTP answers one call as the package documentation describes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == load.TokenPath {
		h.serveToken(w, r)
		return
	}
	arrived := h.enter()
	sw := &statusWriter{ResponseWriter: w}
	body := &countingReader{ReadCloser: r.Body}
	r.Body = body
	c := Call{Time: arrived, Method: r.Method, Path: r.URL.Path}
	defer func() { // also when an Abort fault panics
		c.Status, c.Bytes = sw.status, body.n
		c.Millis = float64(time.Since(arrived).Microseconds()) / 1000
		switch c.Status {
		case http.StatusOK:
		case 0:
			c.Error = "connection dropped without an answer"
		default:
			c.Error = errorMessage(sw.body.Bytes())
		}
		h.record(c)
		h.leave(arrived)
	}()
	h.mu.Lock()
	h.noteUserAgent(r)
	h.mu.Unlock()
	h.serve(sw, r, &c)
}

// serve answers one call, noting in c what it held.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, c *Call) {
	switch {
	case r.URL.Path != load.SavePath:
		h.fail(w, r, http.StatusNotFound, "NOT_FOUND", "not_found", "no such endpoint: "+r.URL.Path)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method_not_allowed", "method "+r.Method+" is not allowed; use POST")
		return
	}
	if status, code, msg := h.authorize(r); status != 0 {
		h.mu.Lock()
		h.unauthorized++
		h.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="algoreg"`)
		h.fail(w, r, status, "UNAUTHORIZED", code, msg)
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		h.fail(w, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type", "Content-Type must be application/json")
		return
	}

	cfg, ok := h.admit()
	if !ok {
		discard(r)
		h.serveFault(w, Fault{StatusCode: http.StatusTooManyRequests, RetryAfter: retryAfterHeader(cfg.RetryAfter)})
		return
	}
	defer h.unadmit()
	if cfg.Latency > 0 {
		t := time.NewTimer(cfg.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done(): // the client left; answering is moot
			t.Stop()
		}
	}

	fault, faulted := h.takeFault()
	if !faulted {
		fault, faulted = h.randomFault()
	}
	if faulted && !fault.AfterSave {
		discard(r)
		h.serveFault(w, fault)
		return
	}

	status, ans := h.save(r, c)
	if a, ok := ans.(answer); ok {
		for _, d := range a.Detail {
			if len(d.Errors) > 0 {
				c.Rejected++
			} else if len(d.Warnings) > 0 {
				c.Warnings++
			}
		}
	}
	if faulted {
		h.serveFault(w, fault)
		return
	}
	h.write(w, status, ans)
}

// bodies holds request buffers for reuse: what is decoded from a body is
// copied out of it, so a buffer is free again once the call is decoded.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// save reads, checks and applies one call, and returns the status and body
// of its answer; it notes in rec what the body held.
func (h *Handler) save(r *http.Request, rec *Call) (int, any) {
	buf := bodies.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxBody/4 { // do not pin a huge buffer
			buf.Reset()
			bodies.Put(buf)
		}
	}()
	buf.Reset()
	if n := r.ContentLength; n > 0 && n <= maxBody {
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r.Body, maxBody+1)); err != nil {
		return http.StatusBadRequest, errorBody("BAD_REQUEST", "unreadable_body", "reading the body: "+err.Error())
	}
	body := buf.Bytes()
	if len(body) > maxBody {
		discard(r)
		return http.StatusRequestEntityTooLarge, errorBody("REQUEST_TOO_LARGE", "body_too_large", "the body is larger than 32 MiB")
	}

	h.mu.Lock()
	fast, maxRecords, poisoned := h.fast, h.cfg.MaxRecords, len(h.poisoned) > 0
	h.mu.Unlock()

	var (
		c   *call
		err error
	)
	if fast {
		c, err = decodeFast(body)
	} else {
		c, err = decode(body)
	}
	if err != nil {
		return http.StatusBadRequest, errorBody("INVALID_INPUT", "invalid_body", err.Error())
	}
	rec.Customers, rec.Relations = len(c.req.Customers), len(c.req.Relations)
	// Copies: a pointer into c.req would keep the whole decoded body alive
	// for as long as the call is listed.
	disable, verify := c.req.DisableRiskScan, c.req.VerifyInput
	rec.DisableRiskScan, rec.VerifyInput = &disable, &verify
	if n := len(c.req.Customers) + len(c.req.Relations); maxRecords > 0 && n > maxRecords {
		return http.StatusRequestEntityTooLarge, errorBody("REQUEST_TOO_LARGE", "too_many_records",
			fmt.Sprintf("the call holds %d customers and relations; at most %d are accepted", n, maxRecords))
	}
	if poisoned {
		if where, id, msg, ok := h.poisonIn(c.req); ok {
			return http.StatusBadRequest, errorBody("INVALID_INPUT", CodePoisoned,
				fmt.Sprintf("%s %s is refused: %s", where, quote(id), msg))
		}
	}

	h.mu.Lock()
	hook := h.beforeSave
	h.mu.Unlock()
	if hook != nil {
		hook(c.req)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	var ans answer
	if fast {
		ans = answer{Added: []added{}, Detail: []load.Detail{}, Status: StatusOK, VerifyInput: c.req.VerifyInput}
	} else {
		ans = h.apply(c)
	}
	h.received += len(c.req.Customers)
	h.riskScan = append(h.riskScan, c.req.DisableRiskScan)
	return http.StatusOK, ans
}

// isJSON reports whether a Content-Type header names application/json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// fail answers with status and an errors body of a deprecated v1 item and a
// current v2 item.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, v1Code, v2Code, message string) {
	discard(r)
	h.write(w, status, errorBody(v1Code, v2Code, message))
}

// errorBody builds the body of an answer other than 200: like the real API,
// an older, deprecated item with a terse message first, then the current
// item with the full message.
func errorBody(v1Code, v2Code, message string) load.ErrorBody {
	return load.ErrorBody{Errors: []load.ErrorItem{
		{Code: v1Code, Message: strings.ToLower(strings.ReplaceAll(v1Code, "_", " ")), Deprecated: true},
		{Code: v2Code, Message: message},
	}}
}

// write counts the call and answers it with status and v as JSON.
func (h *Handler) write(w http.ResponseWriter, status int, v any) {
	h.count()
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(errorBody("INTERNAL", "internal", "encoding the answer: "+err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// count records one answered call.
func (h *Handler) count() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
}

// discard reads what is left of the body, so the client can finish writing
// it and keep its connection.
func discard(r *http.Request) {
	io.Copy(io.Discard, io.LimitReader(r.Body, maxBody))
}

// CustomerID returns the customer_id given to the stored customer with the
// given external_id.
func (h *Handler) CustomerID(externalID string) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.ids[externalID]
	return id, ok
}
