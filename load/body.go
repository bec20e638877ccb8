package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
)

// encoder is a reusable request buffer.
type encoder struct {
	buf bytes.Buffer
}

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// requestBody is the body of one call: an io.ReadCloser over a pooled
// buffer that goes back to the pool when the transport closes it.
//
// net/http may close a request body from another goroutine, possibly after
// Do has returned and possibly more than once, so the buffer is handed back
// exactly once, under a lock, and reading after Close fails instead of
// seeing another call's bytes.
type requestBody struct {
	mu sync.Mutex
	e  *encoder // nil once closed
	n  int
}

var errBodyClosed = errors.New("algoreg save: request body read after close")

// encodeRequest encodes req into a pooled buffer, as encoding/json encodes
// a SaveRequest without HTML escaping; records with their Encoded set are
// carried as they are.
func encodeRequest(req *SaveRequest) (*requestBody, error) {
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	if err := writeRequest(e, req); err != nil {
		release(e)
		return nil, err
	}
	return &requestBody{e: e, n: e.buf.Len()}, nil
}

// writeRequest writes req, and the newline json.Encoder ends a value with,
// to e's buffer.
func writeRequest(e *encoder, req *SaveRequest) error {
	buf := &e.buf
	buf.WriteByte('{')
	err := writeRecords(e, `"customers":[`, req.Customers, func(c *Customer) json.RawMessage { return c.Encoded }, AppendCustomer)
	if err != nil {
		return err
	}
	err = writeRecords(e, `"relations":[`, req.Relations, func(r *Relation) json.RawMessage { return r.Encoded }, AppendRelation)
	if err != nil {
		return err
	}
	buf.WriteString(`"disable_risk_scan":`)
	buf.WriteString(strconv.FormatBool(req.DisableRiskScan))
	buf.WriteString(`,"verify_input":`)
	buf.WriteString(strconv.FormatBool(req.VerifyInput))
	buf.WriteString("}\n")
	return nil
}

// writeRecords writes a non-empty list of records after its opening, then
// a comma: each record's encoding when it has one (encoded), else the
// record encoded by appendRecord. An empty list is omitted.
func writeRecords[T any](e *encoder, opening string, recs []T, encoded func(*T) json.RawMessage,
	appendRecord func([]byte, *T) ([]byte, error)) error {
	if len(recs) == 0 {
		return nil
	}
	e.buf.WriteString(opening)
	for i := range recs {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		if b := encoded(&recs[i]); b != nil {
			e.buf.Write(b)
			continue
		}
		b, err := appendRecord(e.buf.AvailableBuffer(), &recs[i])
		if err != nil {
			return err
		}
		e.buf.Write(b)
	}
	e.buf.WriteString("],")
	return nil
}

// Len reports the encoded length.
func (b *requestBody) Len() int { return b.n }

// Read reads the encoded request.
func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.e == nil {
		return 0, errBodyClosed
	}
	return b.e.buf.Read(p)
}

// Close hands the buffer back to the pool; later calls do nothing.
func (b *requestBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.e != nil {
		release(b.e)
		b.e = nil
	}
	return nil
}

// release returns e to the pool unless its buffer grew too large to keep.
func release(e *encoder) {
	if e.buf.Cap() > maxPooledBuffer {
		return
	}
	e.buf.Reset()
	encoders.Put(e)
}
