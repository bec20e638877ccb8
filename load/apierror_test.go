package load

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAPIErrorReporting(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		message string
		err     string
	}{
		{"current after deprecated", 400,
			`{"errors":[{"code":"E1","message":"old","deprecated":true},{"code":"bad_input","message":"new"}]}`,
			"bad_input: new", "algoreg save: HTTP 400 Bad Request: bad_input: new; E1: old"},
		{"three levels", 400,
			`{"errors":[{"code":"d","message":"m","deprecated":true,"will_be_deprecated":true},{"code":"w","message":"m","will_be_deprecated":true},{"code":"c","message":"m"}]}`,
			"c: m", "algoreg save: HTTP 400 Bad Request: c: m; w: m; d: m"},
		{"only deprecated", 422, `{"errors":[{"code":"E9","message":"old","deprecated":true}]}`,
			"E9: old", "algoreg save: HTTP 422 Unprocessable Entity: E9: old"},
		{"order kept within a level", 400, `{"errors":[{"code":"a"},{"code":"b"}]}`,
			"a", "algoreg save: HTTP 400 Bad Request: a; b"},
		{"many items", 400, `{"errors":[{"code":"a"},{"code":"b"},{"code":"c"},{"code":"d"},{"code":"e"}]}`,
			"a", "algoreg save: HTTP 400 Bad Request: a; b; c (and 2 more)"},
		{"message only", 500, `{"errors":[{"message":"boom"}]}`, "boom", "algoreg save: HTTP 500 Internal Server Error: boom"},
		{"text body", 502, "<html>Bad gateway</html>\n", "<html>Bad gateway</html>",
			`algoreg save: HTTP 502 Bad Gateway: "<html>Bad gateway</html>"`},
		{"empty errors list", 503, `{"errors":[]}`, `{"errors":[]}`, `algoreg save: HTTP 503 Service Unavailable: "{\"errors\":[]}"`},
		{"empty body", 504, ``, "Gateway Timeout", "algoreg save: HTTP 504 Gateway Timeout"},
		{"unknown status", 599, ``, "", "algoreg save: HTTP 599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAPIError(tt.status, "", []byte(tt.body), time.Now())
			if got := e.Message(); got != tt.message {
				t.Errorf("Message() = %q, want %q", got, tt.message)
			}
			if got := e.Error(); got != tt.err {
				t.Errorf("Error() = %q, want %q", got, tt.err)
			}
		})
	}
}

func TestAPIErrorSnippetIsShort(t *testing.T) {
	body := strings.Repeat("é", 1000) // two bytes each: a cut may fall inside one
	e := newAPIError(502, "", []byte(body), time.Now())
	if m := e.Message(); len(m) > maxSnippet+len("...") || !utf8.ValidString(m) || !strings.HasSuffix(m, "...") {
		t.Errorf("Message() is %d bytes, valid UTF-8 %v: want at most %d and marked as cut", len(m), utf8.ValidString(m), maxSnippet)
	}
	long := `{"errors":[{"code":"c","message":"` + strings.Repeat("x", 10000) + `"}]}`
	if got := newAPIError(400, "", []byte(long), time.Now()).Error(); len(got) > 300 {
		t.Errorf("Error() is %d bytes; want long messages cut", len(got))
	}
}

func TestAPIErrorTemporary(t *testing.T) {
	for status, want := range map[int]bool{400: false, 401: false, 404: false, 409: false, 429: true, 500: true, 502: true, 503: true, 504: true, 600: false} {
		if got := (&APIError{StatusCode: status}).Temporary(); got != want {
			t.Errorf("Temporary() for %d = %v, want %v", status, got, want)
		}
	}
}

func TestAPIErrorRedact(t *testing.T) {
	e := newAPIError(401, "", []byte(`{"errors":[{"code":"tok-123","message":"bad token tok-123"}]}`), time.Now())
	e.redact("tok-123")
	if strings.Contains(e.Error(), "tok-123") || e.Message() != "[REDACTED]: bad token [REDACTED]" {
		t.Errorf("Error() = %q, Message() = %q", e.Error(), e.Message())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"5", 5 * time.Second},
		{" 30 ", 30 * time.Second},
		{"3600", time.Hour},
		{"1.5", 0},
		{"-5", 0},
		{"5s", 0},
		{"soon", 0},
		{"Sat, 01 Mar 2025 12:01:30 GMT", 90 * time.Second},
		{"Saturday, 01-Mar-25 12:00:10 GMT", 10 * time.Second}, // RFC 850
		{"Sat Mar  1 12:00:20 2025", 20 * time.Second},         // ANSI C
		{"Sat, 01 Mar 2025 11:00:00 GMT", 0},                   // past
		{"99999999999999999999", math.MaxInt64},
		{"9223372036", 9223372036 * time.Second},
		{"9223372037", math.MaxInt64},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.value, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}
