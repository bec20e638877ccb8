package load_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// authSender returns a Sender calling s with auth, whose first wait before
// a retry is at most a millisecond.
func authSender(s *algoregtest.Server, auth load.Auth, opts load.SenderOptions) *load.Sender {
	snd := load.NewSender(s.ClientWith(auth), opts)
	load.SetBaseBackoff(snd, time.Millisecond)
	return snd
}

// Many callers that find no token cause one token call between them.
func TestPasswordGrantSharesOneToken(t *testing.T) {
	s := algoregtest.NewServer(t)
	snd := authSender(s, load.PasswordGrant(s.Username, s.Key), load.SenderOptions{})
	out := sendAll(t, snd, 16, 64, 2, nil)
	if s.TokenRequests() != 1 || len(out.Added) != 128 || s.Unauthorized() != 0 {
		t.Errorf("token calls %d, added %d, 401s %d; want 1, 128, 0", s.TokenRequests(), len(out.Added), s.Unauthorized())
	}
	if ua := s.UserAgents(); len(ua) != 1 || !strings.HasPrefix(ua[0], "algoreg-etl/") {
		t.Errorf("User-Agents seen: %q, want one algoreg-etl/<version>", ua)
	}
}

// With expires_in, the token is renewed before it expires: calls across
// several lifetimes meet no 401, and the callers share each renewal.
func TestPasswordGrantRenewsBeforeExpiry(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetAuth(algoregtest.AuthOptions{TokenLifetime: time.Second})
	s.SetFaults(algoregtest.Faults{Latency: 20 * time.Millisecond})
	snd := authSender(s, load.PasswordGrant(s.Username, s.Key), load.SenderOptions{})
	start := time.Now()
	var out load.Outcome
	for i := 0; time.Since(start) < 3500*time.Millisecond; i++ {
		o := sendAll(t, snd, 8, 8, 1, nil)
		out.Calls += o.Calls
	}
	lifetimes := int(time.Since(start)/time.Second) + 1
	if s.Unauthorized() != 0 || out.Calls != s.Requests() {
		t.Errorf("%d calls answered 401 (want 0); %d calls counted, the API saw %d", s.Unauthorized(), out.Calls, s.Requests())
	}
	if n := s.TokenRequests(); n < 3 || n > lifetimes+1 {
		t.Errorf("%d token calls in %d lifetimes of a token; want one per lifetime", n, lifetimes)
	}
}

// Without expires_in the client assumes the vendor's hour; when the token
// expires sooner, the 401 drops it, one token call renews it for every
// caller, and each refused call is made once more.
func TestPasswordGrantRenewsOn401(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetAuth(algoregtest.AuthOptions{TokenLifetime: time.Second, OmitExpiresIn: true})
	var calls statusCounter
	snd := authSender(s, load.PasswordGrant(s.Username, s.Key), load.SenderOptions{Observe: calls.observe})
	if out := sendAll(t, snd, 4, 4, 1, nil); len(out.Added) != 4 {
		t.Fatalf("first calls: %+v", out)
	}
	time.Sleep(1100 * time.Millisecond) // the token expires
	// The callers start together, all with the expired token.
	out := sendAll(t, snd, 4, 4, 1, nil)
	if s.Received() != 8 || s.TokenRequests() != 2 {
		t.Errorf("after expiry: %d customers received in all, token calls %d; want 8, 2", s.Received(), s.TokenRequests())
	}
	if got := s.Unauthorized(); got < 1 || got > 4 || calls.status[401] != got || out.Retries != got {
		t.Errorf("401s: API %d, observed %d, retries %d; want between 1 and one per caller, all equal", got, calls.status[401], out.Retries)
	}
}

// A 401 to a fresh token is not retried again: the call stops with
// ErrUnauthorized after exactly one renewal.
func TestSecond401Stops(t *testing.T) {
	s := algoregtest.NewServer(t)
	snd := authSender(s, load.PasswordGrant(s.Username, s.Key), load.SenderOptions{})
	s.FailNext(10, algoregtest.Fault{StatusCode: http.StatusUnauthorized})
	out, err := snd.Send(context.Background(), chunk("C", 2))
	if !errors.Is(err, load.ErrUnauthorized) || !strings.Contains(err.Error(), `"etl@sandbox.test"`) {
		t.Fatalf("Send: %v; want ErrUnauthorized naming the user", err)
	}
	if s.TokenRequests() != 2 || out.Calls != 2 || s.Requests() != 2 {
		t.Errorf("token calls %d, save calls %d (API %d); want 2, 2", s.TokenRequests(), out.Calls, s.Requests())
	}
}

// A wrong key costs one token call, whatever the callers, the retries and
// the later logins of the same Client.
func TestWrongKeyOneTokenCall(t *testing.T) {
	const key = "wrong-key-8d1c"
	s := algoregtest.NewServer(t)
	c := s.ClientWith(load.PasswordGrant(s.Username, key))
	snd := load.NewSender(c, load.SenderOptions{MaxAttempts: 10})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = snd.Send(context.Background(), chunk(fmt.Sprint("C", i), 1)) })
	}
	wg.Wait()
	errs = append(errs, c.Login(context.Background()))
	for _, err := range errs {
		if !errors.Is(err, load.ErrUnauthorized) {
			t.Fatalf("error %v: want ErrUnauthorized", err)
		}
		for _, want := range []string{`login as "etl@sandbox.test"`, "HTTP 401", "invalid_grant", "no other login"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("the key appears in %q", err)
		}
	}
	if s.TokenRequests() != 1 || s.Requests() != 0 {
		t.Errorf("token calls %d, save calls %d; want 1, 0", s.TokenRequests(), s.Requests())
	}
}

// Login fetches a token at once, and none again while it is fresh.
func TestLogin(t *testing.T) {
	s := algoregtest.NewServer(t)
	c := s.ClientWith(load.PasswordGrant(s.Username, s.Key))
	for range 3 {
		if err := c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if s.TokenRequests() != 1 {
		t.Errorf("token calls %d, want 1", s.TokenRequests())
	}
	for _, auth := range []load.Auth{load.BasicAuth(s.Username, "wrong"), load.BearerToken("wrong")} {
		if err := s.ClientWith(auth).Login(context.Background()); err != nil || s.TokenRequests() != 1 || s.FailedLogins() != 0 {
			t.Errorf("Login with %v: %v; %d token calls, %d failed logins", auth, err, s.TokenRequests(), s.FailedLogins())
		}
	}
}

// A token endpoint that fails for a while (5xx, 429) is retried like any
// call; that is no refusal of the credentials.
func TestTokenEndpointOutageIsRetried(t *testing.T) {
	s := algoregtest.NewServer(t)
	failures := 2
	var mu sync.Mutex
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fail := r.URL.Path == load.TokenPath && failures > 0
		if fail {
			failures--
		}
		mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.ServeHTTP(w, r)
	}))
	defer api.Close()
	snd := load.NewSender(load.NewClient(api.URL, load.PasswordGrant(s.Username, s.Key), nil), load.SenderOptions{})
	load.SetBaseBackoff(snd, time.Millisecond)
	out, err := snd.Send(context.Background(), chunk("C", 1))
	if err != nil || len(out.Added) != 1 || s.TokenRequests() != 1 || failures != 0 {
		t.Errorf("Send: %v, %+v; %d token calls reached the sandbox after 2 refused", err, out, s.TokenRequests())
	}
}

// Basic credentials need no token call; a wrong key costs one failed
// login, not one per call in flight, and no call is made after it.
func TestBasicAuth(t *testing.T) {
	s := algoregtest.NewServer(t)
	out := sendAll(t, authSender(s, load.BasicAuth(s.Username, s.Key), load.SenderOptions{}), 8, 32, 2, nil)
	if len(out.Added) != 64 || s.TokenRequests() != 0 || s.FailedLogins() != 0 {
		t.Errorf("added %d, token calls %d, failed logins %d; want 64, 0, 0", len(out.Added), s.TokenRequests(), s.FailedLogins())
	}

	const key = "wrong-key-77aa"
	s = algoregtest.NewServer(t)
	snd := authSender(s, load.BasicAuth(s.Username, key), load.SenderOptions{})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = snd.Send(context.Background(), chunk(fmt.Sprint("C", i), 1)) })
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, load.ErrUnauthorized) || !strings.Contains(err.Error(), `"etl@sandbox.test"`) || strings.Contains(err.Error(), key) {
			t.Errorf("error %v: want ErrUnauthorized naming the user, not the key", err)
		}
	}
	if s.FailedLogins() != 1 || s.Requests() != 1 || s.TokenRequests() != 0 {
		t.Errorf("failed logins %d, save calls %d, token calls %d; want 1, 1, 0", s.FailedLogins(), s.Requests(), s.TokenRequests())
	}
}

// A 403 is a refusal of the credentials' rights: no retry, no split.
func TestForbiddenStops(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.FailNext(1, algoregtest.Fault{StatusCode: http.StatusForbidden})
	out, err := authSender(s, load.PasswordGrant(s.Username, s.Key), load.SenderOptions{}).Send(context.Background(), chunk("C", 4))
	if !errors.Is(err, load.ErrUnauthorized) || !strings.Contains(err.Error(), "API_ roles") || out.Calls != 1 {
		t.Errorf("Send: %v after %d calls; want ErrUnauthorized after 1", err, out.Calls)
	}
}

// The key, the tokens and the Authorization header appear in no error, no
// log line and no printout of the client, even when the API echoes them.
func TestCredentialsNeverShown(t *testing.T) {
	const user, key = "etl@bank.example", "k3y-5ecr3t-9f2e"
	basic := base64.StdEncoding.EncodeToString([]byte(user + ":" + key))
	var mu sync.Mutex
	var tokens []string
	// echo is an API that gives tokens and refuses everything, quoting
	// what it was sent.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == load.TokenPath {
			tok := fmt.Sprintf("tok-echo-%d-e41f", len(tokens))
			tokens = append(tokens, tok)
			fmt.Fprintf(w, `{"access_token":%q}`, tok)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errors":[{"code":"bad","message":"refused %v with %q"}]}`, body, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	tokenRefused := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := json.Marshal(r.Header)
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "no: %s %v", b, body)
	}))
	defer tokenRefused.Close()

	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, tt := range []struct {
		name string
		url  string
		auth load.Auth
	}{
		{"password grant, save refused", echo.URL, load.PasswordGrant(user, key)},
		{"password grant, login refused", tokenRefused.URL, load.PasswordGrant(user, key)},
		{"basic", echo.URL, load.BasicAuth(user, key)},
		{"bearer", echo.URL, load.BearerToken(key)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := load.NewClient(tt.url, tt.auth, nil)
			snd := load.NewSender(c, load.SenderOptions{Logger: logger})
			_, err := snd.Send(context.Background(), chunk("C", 1))
			if !errors.Is(err, load.ErrUnauthorized) {
				t.Fatalf("Send: %v, want ErrUnauthorized", err)
			}
			loginErr := c.Login(context.Background())
			logger.Info("done", "client", c, "auth", tt.auth, "error", err)
			texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), fmt.Sprint(loginErr),
				fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
				fmt.Sprint(tt.auth), fmt.Sprintf("%+v", tt.auth), fmt.Sprintf("%#v", tt.auth), fmt.Sprintf("%q", tt.auth), fmt.Sprintf("%x", tt.auth)}
			if b, err := json.Marshal(tt.auth); err == nil {
				texts = append(texts, string(b))
			}
			var apiErr *load.APIError
			if errors.As(err, &apiErr) {
				texts = append(texts, apiErr.Message(), fmt.Sprintf("%+v", apiErr.Items))
			}
			mu.Lock()
			secrets := append([]string{key, basic}, tokens...)
			mu.Unlock()
			for _, text := range append(texts, logs.String()) {
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("secret %q appears in %q", secret, text)
					}
				}
			}
		})
	}
}

// A background renewal that fails leaves the current token in use; the
// next is tried a second later, not at every call.
func TestFailedRenewalKeepsTheToken(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetAuth(algoregtest.AuthOptions{TokenLifetime: 2 * time.Second})
	var mu sync.Mutex
	tokenCalls := 0
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == load.TokenPath {
			mu.Lock()
			tokenCalls++
			fail := tokenCalls == 2 // the first renewal
			mu.Unlock()
			if fail {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
		}
		s.ServeHTTP(w, r)
	}))
	defer api.Close()
	snd := load.NewSender(load.NewClient(api.URL, load.PasswordGrant(s.Username, s.Key), nil), load.SenderOptions{})
	for start := time.Now(); time.Since(start) < 2500*time.Millisecond; time.Sleep(10 * time.Millisecond) {
		if out, err := snd.Send(context.Background(), chunk("C", 1)); err != nil || out.Retries != 0 {
			t.Fatalf("Send: %v, %d retries", err, out.Retries)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if tokenCalls != 3 || s.Unauthorized() != 0 {
		t.Errorf("%d token calls (one failed), %d 401s; want 3, 0", tokenCalls, s.Unauthorized())
	}
}

// A token endpoint that redirects does not get the key sent on to where it
// points.
func TestTokenCallNotRedirected(t *testing.T) {
	var elsewhere int
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		elsewhere++
		mu.Unlock()
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+load.TokenPath, http.StatusPermanentRedirect)
	}))
	defer api.Close()
	err := load.NewClient(api.URL, load.PasswordGrant("u@b", "k3y"), nil).Login(context.Background())
	if err == nil || errors.Is(err, load.ErrUnauthorized) || !strings.Contains(err.Error(), "HTTP 308") {
		t.Errorf("Login: %v, want the 308 answered as it is", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if elsewhere != 0 {
		t.Errorf("the redirect was followed %d times", elsewhere)
	}
}
