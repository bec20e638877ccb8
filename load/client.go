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

	"github.com/algoreg/algoreg-etl/buildinfo"
)

const (
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

// Client calls the Algoreg API. It is safe for concurrent use, and meant to
// be shared by every caller in a process: its credentials are.
//
// With PasswordGrant, the Client fetches a token at the first call (or at
// Login), shares it among its callers, and fetches the next one in the
// background before it expires: after four fifths of its life (from
// expires_in, or DefaultTokenLifetime when the answer has none; at most 5
// minutes before the end), and stops sending it in the last twentieth (at
// most 30 seconds). Callers that find no usable token wait for one token
// call between them, never one each. A token the API refuses with 401 is
// dropped, so that the next call fetches a fresh one; the Sender makes the
// refused call once more, and a second 401 stops it with ErrUnauthorized.
//
// The token, the key and the Authorization header appear in no error and
// no log: String names only the endpoint and the user, and answers that
// echo a secret are redacted.
type Client struct {
	saveURL   string
	tokenURL  string
	auth      Auth
	cred      *credentials
	hc        *http.Client
	userAgent string
}

// NewClient returns a Client for the API at baseURL (scheme and host, with an
// optional path prefix, without credentials) that authenticates with auth.
// If hc is nil, the Client uses an *http.Client with a 60 second timeout
// (see NewHTTPClient for one with the proxy and TLS settings of a bank's
// network).
func NewClient(baseURL string, auth Auth, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	base := strings.TrimRight(baseURL, "/")
	c := &Client{
		saveURL:   base + SavePath,
		tokenURL:  base + TokenPath,
		auth:      auth,
		hc:        hc,
		userAgent: buildinfo.UserAgent(),
	}
	c.cred = &credentials{auth: auth, c: c, probe: make(chan struct{}, 1)}
	return c
}

// BaseURL returns the base URL of the API the client calls, as given to
// NewClient without a trailing '/': it names the tenant.
func (c *Client) BaseURL() string { return strings.TrimSuffix(c.saveURL, SavePath) }

// Endpoint returns the URL of the Save customers endpoint the client calls,
// with any password in it hidden.
func (c *Client) Endpoint() string {
	s := c.saveURL
	if u, err := url.Parse(s); err == nil {
		s = u.Redacted()
	}
	return s
}

// String describes the client by the endpoint it calls and the user it
// calls as, never its token or key.
func (c *Client) String() string { return "load.Client(" + c.Endpoint() + ", " + c.auth.String() + ")" }

// GoString is String, so that %#v does not print the token either.
func (c *Client) GoString() string { return c.String() }

// Auth returns how the Client authenticates.
func (c *Client) Auth() Auth { return c.auth }

// Login makes sure the Client holds credentials the API accepts before the
// first call: with PasswordGrant it fetches a token, unless it holds one
// that is still fresh; with a bearer token or Basic auth it does nothing
// (they are proven by the first call). An error wrapping ErrUnauthorized
// names the user; the Client then makes no other login.
func (c *Client) Login(ctx context.Context) error {
	if c.auth.scheme != schemePassword {
		return nil
	}
	_, err := c.cred.authorizeToken(ctx)
	return err
}

// Save sends req to the Save customers endpoint, in one HTTP call.
//
// A 200 answer is decoded into a SaveResponse, whose Detail may still hold
// per-record errors and warnings. Any other status gives an error that
// errors.As finds an *APIError in. A 401 or 403 that no new token can mend
// wraps ErrUnauthorized; a 401 to a token the Client has since dropped may
// be made again at once, once (the Sender does). A failed login gives the
// login's error. Other errors (encoding, network, context, an unreadable
// answer) are wrapped so that errors.Is sees their cause, such as
// context.Canceled.
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
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	auth, err := c.cred.authorize(ctx)
	if err != nil {
		body.Close()
		return nil, err
	}
	if auth.header != "" {
		hreq.Header.Set("Authorization", auth.header)
	}

	resp, err := c.hc.Do(hreq)
	if err != nil {
		c.cred.answered(auth, 0, nil)
		// *url.Error names the method and the URL, never the headers.
		return nil, fmt.Errorf("algoreg save: %w", err)
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, maxResponseBody)
	if err != nil {
		c.cred.answered(auth, 0, nil)
		return nil, fmt.Errorf("algoreg save: reading %d answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := newAPIError(resp.StatusCode, resp.Header.Get("Retry-After"), data, time.Now())
		e.redact(append(c.auth.secrets(), strings.TrimPrefix(strings.TrimPrefix(auth.header, "Bearer "), "Basic "))...)
		if err := c.cred.answered(auth, resp.StatusCode, e); err != nil {
			return nil, err
		}
		return nil, e
	}
	c.cred.answered(auth, resp.StatusCode, nil)
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
