package algoregtest_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

func TestServer(t *testing.T) {
	s := algoregtest.NewServer(t)
	if !strings.HasPrefix(s.Token, "test-") || len(s.Token) != len("test-")+32 {
		t.Errorf("token %q: want test- and 32 hex digits", s.Token)
	}
	if other := algoregtest.NewServer(t); other.Token == s.Token {
		t.Errorf("two servers share the token %q", s.Token)
	}
	resp, err := s.Client().Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A", AccountType: "F"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Added) != 1 || resp.Added[0].ExternalID != "A" || resp.Status != algoregtest.StatusOK {
		t.Errorf("answer %+v", resp)
	}
	if _, ok := s.Customer("A"); !ok {
		t.Errorf("A not stored")
	}
}

// TestHandlerWithoutTesting serves a Handler the way the CLI does.
func TestHandlerWithoutTesting(t *testing.T) {
	h := algoregtest.NewHandler("cli-token")
	srv := &http.Server{Handler: h}
	ln := listen(t)
	go srv.Serve(ln)
	defer srv.Close()
	c := load.NewClient("http://"+ln.Addr().String(), load.BearerToken("cli-token"), nil)
	if _, err := c.Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A"}}}); err != nil {
		t.Fatal(err)
	}
	if h.Received() != 1 {
		t.Errorf("Received() = %d, want 1", h.Received())
	}
}

func TestFaults(t *testing.T) {
	req := &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A"}}}
	tests := []struct {
		name       string
		fault      algoregtest.Fault
		status     int // of the *APIError; 0 for a network error
		retryAfter time.Duration
		message    string // Message() of the *APIError
		stored     bool
	}{
		{"503 with Retry-After", algoregtest.Fault{StatusCode: 503, RetryAfter: "7"}, 503, 7 * time.Second, "injected_fault: injected fault: 503 Service Unavailable", false},
		{"429", algoregtest.Fault{StatusCode: 429, RetryAfter: "1"}, 429, time.Second, "injected_fault: injected fault: 429 Too Many Requests", false},
		{"default status", algoregtest.Fault{}, 500, 0, "injected_fault: injected fault: 500 Internal Server Error", false},
		{"raw body", algoregtest.Fault{StatusCode: 502, Body: []byte("<html>bad gateway</html>")}, 502, 0, "<html>bad gateway</html>", false},
		{"answer lost after save", algoregtest.Fault{StatusCode: 504, AfterSave: true}, 504, 0, "injected_fault: injected fault: 504 Gateway Timeout", true},
		{"abort", algoregtest.Fault{Abort: true}, 0, 0, "", false},
		{"abort after save", algoregtest.Fault{Abort: true, AfterSave: true}, 0, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := algoregtest.NewServer(t)
			s.FailNext(1, tt.fault)
			c := s.Client()
			_, err := c.Save(context.Background(), req)
			var apiErr *load.APIError
			switch {
			case err == nil:
				t.Fatal("the fault was not served")
			case tt.status == 0:
				if errors.As(err, &apiErr) {
					t.Fatalf("got %v, want a network error", err)
				}
			case !errors.As(err, &apiErr):
				t.Fatalf("got %v, want an *APIError", err)
			default:
				if apiErr.StatusCode != tt.status || apiErr.RetryAfter != tt.retryAfter || apiErr.Message() != tt.message {
					t.Errorf("got status %d, retry after %v, message %q; want %d, %v, %q",
						apiErr.StatusCode, apiErr.RetryAfter, apiErr.Message(), tt.status, tt.retryAfter, tt.message)
				}
			}
			if _, ok := s.Customer("A"); ok != tt.stored {
				t.Errorf("stored = %v, want %v", ok, tt.stored)
			}
			// The fault is used up: the next call goes through.
			if _, err := c.Save(context.Background(), req); err != nil {
				t.Errorf("call after the fault: %v", err)
			}
			if s.Requests() != 2 {
				t.Errorf("Requests() = %d, want 2", s.Requests())
			}
		})
	}
}

func TestFaultsSkipUnauthenticatedCalls(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.FailNext(2, algoregtest.Fault{StatusCode: 500})
	req := &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A"}}}
	_, err := load.NewClient(s.URL, load.BearerToken("wrong"), nil).Save(context.Background(), req)
	if apiErr := (*load.APIError)(nil); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Fatalf("got %v, want 401", err)
	}
	for i, want := range []int{500, 500, 0} {
		_, err := s.Client().Save(context.Background(), req)
		var apiErr *load.APIError
		switch {
		case want == 0 && err != nil:
			t.Errorf("call %d: %v, want success", i, err)
		case want != 0 && (!errors.As(err, &apiErr) || apiErr.StatusCode != want):
			t.Errorf("call %d: %v, want %d", i, err, want)
		}
	}
}

// TestBeforeSaveOutOfOrder makes the first call finish after the second, as
// concurrent chunks may.
func TestBeforeSaveOutOfOrder(t *testing.T) {
	s := algoregtest.NewServer(t)
	release, entered := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	s.SetBeforeSave(func(r *load.SaveRequest) {
		if r.Customers[0].ExternalID == "slow" {
			close(entered)
			<-release
		}
	})
	c := s.Client()
	done := make(chan error)
	go func() {
		_, err := c.Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "slow"}}})
		done <- err
	}()
	select { // wait until the slow call is inside the hook, not merely sent
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call never reached the hook")
	}
	resp, err := c.Save(context.Background(), &load.SaveRequest{Customers: []load.Customer{{ExternalID: "fast"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Customer("slow"); ok {
		t.Fatal("the slow call was stored before it was released")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slow, _ := s.CustomerID("slow")
	if fast, _ := s.CustomerID("fast"); fast != 1 || slow != 2 || resp.Added[0].CustomerID != "1" {
		t.Errorf("customer ids fast=%d slow=%d: want the fast call first", fast, slow)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
