package algoregtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// maxCalls is the number of calls Calls keeps.
const maxCalls = 10_000

// InspectPrefix is the path under which Inspector serves its listings.
const InspectPrefix = "/_sandbox/"

// Call is one call the Handler answered, as Calls lists it and the call
// log writes it.
type Call struct {
	Time      time.Time `json:"time"` // when it arrived
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status"`      // of the answer; 0 for a dropped connection
	Bytes     int64     `json:"bytes"`       // of the request body as read
	Customers int       `json:"customers"`   // in the body, once decoded
	Relations int       `json:"relations"`   // in the body, once decoded
	Rejected  int       `json:"rejected"`    // records of a 200 answer whose detail holds errors
	Warnings  int       `json:"warnings"`    // records of a 200 answer whose detail holds only warnings
	Millis    float64   `json:"duration_ms"` // from arrival to answer, latency faults included
	// DisableRiskScan and VerifyInput are the body's flags; nil when the
	// body was not decoded (a fault served first, a malformed body).
	DisableRiskScan *bool `json:"disable_risk_scan,omitempty"`
	VerifyInput     *bool `json:"verify_input,omitempty"`
	// Error is the current (not deprecated) message of an answer other
	// than 200.
	Error string `json:"error,omitempty"`
}

// callRing keeps the latest calls.
type callRing struct {
	ring []Call
	next int // where the next call goes once the ring is full
}

func (c *callRing) add(call Call) {
	if len(c.ring) < maxCalls {
		c.ring = append(c.ring, call)
		return
	}
	c.ring[c.next] = call
	c.next = (c.next + 1) % maxCalls
}

// Calls returns the latest 10,000 calls the Handler answered, whatever
// their path or status, in the order they were answered.
func (h *Handler) Calls() []Call {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Call, 0, len(h.calls.ring))
	out = append(out, h.calls.ring[h.calls.next:]...)
	return append(out, h.calls.ring[:h.calls.next]...)
}

// SetCallLog makes the Handler write each call it answers to w, as one
// JSON object (a Call) per line, in the order they are answered; nil stops
// it. Writes are serialised; an error writing stops the log.
func (h *Handler) SetCallLog(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.callLog = w
}

// record keeps c and writes it to the call log. h.mu must not be held.
func (h *Handler) record(c Call) {
	h.mu.Lock()
	h.calls.add(c)
	log := h.callLog
	h.mu.Unlock()
	if log == nil {
		return
	}
	line, err := json.Marshal(c)
	if err != nil {
		return
	}
	h.logMu.Lock()
	defer h.logMu.Unlock()
	if _, err := log.Write(append(line, '\n')); err != nil {
		h.mu.Lock()
		if h.callLog == log {
			h.callLog = nil
		}
		h.mu.Unlock()
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer // of an answer other than 200, for Call.Error
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status != http.StatusOK && w.body.Len() < 4096 {
		w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	io.ReadCloser
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n += int64(n)
	return n, err
}

// errorMessage returns the current message of an errors body.
func errorMessage(body []byte) string {
	var e load.ErrorBody
	if json.Unmarshal(body, &e) != nil {
		return strings.TrimSpace(string(body))
	}
	for _, it := range e.Errors {
		if !it.Deprecated && !it.WillBeDeprecated {
			return it.Message
		}
	}
	if len(e.Errors) > 0 {
		return e.Errors[0].Message
	}
	return ""
}

// Inspector returns a read-only view of what h holds, for people checking a
// mapping: GET InspectPrefix+"customers" lists the stored customers (each
// with its customer_id) by external_id, "relations" the stored relations
// by relation_external_id, and "calls" the calls as Calls gives them. Each
// answer is a JSON array, one element per line. It asks for no token: serve
// it on loopback only. Other paths get 404, other methods 405.
func (h *Handler) Inspector() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+InspectPrefix+"customers", func(w http.ResponseWriter, r *http.Request) {
		type stored struct {
			CustomerID int64 `json:"customer_id"`
			load.Customer
		}
		h.mu.Lock()
		list := make([]stored, 0, len(h.customers))
		for id, c := range h.customers {
			list = append(list, stored{h.ids[id], clone(c)})
		}
		h.mu.Unlock()
		slices.SortFunc(list, func(a, b stored) int { return strings.Compare(a.ExternalID, b.ExternalID) })
		writeLines(w, list)
	})
	mux.HandleFunc("GET "+InspectPrefix+"relations", func(w http.ResponseWriter, r *http.Request) {
		rels := h.Relations()
		list := make([]load.Relation, 0, len(rels))
		for _, r := range rels {
			list = append(list, r)
		}
		slices.SortFunc(list, func(a, b load.Relation) int { return strings.Compare(a.RelationExternalID, b.RelationExternalID) })
		writeLines(w, list)
	})
	mux.HandleFunc("GET "+InspectPrefix+"calls", func(w http.ResponseWriter, r *http.Request) {
		writeLines(w, h.Calls())
	})
	return mux
}

// writeLines answers a JSON array of list, one element per line.
func writeLines[T any](w http.ResponseWriter, list []T) {
	var b bytes.Buffer
	b.WriteString("[")
	for i := range list {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n")
		line, err := json.Marshal(list[i])
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b.Write(line)
	}
	b.WriteString("\n]\n")
	w.Header().Set("Content-Type", "application/json")
	w.Write(b.Bytes())
}
