package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	// userAgent is sent with every call.
	userAgent = "algoreg-etl"

	// defaultTimeout bounds a whole call when NewClient is given no
	// *http.Client.
	defaultTimeout = 60 * time.Second

	// maxResponseBody is the most of an answer's body that is read. The
	// contract gives no limit; an answer lists at most one entry per record
	// sent, so 64 MiB is far more than any sane chunk produces.
	maxResponseBody = 64 << 20

	// maxPooledBuffer is the largest request buffer kept for reuse, so that
	// one huge call does not pin its memory for the life of the process.
	maxPooledBuffer = 16 << 20
)

// Client calls the Algoreg API. It is safe for concurrent use.
//
// The token is sent in the Authorization header of each call and nowhere
// else: it appears in no error, and String prints only the endpoint.
type Client struct {
	saveURL string
	token   string
	hc      *http.Client
}

// NewClient returns a Client for the API at baseURL (scheme and host, with an
// optional path prefix, without credentials) that authenticates with token.
// If hc is nil, the Client uses an *http.Client with a 60 second timeout.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	return &Client{
		saveURL: strings.TrimRight(baseURL, "/") + SavePath,
		token:   token,
		hc:      hc,
	}
}

// Endpoint returns the URL of the Save customers endpoint the client calls,
// with any password in it hidden.
func (c *Client) Endpoint() string {
	s := c.saveURL
	if u, err := url.Parse(s); err == nil {
		s = u.Redacted()
	}
	return s
}

// String describes the client by the endpoint it calls, never its token.
func (c *Client) String() string { return "load.Client(" + c.Endpoint() + ")" }

// GoString is String, so that %#v does not print the token either.
func (c *Client) GoString() string { return c.String() }

// Save sends req to the Save customers endpoint.
//
// A 200 answer is decoded into a SaveResponse, whose Detail may still hold
// per-record errors and warnings. Any other status gives an *APIError. Other
// errors (encoding, network, context, an unreadable answer) are wrapped so
// that errors.Is sees their cause, such as context.Canceled.
func (c *Client) Save(ctx context.Context, req *SaveRequest) (*SaveResponse, error) {
	if req == nil {
		return nil, errors.New("algoreg save: nil request")
	}
	body, err := encodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("algoreg save: encoding request: %w", encodeError{err})
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.saveURL, nil)
	if err != nil {
		body.Close()
		return nil, fmt.Errorf("algoreg save: building request: %w", err)
	}
	// GetBody stays nil: the buffer returns to its pool once the transport
	// closes the body, so the request must never be replayed by net/http
	// (a 307/308 redirect is answered as an *APIError instead). Retries are
	// the caller's business, with a fresh call to Save.
	hreq.Body = body
	hreq.ContentLength = int64(body.Len())
	hreq.Header.Set("Authorization", "Bearer "+c.token)
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", userAgent)

	resp, err := c.hc.Do(hreq)
	if err != nil {
		// *url.Error names the method and the URL, never the headers.
		return nil, fmt.Errorf("algoreg save: %w", err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, maxResponseBody)
	if err != nil {
		return nil, fmt.Errorf("algoreg save: reading %d answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := newAPIError(resp.StatusCode, resp.Header.Get("Retry-After"), data, time.Now())
		e.redact(c.token)
		return nil, e
	}
	return decodeResponse(data)
}

// encodeError marks a failure to encode a request, which no retry mends.
type encodeError struct{ err error }

func (e encodeError) Error() string { return e.err.Error() }
func (e encodeError) Unwrap() error { return e.err }

// errBodyTooLarge reports an answer longer than the client reads.
var errBodyTooLarge = errors.New("body too large")

// readBody reads all of r, failing if it holds more than limit bytes.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, limit)
	}
	return data, nil
}

// decodeResponse decodes the body of a 200 answer. Unknown fields are
// ignored, so that the API may add some; the body must be a JSON object.
func decodeResponse(data []byte) (*SaveResponse, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("algoreg save: decoding 200 answer: not a JSON object (%d bytes)", len(data))
	}
	var resp SaveResponse
	if err := json.Unmarshal(trimmed, &resp); err != nil {
		return nil, fmt.Errorf("algoreg save: decoding 200 answer (%d bytes): %w", len(data), err)
	}
	return &resp, nil
}
