package load_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/buildinfo"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

func TestSave(t *testing.T) {
	one := &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A", AccountType: load.AccountFirm, CompanyName: "Acme & Sons <Ltd>"}}}
	tests := []struct {
		name    string
		setup   func(t *testing.T, s *algoregtest.Server, ctx context.Context, cancel context.CancelFunc)
		token   string // "" uses the server's
		req     *load.SaveRequest
		check   func(t *testing.T, s *algoregtest.Server, resp *load.SaveResponse)
		status  int           // of the *APIError wanted; 0 for none
		retry   time.Duration // its RetryAfter
		temp    bool          // its Temporary()
		message string        // its Message()
		is      error         // wanted in the chain, if not nil
	}{
		{
			name: "ok",
			req:  one,
			check: func(t *testing.T, s *algoregtest.Server, resp *load.SaveResponse) {
				if resp.Status != algoregtest.StatusOK || len(resp.Added) != 1 || resp.Added[0] != (load.Added{CustomerID: "1", ExternalID: "A"}) {
					t.Errorf("answer %+v", resp)
				}
				if c, _ := s.Customer("A"); c.CompanyName != "Acme & Sons <Ltd>" {
					t.Errorf("stored company_name %q", c.CompanyName)
				}
			},
		},
		{
			name: "record errors are in a 200 answer",
			req:  &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A", DateOfBirth: "1999-02-30"}, {ExternalID: "B"}}},
			check: func(t *testing.T, s *algoregtest.Server, resp *load.SaveResponse) {
				if resp.Status != algoregtest.StatusPartial || len(resp.Detail) != 1 || resp.Detail[0].ExternalID != "A" ||
					len(resp.Detail[0].Errors) != 1 || resp.Detail[0].Errors[0].Error != algoregtest.CodeInvalidValue {
					t.Errorf("answer %+v: want one invalid_value for A", resp)
				}
			},
		},
		{
			name: "verify input",
			req:  &load.SaveRequest{VerifyInput: true, DisableRiskScan: true, Customers: one.Customers},
			check: func(t *testing.T, s *algoregtest.Server, resp *load.SaveResponse) {
				if !resp.VerifyInput || len(s.Customers()) != 0 {
					t.Errorf("answer %+v, %d stored", resp, len(s.Customers()))
				}
				if f := s.RiskScanFlags(); len(f) != 1 || !f[0] {
					t.Errorf("RiskScanFlags() = %v, want [true]", f)
				}
			},
		},
		{
			name:    "wrong token",
			token:   "not-the-token",
			req:     one,
			is:      load.ErrUnauthorized,
			status:  401,
			message: "invalid_token: missing or invalid bearer token",
		},
		{
			name:    "bad request prefers the current error",
			req:     &load.SaveRequest{},
			status:  400,
			message: "invalid_body: the request holds no customers and no relations",
		},
		{
			name: "503 with Retry-After in seconds",
			setup: func(t *testing.T, s *algoregtest.Server, _ context.Context, _ context.CancelFunc) {
				s.FailNext(1, algoregtest.Fault{StatusCode: 503, RetryAfter: "120"})
			},
			req:     one,
			status:  503,
			retry:   2 * time.Minute,
			temp:    true,
			message: "injected_fault: injected fault: 503 Service Unavailable",
		},
		{
			name: "429 with Retry-After as a date",
			setup: func(t *testing.T, s *algoregtest.Server, _ context.Context, _ context.CancelFunc) {
				s.FailNext(1, algoregtest.Fault{StatusCode: 429, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)})
			},
			req:     one,
			status:  429,
			retry:   time.Hour, // checked within a minute
			temp:    true,
			message: "injected_fault: injected fault: 429 Too Many Requests",
		},
		{
			name: "context canceled while the server works",
			setup: func(t *testing.T, s *algoregtest.Server, ctx context.Context, cancel context.CancelFunc) {
				release := make(chan struct{})
				t.Cleanup(func() { close(release) }) // before the server closes
				s.SetBeforeSave(func(*load.SaveRequest) { cancel(); <-release })
			},
			req: one,
			is:  context.Canceled,
		},
		{
			name: "context canceled before the call",
			setup: func(t *testing.T, s *algoregtest.Server, _ context.Context, cancel context.CancelFunc) {
				cancel()
			},
			req: one,
			is:  context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := algoregtest.NewServer(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.setup != nil {
				tt.setup(t, s, ctx, cancel)
			}
			token := s.Token
			if tt.token != "" {
				token = tt.token
			}
			resp, err := load.NewClient(s.URL, load.BearerToken(token), nil).Save(ctx, tt.req)

			if tt.status == 0 && tt.is == nil {
				if err != nil {
					t.Fatalf("Save: %v", err)
				}
				tt.check(t, s, resp)
				return
			}
			if err == nil {
				t.Fatalf("Save succeeded with %+v; want an error", resp)
			}
			if resp != nil {
				t.Errorf("Save returned both %+v and %v", resp, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
			var apiErr *load.APIError
			if got := errors.As(err, &apiErr); got != (tt.status != 0) {
				t.Fatalf("error %v: *APIError = %v, want %v", err, got, tt.status != 0)
			}
			if tt.status == 0 {
				return
			}
			if apiErr.StatusCode != tt.status || apiErr.Temporary() != tt.temp || apiErr.Message() != tt.message {
				t.Errorf("got status %d, temporary %v, message %q; want %d, %v, %q",
					apiErr.StatusCode, apiErr.Temporary(), apiErr.Message(), tt.status, tt.temp, tt.message)
			}
			if d := apiErr.RetryAfter - tt.retry; d < -time.Minute || d > 0 {
				t.Errorf("RetryAfter = %v, want %v", apiErr.RetryAfter, tt.retry)
			}
			if !strings.Contains(err.Error(), "algoreg save: HTTP "+fmt.Sprint(tt.status)+" ") ||
				!strings.Contains(err.Error(), tt.message) {
				t.Errorf("Error() = %q: want the status, then %q", err, tt.message)
			}
		})
	}
}

func TestSaveConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = load.NewClient("http://"+addr, load.BearerToken("secret-token"), nil).Save(context.Background(), &load.SaveRequest{})
	var opErr *net.OpError
	if !errors.As(err, &opErr) || !strings.HasPrefix(err.Error(), "algoreg save: ") {
		t.Fatalf("got %v, want a wrapped *net.OpError", err)
	}
}

func TestSaveHeaders(t *testing.T) {
	var got http.Header
	h := algoregtest.NewHandler("tok")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	// A trailing slash on the base URL does not double the path's.
	if _, err := load.NewClient(srv.URL+"/", load.BearerToken("tok"), nil).Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A"}}}); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"Authorization": "Bearer tok",
		"Content-Type":  "application/json",
		"Accept":        "application/json",
		"User-Agent":    buildinfo.UserAgent(),
	} {
		if got.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, got.Get(k), want)
		}
	}
}

// TestTokenNeverShown checks that the token appears in no error text, for
// the statuses and failures a client meets, nor in the client's own text.
func TestTokenNeverShown(t *testing.T) {
	const token = "s3cr3t-t0ken-value"
	// echo answers with the request's headers, as a careless proxy might.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "upstream failed; request headers: %v", r.Header)
	}))
	defer echo.Close()
	echoJSON := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"errors":[{"code":"bad_token","message":"token %s is unknown"}]}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	}))
	defer echoJSON.Close()
	s := algoregtest.NewServer(t)
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedURL := "http://" + refused.Addr().String()
	refused.Close()

	tests := []struct {
		name  string
		url   string
		setup func()
	}{
		{"401", s.URL, nil},
		{"500", s.URL, func() { s.FailNext(1, algoregtest.Fault{StatusCode: 500}) }},
		{"connection refused", refusedURL, nil},
		{"dropped connection", s.URL, func() { s.FailNext(1, algoregtest.Fault{Abort: true}) }},
		{"headers echoed in a text body", echo.URL, nil},
		{"token echoed in a JSON body", echoJSON.URL, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			tok := token
			if tt.name != "401" && tt.url == s.URL {
				tok = s.Token
			}
			c := load.NewClient(tt.url, load.BearerToken(tok), nil)
			_, err := c.Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A"}}})
			if err == nil {
				t.Fatal("Save succeeded")
			}
			texts := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err),
				fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)}
			var apiErr *load.APIError
			if errors.As(err, &apiErr) {
				texts = append(texts, apiErr.Message(), fmt.Sprintf("%+v", apiErr.Items))
			}
			for _, text := range texts {
				if strings.Contains(text, tok) {
					t.Errorf("the token appears in %q", text)
				}
			}
		})
	}
}

// TestSaveConcurrent sends many calls at once through one client, so that a
// request buffer reused too early would mix up bodies (run with -race).
func TestSaveConcurrent(t *testing.T) {
	s := algoregtest.NewServer(t)
	c := s.Client()
	const workers, calls, perCall = 8, 20, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				req := &load.SaveRequest{}
				for k := range perCall {
					id := fmt.Sprintf("w%d-c%d-k%d", w, i, k)
					req.Customers = append(req.Customers, load.Customer{ExternalID: id, Comment: strings.Repeat(id, 50*(k+1))})
				}
				resp, err := c.Save(context.Background(), req)
				if err != nil {
					t.Error(err)
					return
				}
				if len(resp.Added) != perCall || len(resp.Detail) != 0 {
					t.Errorf("answer %+v", resp)
				}
			}
		})
	}
	wg.Wait()
	got := s.Customers()
	if len(got) != workers*calls*perCall {
		t.Fatalf("stored %d customers, want %d", len(got), workers*calls*perCall)
	}
	for id, cu := range got {
		k := int(id[len(id)-1] - '0')
		if cu.Comment != strings.Repeat(id, 50*(k+1)) {
			t.Fatalf("customer %s holds another call's comment", id)
		}
	}
}

func TestSaveTolerantDecoding(t *testing.T) {
	tests := []struct {
		name, body string
		want       load.SaveResponse
		wantErr    bool
	}{
		{"unknown fields", `{"added":[{"customer_id":7,"external_id":"A","extra":{}}],"status":"ok","took_ms":3,"verify_input":false}`,
			load.SaveResponse{Added: []load.Added{{CustomerID: "7", ExternalID: "A"}}, Status: "ok"}, false},
		{"string id", `{"added":[{"customer_id":"c-7","external_id":"A"}]}`,
			load.SaveResponse{Added: []load.Added{{CustomerID: "c-7", ExternalID: "A"}}}, false},
		{"nulls", `{"added":null,"detail":null,"status":null}`, load.SaveResponse{}, false},
		{"empty", ``, load.SaveResponse{}, true},
		{"not an object", `[]`, load.SaveResponse{}, true},
		{"truncated", `{"added":[{"customer_id":7`, load.SaveResponse{}, true},
		{"wrong type", `{"added":"A"}`, load.SaveResponse{}, true},
		{"bool id", `{"added":[{"customer_id":true}]}`, load.SaveResponse{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			resp, err := load.NewClient(srv.URL, load.BearerToken("tok"), nil).Save(context.Background(), &load.SaveRequest{})
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "decoding 200 answer") {
					t.Errorf("got %+v, %v; want a decoding error", resp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(*resp) != fmt.Sprint(tt.want) {
				t.Errorf("got %+v, want %+v", *resp, tt.want)
			}
		})
	}
}

func TestSaveNilRequest(t *testing.T) {
	if _, err := load.NewClient("http://127.0.0.1:1", load.BearerToken("tok"), nil).Save(context.Background(), nil); err == nil {
		t.Error("Save(nil) succeeded")
	}
}
