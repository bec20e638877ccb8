package pipeline_test

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// A simFault is what the simulated network or API does to one call.
type simFault int

const (
	faultNone    simFault = iota
	fault500              // 500 before the call is handled
	fault429              // 429 with Retry-After: 0 before the call is handled
	faultDrop             // the connection drops before the call is handled
	faultLost             // the call is stored, then the connection drops: the answer is lost
	fault504              // the call is stored, then a gateway answers 504
	faultTimeout          // the call is stored, then no answer comes until the client gives up
)

var faultNames = [...]string{"none", "500", "429", "drop", "lost", "504", "timeout"}

func (f simFault) String() string { return faultNames[f] }

// simCall is one call as the API saw it.
type simCall struct {
	step      int              // the schedule's step during which it arrived
	seq       int              // the order in which the sandbox handled the calls
	req       load.SaveRequest // as decoded
	fault     simFault
	stored    bool              // the sandbox stored the call's accepted records (200, not verify_input)
	delivered bool              // the client was given the sandbox's answer
	ans       load.SaveResponse // the sandbox's answer, when it answered 200
}

// accepted returns the external ids of the records a stored call accepted.
func (c *simCall) accepted() map[string]bool {
	refused := make(map[string]bool)
	for _, d := range c.ans.Detail {
		if len(d.Errors) > 0 {
			refused[d.ExternalID] = true
		}
	}
	out := make(map[string]bool)
	for _, cu := range c.req.Customers {
		if !refused[cu.ExternalID] {
			out[cu.ExternalID] = true
		}
	}
	for _, r := range c.req.Relations {
		if !refused[r.RelationExternalID] {
			out[r.RelationExternalID] = true
		}
	}
	return out
}

// simAPI stands between the pipeline and the sandbox (algoregtest): it logs
// every call with what became of it, and serves the faults of the current
// step. Whether a call meets a fault depends on the seed, the step, the
// records the call holds and how often a call holding them arrived before in
// the step, never on the order in which concurrent calls arrive: a seed
// replays the same faults.
type simAPI struct {
	sandbox *algoregtest.Server
	srv     *httptest.Server
	seed    uint64

	// saveMu makes the sandbox handle one call at a time (it does so
	// anyway, under its lock), so that seq is the order of its changes.
	saveMu sync.Mutex
	seq    int

	mu       sync.Mutex
	idle     *sync.Cond // signalled when a call leaves
	inFlight int
	step     int
	rate     float64    // the chance that a call meets a fault, this step
	kinds    []simFault // the faults it may meet
	arrived  map[string]int
	calls    []simCall
	n        int    // calls of this step
	stopAt   int    // stop the step's process at this call of the step; 0 never
	stopLate bool   // ... after the sandbox stored the call
	abort    bool   // ... and drop the call's connection (a killed process)
	stop     func() // stops the step's process
	stopped  bool
}

func newSimAPI(t *testing.T, seed uint64) *simAPI {
	a := &simAPI{sandbox: algoregtest.NewServer(t), seed: seed, arrived: make(map[string]int)}
	a.idle = sync.NewCond(&a.mu)
	a.srv = httptest.NewServer(a)
	t.Cleanup(a.srv.Close)
	return a
}

// client returns a client of the API with a short timeout, so that a call
// the API never answers fails fast.
func (a *simAPI) client() *load.Client {
	return load.NewClient(a.srv.URL, load.BearerToken(a.sandbox.Token), simHTTPClient())
}

func simHTTPClient() *http.Client { return &http.Client{Timeout: simCallTimeout} }

// simCallTimeout bounds one call; the timeout fault waits for it.
const simCallTimeout = 500 * time.Millisecond

// begin starts step: its faults, and a process to stop at its stopAt-th call.
func (a *simAPI) begin(step int, rate float64, kinds []simFault, stopAt int, stopLate, abort bool, stop func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step, a.rate, a.kinds = step, rate, kinds
	a.n, a.stopAt, a.stopLate, a.abort, a.stop, a.stopped = 0, stopAt, stopLate, abort, stop, false
	clear(a.arrived)
}

// end waits until no call is in flight (a killed process's calls included),
// and reports whether the step's process was stopped.
func (a *simAPI) end() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.inFlight > 0 {
		a.idle.Wait()
	}
	stopped := a.stopped
	a.rate, a.kinds, a.stopAt, a.stop = 0, nil, 0, nil
	return stopped
}

func (a *simAPI) log() []simCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// callKey names a call by its records.
func callKey(req *load.SaveRequest) string {
	ids := make([]string, 0, len(req.Customers)+len(req.Relations))
	for _, c := range req.Customers {
		ids = append(ids, "c:"+c.ExternalID)
	}
	for _, r := range req.Relations {
		ids = append(ids, "r:"+r.RelationExternalID)
	}
	return strconv.FormatBool(req.VerifyInput) + "|" + strings.Join(ids, ",")
}

func (a *simAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var req load.SaveRequest
	if r.URL.Path != load.SavePath || json.Unmarshal(body, &req) != nil {
		a.sandbox.ServeHTTP(w, r) // the sandbox refuses it as it should
		return
	}

	a.mu.Lock()
	a.inFlight++
	a.n++
	key := callKey(&req)
	seen := a.arrived[key]
	a.arrived[key]++
	call := simCall{step: a.step, req: req}
	if a.rate > 0 && len(a.kinds) > 0 {
		h := fnv.New64a()
		h.Write([]byte(key))
		rng := rand.New(rand.NewPCG(a.seed^h.Sum64(), uint64(a.step)<<32|uint64(seen)))
		if rng.Float64() < a.rate {
			call.fault = a.kinds[rng.IntN(len(a.kinds))]
		}
	}
	stopHere := a.stopAt > 0 && a.n == a.stopAt && !a.stopped
	stopLate, abort, stop := a.stopLate, a.abort, a.stop
	if stopHere {
		a.stopped = true
		call.fault = faultNone
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.calls = append(a.calls, call)
		a.inFlight--
		a.idle.Broadcast()
		a.mu.Unlock()
	}()

	if stopHere && !stopLate {
		stop()
		if abort {
			panic(http.ErrAbortHandler)
		}
	}
	switch call.fault {
	case fault500:
		writeFault(w, http.StatusInternalServerError)
		return
	case fault429:
		w.Header().Set("Retry-After", "0")
		writeFault(w, http.StatusTooManyRequests)
		return
	case faultDrop:
		panic(http.ErrAbortHandler)
	}

	rec := httptest.NewRecorder()
	a.saveMu.Lock()
	a.sandbox.ServeHTTP(rec, r)
	a.seq++
	call.seq = a.seq
	a.saveMu.Unlock()
	call.stored = rec.Code == http.StatusOK && !req.VerifyInput
	if rec.Code == http.StatusOK {
		json.Unmarshal(rec.Body.Bytes(), &call.ans)
	}
	if stopHere && stopLate {
		stop()
		if abort {
			panic(http.ErrAbortHandler)
		}
	}
	switch call.fault {
	case faultLost:
		panic(http.ErrAbortHandler)
	case fault504:
		writeFault(w, http.StatusGatewayTimeout)
		return
	case faultTimeout:
		select {
		case <-r.Context().Done():
		case <-time.After(3 * simCallTimeout):
		}
		panic(http.ErrAbortHandler)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, err = w.Write(rec.Body.Bytes())
	if f, ok := w.(http.Flusher); ok && err == nil {
		f.Flush()
	}
	// Delivered only if the client still waited once the answer was on
	// its way: a client that gave up (its call timed out on a loaded
	// machine) sends the call again, and the pipeline records the later
	// answer only.
	call.delivered = err == nil && r.Context().Err() == nil
}

// writeFault answers with status and an errors body shaped like the
// sandbox's own.
func writeFault(w http.ResponseWriter, status int) {
	b, _ := json.Marshal(load.ErrorBody{Errors: []load.ErrorItem{
		{Code: "E" + strconv.Itoa(status), Message: "injected fault", Deprecated: true},
		{Code: "injected_fault", Message: "injected fault: " + http.StatusText(status)},
	}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
