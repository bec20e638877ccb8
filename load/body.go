package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"sync"
)

// encoder is a reusable request buffer with its JSON encoder.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false) // names may hold & < >; no HTML reads this
	return e
}}

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

// encodeRequest encodes req into a pooled buffer.
func encodeRequest(req *SaveRequest) (*requestBody, error) {
	e := encoders.Get().(*encoder)
	e.buf.Reset()
	if err := e.enc.Encode(req); err != nil {
		release(e)
		return nil, err
	}
	return &requestBody{e: e, n: e.buf.Len()}, nil
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
