package algoregtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Defaults of AuthOptions.
const (
	DefaultTokenLifetime = time.Hour
	DefaultLockAfter     = 5
)

// Codes of the current error item of the answers that refuse credentials.
const (
	CodeInvalidToken  = "invalid_token"  // save: no, an unknown or an expired bearer token
	CodeInvalidGrant  = "invalid_grant"  // token endpoint or Basic: wrong user or key
	CodeAccountLocked = "account_locked" // token endpoint or Basic: the user's account is locked
)

// AuthOptions tune how the Handler authenticates programmatic users.
type AuthOptions struct {
	// TokenLifetime is how long a token from the token endpoint is
	// accepted; 0 means DefaultTokenLifetime, the vendor's hour.
	TokenLifetime time.Duration
	// OmitExpiresIn leaves expires_in out of the token endpoint's answers,
	// as the vendor's documentation does; the answers carry it otherwise,
	// in whole seconds rounded up.
	OmitExpiresIn bool
	// LockAfter is the number of failed logins in a row (token calls or
	// Basic calls with a wrong key) after which a user's account is
	// locked; 0 means DefaultLockAfter. A locked account refuses every
	// login, with the right key too, until Unlock; tokens given before
	// stay valid.
	LockAfter int
}

// user is a programmatic user of the Handler.
type user struct {
	key    string
	failed int // failed logins in a row
	locked bool
}

// AddUser makes the Handler accept the programmatic user username with
// key: at the token endpoint (the OAuth2 password grant) and with Basic
// auth on the Save endpoint. Adding a user again changes its key and
// unlocks it.
func (h *Handler) AddUser(username, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[username] = &user{key: key}
}

// SetAuth replaces the Handler's AuthOptions. Tokens given before keep the
// lifetime they were given with.
func (h *Handler) SetAuth(o AuthOptions) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.authOpts = o
}

// Unlock unlocks the account of username and forgets its failed logins, as
// the vendor's support would.
func (h *Handler) Unlock(username string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u := h.users[username]; u != nil {
		u.failed, u.locked = 0, false
	}
}

// Locked reports whether the account of username is locked.
func (h *Handler) Locked(username string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[username]
	return u != nil && u.locked
}

// TokenRequests reports how many calls the token endpoint has answered,
// whatever their answer. They are not counted by Requests, CallTimes or
// MaxInFlight.
func (h *Handler) TokenRequests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tokenRequests
}

// FailedLogins reports how many logins were refused for a wrong user or
// key or a locked account: token calls, and Basic calls to the Save
// endpoint.
func (h *Handler) FailedLogins() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failedLogins
}

// Unauthorized reports how many calls to the Save endpoint were answered
// 401 or 403 for their credentials.
func (h *Handler) Unauthorized() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.unauthorized
}

// UserAgents returns the User-Agent headers of the calls answered (Save
// and token calls), each once, in the order first seen.
func (h *Handler) UserAgents() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.userAgents...)
}

// noteUserAgent records r's User-Agent; h.mu must be held.
func (h *Handler) noteUserAgent(r *http.Request) {
	ua := r.Header.Get("User-Agent")
	for _, seen := range h.userAgents {
		if seen == ua {
			return
		}
	}
	if len(h.userAgents) < 100 {
		h.userAgents = append(h.userAgents, ua)
	}
}

// lockAfter returns the LockAfter in force; h.mu must be held.
func (h *Handler) lockAfter() int {
	if h.authOpts.LockAfter > 0 {
		return h.authOpts.LockAfter
	}
	return DefaultLockAfter
}

// login checks a user's key, counting failures toward the lock; h.mu must
// be held. It returns the status and current error code of a refusal, or 0.
func (h *Handler) login(username, key string) (int, string, string) {
	u := h.users[username]
	switch {
	case u != nil && u.locked:
		h.failedLogins++
		return http.StatusForbidden, CodeAccountLocked, fmt.Sprintf("the account is locked after %d failed logins; ask support to unlock it", h.lockAfter())
	case u == nil || subtle.ConstantTimeCompare([]byte(key), []byte(u.key)) != 1:
		h.failedLogins++
		if u != nil {
			u.failed++
			u.locked = u.failed >= h.lockAfter()
		}
		return http.StatusUnauthorized, CodeInvalidGrant, "wrong username or password"
	}
	u.failed = 0
	return 0, "", ""
}

// tokenRequest is the body of a password grant, decoded strictly.
type tokenRequest struct {
	GrantType *string `json:"grant_type"`
	Username  *string `json:"username"`
	Password  *string `json:"password"`
}

// serveToken answers a call to the token endpoint: the OAuth2 password
// grant of the vendor's documentation.
func (h *Handler) serveToken(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.tokenRequests++
	h.noteUserAgent(r)
	latency := h.cfg.Latency
	h.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	refuse := func(status int, v1, v2, msg string) {
		discard(r)
		writeJSON(w, status, errorBody(v1, v2, msg))
	}
	switch {
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		refuse(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method_not_allowed", "method "+r.Method+" is not allowed; use POST")
		return
	case !isJSON(r.Header.Get("Content-Type")):
		refuse(http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "unsupported_media_type", "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		refuse(http.StatusBadRequest, "BAD_REQUEST", "unreadable_body", "reading the body: "+err.Error())
		return
	}
	var tr tokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil || dec.More() {
		refuse(http.StatusBadRequest, "INVALID_INPUT", "invalid_request", "the body must be a JSON object with grant_type, username and password")
		return
	}
	switch {
	case tr.GrantType == nil || tr.Username == nil || tr.Password == nil || *tr.Username == "" || *tr.Password == "":
		refuse(http.StatusBadRequest, "INVALID_INPUT", "invalid_request", "grant_type, username and password are required")
		return
	case *tr.GrantType != "password":
		refuse(http.StatusBadRequest, "INVALID_INPUT", "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported; use \"password\"", *tr.GrantType))
		return
	}

	h.mu.Lock()
	status, code, msg := h.login(*tr.Username, *tr.Password)
	var token string
	life := h.authOpts.TokenLifetime
	if life <= 0 {
		life = DefaultTokenLifetime
	}
	if status == 0 {
		token = "tok-" + fmt.Sprintf("%x", randomBytes(16))
		h.issueLocked(token, time.Now().Add(life))
	}
	omit := h.authOpts.OmitExpiresIn
	h.mu.Unlock()
	if status != 0 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="algoreg"`)
		refuse(status, "UNAUTHORIZED", code, msg)
		return
	}
	answer := map[string]any{"access_token": token, "token_type": "Bearer"}
	if !omit {
		answer["expires_in"] = int64((life + time.Second - 1) / time.Second)
	}
	writeJSON(w, http.StatusOK, answer)
}

// issueLocked records a token valid until expiry; h.mu must be held.
// Expired tokens are forgotten once there are many.
func (h *Handler) issueLocked(token string, expiry time.Time) {
	if len(h.tokens) >= 1000 {
		now := time.Now()
		for t, exp := range h.tokens {
			if now.After(exp) {
				delete(h.tokens, t)
			}
		}
	}
	h.tokens[token] = expiry
}

// authorize checks the credentials of a call to the Save endpoint. It
// returns 0 when they are accepted, else the status, current error code
// and message of the refusal.
func (h *Handler) authorize(r *http.Request) (int, string, string) {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case strings.EqualFold(scheme, "Bearer") && h.token != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(h.token)) == 1:
		return 0, "", ""
	case strings.EqualFold(scheme, "Bearer"):
		expiry, ok := h.tokens[cred]
		switch {
		case !ok:
			return http.StatusUnauthorized, CodeInvalidToken, "missing or invalid bearer token"
		case time.Now().After(expiry):
			return http.StatusUnauthorized, CodeInvalidToken, "the token has expired"
		}
		return 0, "", ""
	case strings.EqualFold(scheme, "Basic"):
		raw, err := base64.StdEncoding.DecodeString(cred)
		username, key, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok {
			return http.StatusUnauthorized, CodeInvalidGrant, "malformed Basic credentials"
		}
		if status, code, msg := h.login(username, key); status != 0 {
			return status, code, msg
		}
		return 0, "", ""
	}
	return http.StatusUnauthorized, CodeInvalidToken, "missing or invalid bearer token"
}

// writeJSON answers with status and v as JSON, without counting the call.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
