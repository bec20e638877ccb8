package load

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeResponse feeds arbitrary bytes to the decoding of both kinds of
// answer: nothing may panic, and error texts stay short.
func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"added":[{"customer_id":1,"external_id":"A"}],"detail":[],"status":"ok","verify_input":false}`), "5")
	f.Add([]byte(`{"added":[{"customer_id":"x"}],"detail":[{"external_id":"B","errors":[{"error":"e","detail":"d"}],"warnings":null}]}`), "")
	f.Add([]byte(`{"errors":[{"code":"E1","message":"m","deprecated":true},{"code":"c","message":"m"}]}`), "Sat, 01 Mar 2025 12:01:30 GMT")
	f.Add([]byte(`{"errors":"x"}`), "-1")
	f.Add([]byte(`{"added":[{"customer_id":1e999}]}`), "99999999999999999999")
	f.Add([]byte("\xff\xfe{"), " ")
	f.Add([]byte(`{"added":[{"customer_id":`), "1.5")
	f.Fuzz(func(t *testing.T, body []byte, retryAfter string) {
		resp, err := decodeResponse(body)
		if (resp == nil) == (err == nil) {
			t.Errorf("decodeResponse gave %v and %v", resp, err)
		}
		if err != nil && len(err.Error()) > 500 {
			t.Errorf("decoding error is %d bytes long", len(err.Error()))
		}
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		for _, status := range []int{400, 429, 503} {
			e := newAPIError(status, retryAfter, body, now)
			msg, text := e.Message(), e.Error()
			if e.RetryAfter < 0 {
				t.Errorf("RetryAfter %v < 0", e.RetryAfter)
			}
			if len(text) > 1200 || len(msg) > 2*maxSnippet+10 {
				t.Errorf("Error() %d bytes, Message() %d bytes: too long", len(text), len(msg))
			}
			if !utf8.ValidString(msg) {
				t.Errorf("Message() %q is not valid UTF-8", msg)
			}
			if !strings.HasPrefix(text, "algoreg save: HTTP ") {
				t.Errorf("Error() = %q", text)
			}
		}
	})
}
