package algoregtest_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// login posts body to the token endpoint of h.
func login(t *testing.T, h http.Handler, body string, edit func(*http.Request)) answer {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, load.TokenPath, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if edit != nil {
		edit(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return answer{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
}

func grant(user, key string) string {
	b, _ := json.Marshal(map[string]string{"grant_type": "password", "username": user, "password": key})
	return string(b)
}

// tokenOf decodes a 200 answer of the token endpoint.
func tokenOf(t *testing.T, a answer) map[string]any {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("token call: status %d, body %s", a.status, a.body)
	}
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenEndpoint(t *testing.T) {
	h := algoregtest.NewHandler("")
	h.AddUser("etl@bank.example", "k1")
	tok := tokenOf(t, login(t, h, grant("etl@bank.example", "k1"), nil))
	if s, _ := tok["access_token"].(string); !strings.HasPrefix(s, "tok-") || tok["token_type"] != "Bearer" || tok["expires_in"] != 3600.0 {
		t.Errorf("answer %v: want an access_token, token_type Bearer, expires_in 3600", tok)
	}
	a := call(t, h, `{"customers":[{"external_id":"A"}]}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok["access_token"].(string)) })
	if a.status != http.StatusOK {
		t.Errorf("save with the token: %d %s", a.status, a.body)
	}

	for _, tt := range []struct {
		name   string
		body   string
		edit   func(*http.Request)
		status int
		code   string
	}{
		{"GET", "", func(r *http.Request) { r.Method = http.MethodGet }, 405, "method_not_allowed"},
		{"form body", "grant_type=password", func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 415, "unsupported_media_type"},
		{"not JSON", "{", nil, 400, "invalid_request"},
		{"unknown field", `{"grant_type":"password","username":"etl@bank.example","password":"k1","scope":"x"}`, nil, 400, "invalid_request"},
		{"no password", `{"grant_type":"password","username":"etl@bank.example"}`, nil, 400, "invalid_request"},
		{"other grant", `{"grant_type":"client_credentials","username":"etl@bank.example","password":"k1"}`, nil, 400, "unsupported_grant_type"},
		{"wrong key", grant("etl@bank.example", "k2"), nil, 401, algoregtest.CodeInvalidGrant},
		{"unknown user", grant("nobody@bank.example", "k1"), nil, 401, algoregtest.CodeInvalidGrant},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := login(t, h, tt.body, tt.edit)
			items := errorItems(t, a)
			if a.status != tt.status || items[1].Code != tt.code {
				t.Errorf("status %d, items %+v; want %d %s", a.status, items, tt.status, tt.code)
			}
		})
	}
	if h.TokenRequests() != 9 || h.Requests() != 1 || h.FailedLogins() != 2 {
		t.Errorf("token calls %d, other calls %d, failed logins %d; want 9, 1, 2", h.TokenRequests(), h.Requests(), h.FailedLogins())
	}
}

func TestTokenLifetime(t *testing.T) {
	h := algoregtest.NewHandler("")
	h.AddUser("u", "k")
	h.SetAuth(algoregtest.AuthOptions{TokenLifetime: 200 * time.Millisecond, OmitExpiresIn: true})
	tok := tokenOf(t, login(t, h, grant("u", "k"), nil))
	if _, ok := tok["expires_in"]; ok {
		t.Errorf("answer %v has expires_in", tok)
	}
	withToken := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok["access_token"].(string)) }
	if a := call(t, h, `{"customers":[{"external_id":"A"}]}`, withToken); a.status != http.StatusOK {
		t.Fatalf("fresh token: %d %s", a.status, a.body)
	}
	time.Sleep(250 * time.Millisecond)
	a := call(t, h, `{"customers":[{"external_id":"A"}]}`, withToken)
	if items := errorItems(t, a); a.status != http.StatusUnauthorized || items[1].Code != algoregtest.CodeInvalidToken || !strings.Contains(items[1].Message, "expired") {
		t.Errorf("expired token: %d %s", a.status, a.body)
	}
	if h.Unauthorized() != 1 {
		t.Errorf("Unauthorized() = %d, want 1", h.Unauthorized())
	}
	h.SetAuth(algoregtest.AuthOptions{TokenLifetime: 2500 * time.Millisecond})
	if tok := tokenOf(t, login(t, h, grant("u", "k"), nil)); tok["expires_in"] != 3.0 {
		t.Errorf("expires_in %v for 2.5 s, want 3 (rounded up)", tok["expires_in"])
	}
}

// Failed logins in a row lock the account, for the token endpoint and
// Basic alike, until Unlock; the right key does not get in meanwhile.
func TestAccountLocking(t *testing.T) {
	h := algoregtest.NewHandler("")
	h.AddUser("u", "k")
	h.SetAuth(algoregtest.AuthOptions{LockAfter: 3})
	basic := func(key string) func(*http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("u:"+key)))
		}
	}
	before := tokenOf(t, login(t, h, grant("u", "k"), nil))["access_token"].(string)
	login(t, h, grant("u", "bad"), nil)
	login(t, h, grant("u", "bad"), nil)
	if h.Locked("u") {
		t.Fatal("locked after 2 failures, want 3")
	}
	if a := call(t, h, `{"customers":[{"external_id":"A"}]}`, basic("bad")); a.status != http.StatusUnauthorized || !h.Locked("u") {
		t.Fatalf("third failure (Basic): %d, locked %v", a.status, h.Locked("u"))
	}
	for _, a := range []answer{login(t, h, grant("u", "k"), nil), call(t, h, `{"customers":[{"external_id":"A"}]}`, basic("k"))} {
		if items := errorItems(t, a); a.status != http.StatusForbidden || items[1].Code != algoregtest.CodeAccountLocked {
			t.Errorf("right key on a locked account: %d %s", a.status, a.body)
		}
	}
	if a := call(t, h, `{"customers":[{"external_id":"A"}]}`, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+before) }); a.status != http.StatusOK {
		t.Errorf("a token given before the lock: %d %s", a.status, a.body)
	}
	h.Unlock("u")
	tokenOf(t, login(t, h, grant("u", "k"), nil))
	if a := call(t, h, `{"customers":[{"external_id":"A"}]}`, basic("k")); a.status != http.StatusOK {
		t.Errorf("Basic after Unlock: %d %s", a.status, a.body)
	}
	if h.FailedLogins() != 5 {
		t.Errorf("FailedLogins() = %d, want 5", h.FailedLogins())
	}
}
