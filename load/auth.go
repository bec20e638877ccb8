package load

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// TokenPath is the path, under the API's base URL, of the token endpoint of
// the OAuth2 password grant.
const TokenPath = "/api/v1/token"

// DefaultTokenLifetime is how long a token is taken to be valid when the
// token endpoint's answer has no expires_in: the vendor documents one hour.
const DefaultTokenLifetime = time.Hour

// ErrUnauthorized is wrapped by the errors of calls whose credentials the
// API refused: a login answered with a 4xx status other than 408 and 429,
// or a Save answered 401 (or 403) with credentials that cannot be renewed:
// a static token, Basic credentials, or a token fetched just before. No
// retry can mend it; a run that meets it stops.
//
// A Client whose login was refused makes no other login: too many logins
// with a wrong key lock the programmatic user's account. Every later call
// of that Client fails at once with the same error.
var ErrUnauthorized = errors.New("the API refused the credentials")

// errTokenDropped marks a 401 answered to a token that has since been
// dropped: the call may be made once more, at once, with a fresh token.
var errTokenDropped = errors.New("the token was dropped; the next call fetches a fresh one")

// scheme is how an Auth authenticates.
type scheme int

const (
	schemeNone     scheme = iota // no Authorization header
	schemeBearer                 // a static bearer token
	schemeBasic                  // Basic username:key on every call
	schemePassword               // OAuth2 password grant, then Bearer
)

// Auth says how a Client proves who it is: with BearerToken, BasicAuth or
// PasswordGrant. The zero Auth sends no credentials. Every way of printing
// an Auth (fmt, log/slog, encoding/json) shows the scheme and the user,
// never the token or the key.
type Auth struct {
	scheme   scheme
	username string
	secret   string // the token or the key
}

// BearerToken authenticates every call with "Authorization: Bearer token":
// a token obtained by other means, which the Client cannot renew.
func BearerToken(token string) Auth { return Auth{scheme: schemeBearer, secret: token} }

// BasicAuth authenticates every call with "Authorization: Basic" and the
// programmatic user's email and key, as the vendor's method 1. No token is
// fetched. Until the API has accepted the credentials once, the Client
// makes one call at a time, so that a wrong key costs one failed login,
// not one per call in flight.
func BasicAuth(username, key string) Auth {
	return Auth{scheme: schemeBasic, username: username, secret: key}
}

// PasswordGrant authenticates with the OAuth2 password grant, the vendor's
// recommended method 2: the Client posts the programmatic user's email and
// key to TokenPath and sends the token it gets as "Authorization: Bearer".
// The token is shared by every caller of the Client and renewed before it
// expires (see Client).
func PasswordGrant(username, key string) Auth {
	return Auth{scheme: schemePassword, username: username, secret: key}
}

// Username returns the programmatic user's email; "" for a bearer token.
func (a Auth) Username() string { return a.username }

// String names the scheme and the user, never the secret:
// `oauth2 password grant as "etl@bank.example"`.
func (a Auth) String() string {
	switch a.scheme {
	case schemeBearer:
		return "bearer token [redacted]"
	case schemeBasic:
		return fmt.Sprintf("basic auth as %q", a.username)
	case schemePassword:
		return fmt.Sprintf("oauth2 password grant as %q", a.username)
	}
	return "no credentials"
}

// Format writes String whatever the verb, so that no verb shows the secret.
func (a Auth) Format(f fmt.State, verb rune) { io.WriteString(f, a.String()) }

// LogValue gives String to log/slog.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// MarshalJSON gives String as a JSON string.
func (a Auth) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// who names the credentials in messages.
func (a Auth) who() string {
	switch a.scheme {
	case schemeBearer:
		return "the static token"
	case schemeBasic:
		return fmt.Sprintf("the Basic credentials of programmatic user %q", a.username)
	case schemePassword:
		return fmt.Sprintf("the token of programmatic user %q", a.username)
	}
	return "a call without credentials"
}

// secrets returns what an answer must never be shown with: the key or
// token, and the Basic header's encoding of it.
func (a Auth) secrets() []string {
	switch a.scheme {
	case schemeBasic:
		return []string{a.secret, basicValue(a.username, a.secret)}
	case schemeBearer, schemePassword:
		return []string{a.secret}
	}
	return nil
}

func basicValue(username, key string) string {
	return base64.StdEncoding.EncodeToString([]byte(username + ":" + key))
}

// credentials is the state a Client keeps about its Auth, shared by all
// its callers.
type credentials struct {
	auth Auth
	c    *Client

	mu sync.Mutex
	// refused, once set, fails every later call: credentials the API
	// refused are never tried again.
	refused error

	// Password grant.
	token     string
	gen       uint64    // counts the tokens fetched; identifies token
	refreshAt time.Time // from then on, a new token is fetched in the background
	expireAt  time.Time // from then on, the token is no longer used
	fetching  *fetch    // the token call in progress; nil if none
	failedAt  time.Time // when the last token call failed (not refused)

	// Basic auth: until proven, one call at a time.
	proven bool
	probe  chan struct{} // a slot held by the one call in flight
}

// fetch is one token call; done is closed when it ends, with err set.
type fetch struct {
	done chan struct{}
	err  error
}

// authorization is what a call was authorized with: the header value, the
// token's generation, and whether the call is the Basic probe.
type authorization struct {
	header string
	gen    uint64
	probe  bool
}

// authorize returns the Authorization header for a call, fetching a token
// first when the Client has none fresh enough. Concurrent callers that find
// the token missing or expiring share one token call.
func (cr *credentials) authorize(ctx context.Context) (authorization, error) {
	switch cr.auth.scheme {
	case schemeBearer:
		return authorization{header: "Bearer " + cr.auth.secret}, nil
	case schemeBasic:
		return cr.authorizeBasic(ctx)
	case schemePassword:
		return cr.authorizeToken(ctx)
	}
	return authorization{}, nil
}

func (cr *credentials) authorizeBasic(ctx context.Context) (authorization, error) {
	a := authorization{header: "Basic " + basicValue(cr.auth.username, cr.auth.secret)}
	cr.mu.Lock()
	refused, proven := cr.refused, cr.proven
	cr.mu.Unlock()
	switch {
	case refused != nil:
		return authorization{}, refused
	case proven:
		return a, nil
	}
	select {
	case cr.probe <- struct{}{}:
	case <-ctx.Done():
		return authorization{}, fmt.Errorf("algoreg: waiting for the first call to prove the Basic credentials: %w", ctx.Err())
	}
	cr.mu.Lock()
	refused, proven = cr.refused, cr.proven
	cr.mu.Unlock()
	if refused != nil || proven {
		<-cr.probe
		if refused != nil {
			return authorization{}, refused
		}
		return a, nil
	}
	a.probe = true
	return a, nil
}

func (cr *credentials) authorizeToken(ctx context.Context) (authorization, error) {
	cr.mu.Lock()
	for {
		if cr.refused != nil {
			err := cr.refused
			cr.mu.Unlock()
			return authorization{}, err
		}
		now := time.Now()
		if cr.token != "" && now.Before(cr.expireAt) {
			// In the background, the current token being still good; after
			// a failed token call, the next waits a second.
			if !now.Before(cr.refreshAt) && cr.fetching == nil && now.Sub(cr.failedAt) >= time.Second {
				cr.startFetch(ctx)
			}
			a := authorization{header: "Bearer " + cr.token, gen: cr.gen}
			cr.mu.Unlock()
			return a, nil
		}
		if cr.fetching == nil {
			cr.startFetch(ctx)
		}
		f := cr.fetching
		cr.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return authorization{}, fmt.Errorf("algoreg login as %q: %w", cr.auth.username, ctx.Err())
		}
		if f.err != nil {
			return authorization{}, f.err
		}
		cr.mu.Lock()
	}
}

// startFetch starts a token call; cr.mu must be held. The call outlives
// ctx's cancellation (other callers may wait for it), bounded by the HTTP
// client's timeout.
func (cr *credentials) startFetch(ctx context.Context) {
	f := &fetch{done: make(chan struct{})}
	cr.fetching = f
	ctx = context.WithoutCancel(ctx)
	go func() {
		var cancel context.CancelFunc = func() {}
		if cr.c.hc.Timeout <= 0 {
			ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		}
		defer cancel()
		start := time.Now()
		token, life, err := cr.c.fetchToken(ctx)
		cr.mu.Lock()
		defer cr.mu.Unlock()
		switch {
		case err == nil:
			cr.token, cr.gen = token, cr.gen+1
			cr.refreshAt = start.Add(life - refreshMargin(life))
			cr.expireAt = start.Add(life - expiryMargin(life))
		case errors.Is(err, ErrUnauthorized):
			cr.refused = err
			cr.token = ""
		default:
			cr.failedAt = time.Now()
		}
		cr.fetching = nil
		f.err = err
		close(f.done)
	}()
}

// refreshMargin is how long before a token's expiry a new one is fetched,
// in the background: a fifth of its life, at most 5 minutes.
func refreshMargin(life time.Duration) time.Duration { return min(life/5, 5*time.Minute) }

// expiryMargin is how long before its expiry a token is no longer sent, so
// that a call does not reach the API with a token that expires on the way:
// a twentieth of its life, at most 30 seconds.
func expiryMargin(life time.Duration) time.Duration { return min(life/20, 30*time.Second) }

// answered records the status of a call made with a; 0 when no answer came.
// It returns the error a 401 or 403 answer stands for, or nil for any
// other answer.
func (cr *credentials) answered(a authorization, status int, apiErr *APIError) error {
	if a.probe {
		defer func() { <-cr.probe }()
	}
	cr.mu.Lock()
	defer cr.mu.Unlock()
	switch {
	case status == http.StatusUnauthorized && cr.auth.scheme == schemePassword && cr.refused == nil:
		if a.gen == cr.gen && cr.token != "" {
			cr.token = "" // the next call fetches a fresh one
		}
		return fmt.Errorf("%w (%w)", apiErr, errTokenDropped)
	case status == http.StatusUnauthorized && cr.auth.scheme == schemeBasic:
		// Refused Basic credentials are a failed login: never again.
		cr.refused = fmt.Errorf("%w: %s (%w); no other call is made, since failed logins lock the account", ErrUnauthorized, cr.auth.who(), apiErr)
		return cr.refused
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s (%w)", ErrUnauthorized, cr.auth.who(), apiErr)
	case status == http.StatusForbidden:
		return fmt.Errorf("%w: the API forbids this call to %s; check the user's API_ roles (%w)", ErrUnauthorized, cr.auth.who(), apiErr)
	case status != 0 && cr.auth.scheme == schemeBasic:
		cr.proven = true
	}
	return nil
}

// refusedAgain turns the 401 answered to a token fetched after another
// 401 into the error that stops the run.
func (cr *credentials) refusedAgain(apiErr *APIError) error {
	return fmt.Errorf("%w: %s, fetched again after a 401 (%w)", ErrUnauthorized, cr.auth.who(), apiErr)
}

// tokenRequest is the body of a password grant.
type tokenRequest struct {
	GrantType string `json:"grant_type"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// tokenResponse is the answer of the token endpoint. The vendor documents
// access_token only; expires_in is read when present.
type tokenResponse struct {
	AccessToken string      `json:"access_token"`
	ExpiresIn   json.Number `json:"expires_in"`
	TokenType   string      `json:"token_type"`
}

// fetchToken makes one call to the token endpoint and returns the token
// and how long it is valid. A 4xx answer other than 408 and 429 gives an
// error wrapping ErrUnauthorized and the *APIError; other failures may pass
// if tried again.
func (c *Client) fetchToken(ctx context.Context) (string, time.Duration, error) {
	user := c.auth.username
	fail := func(format string, args ...any) (string, time.Duration, error) {
		return "", 0, fmt.Errorf("algoreg login as %q: "+format, append([]any{user}, args...)...)
	}
	body, err := json.Marshal(tokenRequest{GrantType: "password", Username: user, Password: c.auth.secret})
	if err != nil {
		return fail("encoding the request: %w", err)
	}
	// The body holds the key: it must never be replayed to where a 307 or
	// 308 points, so the request has no GetBody and a redirect is answered
	// as it is.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, io.NopCloser(bytes.NewReader(body)))
	if err != nil {
		return fail("building the request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fail("%w", err) // *url.Error names the URL, never the body
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, maxTokenBody)
	if err != nil {
		return fail("reading the %d answer: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := newAPIError(resp.StatusCode, resp.Header.Get("Retry-After"), data, time.Now())
		e.op = "algoreg token"
		e.redact(c.auth.secrets()...)
		if e.StatusCode >= 400 && e.StatusCode <= 499 && e.StatusCode != http.StatusRequestTimeout && e.StatusCode != http.StatusTooManyRequests {
			return fail("%w (%w); check the user and its API key; no other login is made, since failed logins lock the account", ErrUnauthorized, e)
		}
		return fail("%w", e)
	}
	var tr tokenResponse
	if err := json.Unmarshal(data, &tr); err != nil {
		return fail("decoding the 200 answer (%d bytes): not the expected JSON object", len(data))
	}
	if tr.AccessToken == "" || strings.ContainsFunc(tr.AccessToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fail("the 200 answer holds no usable access_token")
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return fail("the token is of type %q; only bearer tokens are supported", tr.TokenType)
	}
	life := DefaultTokenLifetime
	if tr.ExpiresIn != "" {
		secs, err := tr.ExpiresIn.Float64()
		if err != nil || secs <= 0 || secs > 366*24*3600 {
			return fail("the 200 answer's expires_in %q is not a number of seconds", tr.ExpiresIn)
		}
		life = time.Duration(secs * float64(time.Second))
	}
	return tr.AccessToken, life, nil
}

// maxTokenBody is the most of the token endpoint's answer that is read.
const maxTokenBody = 1 << 20
