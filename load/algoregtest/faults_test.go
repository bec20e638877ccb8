package algoregtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

const oneCustomer = `{"customers":[{"external_id":"C1"}]}`

// statuses makes n calls one at a time and returns their statuses and the
// Retry-After of each.
func statuses(t *testing.T, h http.Handler, n int) ([]int, []string) {
	t.Helper()
	codes, retry := make([]int, n), make([]string, n)
	for i := range n {
		a := call(t, h, oneCustomer, nil)
		codes[i], retry[i] = a.status, a.header.Get("Retry-After")
	}
	return codes, retry
}

func TestRandomFaults(t *testing.T) {
	const n = 2000
	f := algoregtest.Faults{Rate500: 0.1, Rate429: 0.1, RetryAfter: 1500 * time.Millisecond, Seed: 7}
	h := algoregtest.NewHandler(token)
	h.SetFaults(f)
	codes, retry := statuses(t, h, n)

	count := map[int]int{}
	for i, c := range codes {
		count[c]++
		switch want := ""; c {
		case http.StatusTooManyRequests:
			if want = "2"; retry[i] != want { // 1.5 s rounded up
				t.Fatalf("call %d: Retry-After %q, want %q", i, retry[i], want)
			}
		case http.StatusInternalServerError, http.StatusOK:
			if retry[i] != want {
				t.Fatalf("call %d (%d): Retry-After %q, want none", i, c, retry[i])
			}
		default:
			t.Fatalf("call %d: status %d", i, c)
		}
	}
	for _, c := range []int{500, 429} {
		if count[c] < n/10*7/10 || count[c] > n/10*13/10 {
			t.Errorf("%d answers %d of %d calls, want about 10%%", c, count[c], n)
		}
	}
	if h.Received() != count[200] || h.Requests() != n {
		t.Errorf("Received() = %d, Requests() = %d; want %d (the 200s), %d", h.Received(), h.Requests(), count[200], n)
	}

	// The same seed gives the same faults; another seed others.
	again := algoregtest.NewHandler(token)
	again.SetFaults(f)
	if got, _ := statuses(t, again, n); !slices.Equal(got, codes) {
		t.Errorf("the same seed gave other faults")
	}
	f.Seed++
	again.SetFaults(f)
	if got, _ := statuses(t, again, n); slices.Equal(got, codes) {
		t.Errorf("another seed gave the same faults")
	}
	// Off again.
	again.SetFaults(algoregtest.Faults{})
	if got, _ := statuses(t, again, 50); slices.ContainsFunc(got, func(c int) bool { return c != 200 }) {
		t.Errorf("faults after SetFaults(Faults{}): %v", got)
	}
}

func TestRetryAfterZero(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFaults(algoregtest.Faults{Rate429: 1})
	a := call(t, h, oneCustomer, nil)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "0" {
		t.Fatalf("status %d, Retry-After %q; want 429 and \"0\"", a.status, a.header.Get("Retry-After"))
	}
	errorItems(t, a)
}

func TestQueuedFaultsComeFirst(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFaults(algoregtest.Faults{Rate429: 1})
	h.FailNext(1, algoregtest.Fault{StatusCode: 502})
	if got, _ := statuses(t, h, 2); !slices.Equal(got, []int{502, 429}) {
		t.Errorf("statuses %v, want [502 429]", got)
	}
}

func TestLatency(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFaults(algoregtest.Faults{Latency: 80 * time.Millisecond})
	start := time.Now()
	save(t, h, oneCustomer)
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Errorf("call took %v, want at least 80ms", d)
	}
}

func TestMaxConcurrent(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetFaults(algoregtest.Faults{MaxConcurrent: 2, RetryAfter: 3 * time.Second})
	release, entered := make(chan struct{}), make(chan struct{}, 2)
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	s.SetBeforeSave(func(r *load.SaveRequest) {
		if strings.HasPrefix(r.Customers[0].ExternalID, "slow") {
			entered <- struct{}{}
			<-release
		}
	})
	c := s.Client()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			if _, err := c.Save(context.Background(), req(fmt.Sprint("slow", i))); err != nil {
				t.Errorf("slow call: %v", err)
			}
		})
	}
	<-entered
	<-entered

	// Two calls are in; a third is refused at once.
	_, err := c.Save(context.Background(), req("third"))
	var apiErr *load.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.RetryAfter != 3*time.Second {
		t.Fatalf("third call: %v; want 429 with Retry-After 3s", err)
	}
	if got := s.MaxInFlight(); got != 3 {
		t.Errorf("MaxInFlight() = %d, want 3 (two held, one refused)", got)
	}
	free()
	wg.Wait()
	if _, err := c.Save(context.Background(), req("fourth")); err != nil {
		t.Errorf("call after the others left: %v", err)
	}
	if _, ok := s.Customer("third"); ok {
		t.Errorf("the refused call was stored")
	}
}

func TestMaxRecords(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFaults(algoregtest.Faults{MaxRecords: 3})
	save(t, h, `{"customers":[{"external_id":"A"},{"external_id":"B"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`)
	a := call(t, h, `{"customers":[{"external_id":"C"},{"external_id":"D"},{"external_id":"E"},{"external_id":"F"}]}`, nil)
	if a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("4 records: status %d, want 413", a.status)
	}
	if msg := current(errorItems(t, a)); !strings.Contains(msg, "4 customers and relations") || !strings.Contains(msg, "at most 3") {
		t.Errorf("message %q", msg)
	}
	if len(h.Customers()) != 2 || h.Received() != 2 {
		t.Errorf("stored %d, Received %d; want the first call's 2 only", len(h.Customers()), h.Received())
	}
}

func TestPoison(t *testing.T) {
	const both = `{"customers":[{"external_id":"A"},{"external_id":"B"}],
		"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`
	tests := []struct {
		name, poison, body string
		status             int
		mention            string
	}{
		{"customer", "B", both, 400, `customers[1] external_id "B" is refused: bad B`},
		{"relation", "R", both, 400, `relations[0] relation_external_id "R" is refused: bad R`},
		{"absent", "Z", both, 200, ""},
		{"either kind", "R", `{"customers":[{"external_id":"R"}]}`, 400, `customers[0] external_id "R"`},
		{"verify input too", "A", `{"verify_input":true,"customers":[{"external_id":"A"}]}`, 400, `"A" is refused`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			h.Poison(tt.poison, "bad "+tt.poison)
			a := call(t, h, tt.body, nil)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.status, a.body)
			}
			if tt.status == 200 {
				return
			}
			items := errorItems(t, a)
			if msg := current(items); !strings.Contains(msg, algoregtest.CodePoisoned+": ") || !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			if len(h.Customers()) != 0 || h.Received() != 0 {
				t.Errorf("a poisoned call stored records")
			}
			h.Unpoison(tt.poison)
			if a := call(t, h, tt.body, nil); a.status != 200 {
				t.Errorf("after Unpoison: status %d", a.status)
			}
		})
	}
}

func TestFast(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		mention    string
	}{
		{"valid", `{"customers":[{"external_id":"A","account_type":"N"}],"disable_risk_scan":true}`, 200, ""},
		{"field checks skipped", `{"customers":[{"external_id":"A","date_of_birth":"x","account_type":"?"}]}`, 200, ""},
		{"relations", `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B","relation_type":1}]}`, 200, ""},
		{"no external_id", `{"customers":[{"external_id":"A"},{"first_name":"x"}]}`, 400, "customers[1] has no external_id"},
		{"relation without type", `{"relations":[{"relation_external_id":"R","parent_customer_external_id":"A","child_customer_external_id":"B"}]}`, 400, "relations[0]"},
		{"wrong type", `{"customers":[{"external_id":"A","kyc_level":"2"}]}`, 400, "kyc_level"},
		{"malformed", `{"customers":[`, 400, "invalid body"},
		{"not an object", `[]`, 400, "not a JSON object"},
		{"no records", `{"customers":[]}`, 400, "no customers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := algoregtest.NewHandler(token)
			h.SetFast(true)
			a := call(t, h, tt.body, nil)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", a.status, tt.status, a.body)
			}
			if h.Requests() != 1 || len(h.Customers()) != 0 {
				t.Errorf("Requests() = %d, stored %d; want 1, 0", h.Requests(), len(h.Customers()))
			}
			if tt.status != 200 {
				if msg := current(errorItems(t, a)); !strings.Contains(msg, tt.mention) {
					t.Errorf("message %q does not mention %q", msg, tt.mention)
				}
				return
			}
			if string(a.body) != `{"added":[],"detail":[],"status":"ok","verify_input":false}`+"\n" {
				t.Errorf("answer %s", a.body)
			}
			var req load.SaveRequest
			json.Unmarshal([]byte(tt.body), &req)
			if h.Received() != len(req.Customers) {
				t.Errorf("Received() = %d, want %d", h.Received(), len(req.Customers))
			}
		})
	}

	// Off again: checks and storing are back.
	h := algoregtest.NewHandler(token)
	h.SetFast(true)
	h.SetFast(false)
	if resp := save(t, h, `{"customers":[{"external_id":"A","date_of_birth":"x"}]}`); resp.Status != algoregtest.StatusPartial {
		t.Errorf("status %q after SetFast(false), want partial", resp.Status)
	}
}

func TestCallTimes(t *testing.T) {
	s := algoregtest.NewServer(t)
	start := time.Now()
	for i := range 5 {
		if _, err := s.Client().Save(context.Background(), req(fmt.Sprint("C", i))); err != nil {
			t.Fatal(err)
		}
	}
	end := time.Now()
	times := s.CallTimes()
	if len(times) != 5 || !slices.IsSortedFunc(times, time.Time.Compare) || times[0].Before(start) || times[4].After(end) {
		t.Errorf("CallTimes() = %v: want 5 sorted times between %v and %v", times, start, end)
	}
	s.Reset()
	if len(s.CallTimes()) != 0 || s.MaxInFlight() != 0 {
		t.Errorf("Reset kept the traffic")
	}
}

func TestResetClearsFaults(t *testing.T) {
	h := algoregtest.NewHandler(token)
	h.SetFaults(algoregtest.Faults{Rate500: 1})
	h.Poison("C1", "no")
	h.SetFast(true)
	h.Reset()
	save(t, h, oneCustomer)
	if len(h.Customers()) != 1 {
		t.Errorf("fast mode survived Reset")
	}
}

func req(ids ...string) *load.SaveRequest {
	r := &load.SaveRequest{}
	for _, id := range ids {
		r.Customers = append(r.Customers, load.Customer{ExternalID: id})
	}
	return r
}

// BenchmarkSandboxFast measures the Handler in fast mode with calls of 500
// customers: through ServeHTTP directly ("handler"), and over loopback HTTP
// through a load.Client ("http"), which adds the client's encoding and the
// transport.
func BenchmarkSandboxFast(b *testing.B) {
	r := &load.SaveRequest{DisableRiskScan: true}
	for i := range 500 {
		r.Customers = append(r.Customers, load.Customer{
			ExternalID: fmt.Sprintf("CUST-%08d", i), AccountType: load.AccountIndividual,
			FirstName: "Ada", LastName: "Lovelace", DateOfBirth: "1815-12-10",
			NationalityCodes: []string{"GB"}, DomicileCodes: []string{"GB", "FR"},
			Phone: "+44 20 7946 0000", Fields: json.RawMessage(`{"segment":"retail","score":42}`),
			ReviewGroups: json.RawMessage(`"A;B"`),
		})
	}
	body, err := json.Marshal(r)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("handler", func(b *testing.B) {
		h := algoregtest.NewHandler(token)
		h.SetFast(true)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			r := httptest.NewRequest(http.MethodPost, load.SavePath, bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/record")
	})
	b.Run("http", func(b *testing.B) {
		s := algoregtest.NewServer(b)
		s.SetFast(true)
		c := s.Client()
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Save(context.Background(), r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/record")
	})
}
