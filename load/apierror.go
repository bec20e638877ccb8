package load

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// maxSnippet is the most of a body an APIError keeps when the body
	// holds no error items, and the most of any one item's code or message
	// that Error prints.
	maxSnippet = 200

	// maxItemsInError is the number of items Error prints; the rest are
	// counted.
	maxItemsInError = 3
)

// APIError is an answer of the API with a status other than 200.
type APIError struct {
	StatusCode int           // the HTTP status
	Items      []ErrorItem   // the "errors" of the body, in the order sent
	RetryAfter time.Duration // from the Retry-After header; 0 if absent or past

	snippet string // the start of the body when it holds no items
	op      string // what was called, for Error: "algoreg save" when empty
}

// newAPIError builds the error for an answer of status with the given body
// and Retry-After header value, read at now. A body that is not a valid
// ErrorBody is kept as a short snippet instead.
func newAPIError(status int, retryAfter string, body []byte, now time.Time) *APIError {
	e := &APIError{StatusCode: status, RetryAfter: parseRetryAfter(retryAfter, now)}
	var eb ErrorBody
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &eb) == nil {
		e.Items = eb.Errors
	}
	if len(e.Items) == 0 {
		e.snippet = truncate(string(trimmed), maxSnippet)
	}
	return e
}

// redact replaces every occurrence of each secret in the error's text, in
// case a proxy echoes the request's headers or body in its answer.
func (e *APIError) redact(secrets ...string) {
	const mask = "[REDACTED]"
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for i := range e.Items {
			e.Items[i].Code = strings.ReplaceAll(e.Items[i].Code, secret, mask)
			e.Items[i].Message = strings.ReplaceAll(e.Items[i].Message, secret, mask)
		}
		e.snippet = strings.ReplaceAll(e.snippet, secret, mask)
	}
}

// Error reports the status and the items, current ones first (see
// Preferred), or the start of the body when it holds no items.
func (e *APIError) Error() string {
	var b strings.Builder
	op := e.op
	if op == "" {
		op = "algoreg save"
	}
	fmt.Fprintf(&b, "%s: HTTP %d", op, e.StatusCode)
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	items := e.Preferred()
	for i, it := range items {
		if i == maxItemsInError {
			fmt.Fprintf(&b, " (and %d more)", len(items)-i)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(itemText(it))
	}
	if len(items) == 0 && e.snippet != "" {
		fmt.Fprintf(&b, ": %q", e.snippet)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %v)", e.RetryAfter)
	}
	return b.String()
}

// Message is the preferred item's "code: message"; with no items, the start
// of the body, or else the status text.
func (e *APIError) Message() string {
	if items := e.Preferred(); len(items) > 0 {
		return itemText(items[0])
	}
	if e.snippet != "" {
		return e.snippet
	}
	return http.StatusText(e.StatusCode)
}

// Preferred returns a copy of Items in the order to report them: current
// items (neither deprecated nor to be deprecated) first, then those that will
// be deprecated, then deprecated ones, each group in the order sent.
func (e *APIError) Preferred() []ErrorItem {
	items := slices.Clone(e.Items)
	slices.SortStableFunc(items, func(a, b ErrorItem) int { return rank(a) - rank(b) })
	return items
}

// Temporary reports whether the call may succeed if made again later: true
// for 429 Too Many Requests and for every 5xx status.
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500 && e.StatusCode <= 599
}

// rank orders items by preference: lower is reported first.
func rank(it ErrorItem) int {
	switch {
	case it.Deprecated:
		return 2
	case it.WillBeDeprecated:
		return 1
	}
	return 0
}

// itemText formats an item as "code: message", each part cut short.
func itemText(it ErrorItem) string {
	code, msg := truncate(it.Code, maxSnippet), truncate(it.Message, maxSnippet)
	switch {
	case code == "":
		return msg
	case msg == "":
		return code
	}
	return code + ": " + msg
}

// truncate cuts s to at most n bytes without splitting a character and
// replaces invalid UTF-8, marking a cut with "...".
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// parseRetryAfter reads a Retry-After header value: a number of seconds or
// an HTTP-date, the latter relative to now. It returns 0 for an empty,
// malformed or past value. A huge number of seconds is clamped to the
// longest time.Duration rather than overflowing; callers should cap the wait.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return math.MaxInt64
			}
			return 0
		}
		if secs > math.MaxInt64/uint64(time.Second) {
			return math.MaxInt64
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}
