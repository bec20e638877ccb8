package load_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// newSender returns a Sender for s whose first wait before a retry is at
// most a millisecond.
func newSender(s *algoregtest.Server, opts load.SenderOptions) *load.Sender {
	snd := load.NewSender(s.Client(), opts)
	load.SetBaseBackoff(snd, time.Millisecond)
	return snd
}

// chunk returns a request of n customers named prefix-0 to prefix-(n-1).
func chunk(prefix string, n int) *load.SaveRequest {
	req := &load.SaveRequest{Customers: make([]load.Customer, n)}
	for i := range req.Customers {
		req.Customers[i] = load.Customer{ExternalID: fmt.Sprintf("%s-%d", prefix, i), AccountType: load.AccountFirm}
	}
	return req
}

// sendAll calls Send for n chunks of size records from workers goroutines,
// and returns the sum of the outcomes; after is called after each Send.
func sendAll(t *testing.T, snd *load.Sender, workers, n, size int, after func(done int)) load.Outcome {
	t.Helper()
	var (
		mu    sync.Mutex
		total load.Outcome
		next  atomic.Int64
		done  int
	)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				out, err := snd.Send(context.Background(), chunk(fmt.Sprint("chunk", i), size))
				if err != nil {
					t.Errorf("Send chunk %d: %v", i, err)
					return
				}
				mu.Lock()
				total.Calls += out.Calls
				total.Retries += out.Retries
				total.Added = append(total.Added, out.Added...)
				total.Refused = append(total.Refused, out.Refused...)
				done++
				if after != nil {
					after(done)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return total
}

// statusCounter counts the statuses an Observe hook sees.
type statusCounter struct {
	mu      sync.Mutex
	calls   int
	retries int
	status  map[int]int
}

func (c *statusCounter) observe(call load.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = make(map[int]int)
	}
	c.calls++
	c.status[call.Status]++
	if call.Retry {
		c.retries++
	}
	if (call.Status == http.StatusOK) != (call.Err == nil) || call.Latency <= 0 {
		panic(fmt.Sprintf("inconsistent Call %+v", call))
	}
}

func TestSendRetriesTransientFailures(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetFaults(algoregtest.Faults{Rate500: 0.1, Rate429: 0.1, RetryAfter: time.Second, Seed: 1})
	s.FailNext(2, algoregtest.Fault{Abort: true}) // and two dropped connections
	var obs statusCounter
	// MaxBackoff also caps the Retry-After of 1 s.
	snd := newSender(s, load.SenderOptions{MaxAttempts: 10, MaxBackoff: 2 * time.Millisecond, Observe: obs.observe})

	const chunks, size = 200, 5
	start := time.Now()
	total := sendAll(t, snd, 4, chunks, size, nil)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v: Retry-After was not capped", d)
	}

	if got := len(s.Customers()); got != chunks*size {
		t.Errorf("%d customers arrived, want %d", got, chunks*size)
	}
	if len(total.Added) != chunks*size || len(total.Refused) != 0 {
		t.Errorf("Added %d, Refused %d; want %d, 0", len(total.Added), len(total.Refused), chunks*size)
	}
	if total.Calls != s.Requests() || total.Calls != obs.calls {
		t.Errorf("Calls = %d; the API saw %d and Observe %d", total.Calls, s.Requests(), obs.calls)
	}
	if total.Retries != total.Calls-chunks || total.Retries != obs.retries {
		t.Errorf("Retries = %d, Observe saw %d; want Calls - chunks = %d", total.Retries, obs.retries, total.Calls-chunks)
	}
	if obs.status[500] < 10 || obs.status[429] < 10 || obs.status[0] != 2 || obs.status[200] != chunks {
		t.Errorf("statuses %v: want some 500s and 429s, two dropped connections, %d 200s", obs.status, chunks)
	}
}

func TestSendRateLimit(t *testing.T) {
	const rate, calls = 50.0, 40
	s := algoregtest.NewServer(t)
	snd := newSender(s, load.SenderOptions{RateLimit: rate})
	start := time.Now()
	sendAll(t, snd, 8, calls, 1, nil)
	elapsed := time.Since(start)

	// A limiter with a burst of 1 lets the first call go at once and one
	// more every 1/rate seconds.
	if min := time.Duration(float64(calls-1) / rate * 0.95 * float64(time.Second)); elapsed < min {
		t.Errorf("%d calls took %v, want at least %v", calls, elapsed, min)
	}
	// The API's own view: no window holds more calls than the rate allows,
	// with two calls of slack for the jitter of arrival (40 ms at 50/s) on
	// a busy machine. Without the limiter all 40 arrive within a few ms.
	times := s.CallTimes()
	if len(times) != calls {
		t.Fatalf("the API saw %d calls, want %d", len(times), calls)
	}
	span := times[len(times)-1].Sub(times[0])
	if limit := rate*span.Seconds() + 3; float64(calls) > limit {
		t.Errorf("the API saw %d calls in %v; at %v/s at most %.1f may come", calls, span, rate, limit)
	}
	const window = 400 * time.Millisecond
	for i := range times {
		j := i
		for j < len(times) && times[j].Sub(times[i]) < window {
			j++
		}
		if n, limit := j-i, rate*window.Seconds()+3; float64(n) > limit {
			t.Errorf("%d calls arrived within %v of %v; at most %.0f may", n, window, times[i].Sub(times[0]), limit)
			break
		}
	}
}

func TestSendIsolatesRefusedRecords(t *testing.T) {
	withRelations := func() *load.SaveRequest {
		req := chunk("C", 30)
		for i := range 20 {
			req.Relations = append(req.Relations, load.Relation{RelationExternalID: fmt.Sprint("R-", i),
				ParentCustomerExternalID: "C-0", ChildCustomerExternalID: fmt.Sprint("C-", i+1), RelationType: 1})
		}
		return req
	}
	tests := []struct {
		name      string
		req       *load.SaveRequest
		poison    []string
		want      []load.Refusal // Err not compared
		maxCalls  int
		customers int // stored
		relations int
	}{
		{"first", chunk("C", 50), []string{"C-0"}, []load.Refusal{{Customer: 0, Relation: -1}}, 13, 49, 0},
		{"middle", chunk("C", 50), []string{"C-17"}, []load.Refusal{{Customer: 17, Relation: -1}}, 13, 49, 0},
		{"last", chunk("C", 50), []string{"C-49"}, []load.Refusal{{Customer: 49, Relation: -1}}, 13, 49, 0},
		{"two", chunk("C", 50), []string{"C-3", "C-40"}, []load.Refusal{{Customer: 3, Relation: -1}, {Customer: 40, Relation: -1}}, 25, 48, 0},
		{"all", chunk("C", 2), []string{"C-0", "C-1"}, []load.Refusal{{Customer: 0, Relation: -1}, {Customer: 1, Relation: -1}}, 3, 0, 0},
		{"a relation", withRelations(), []string{"R-7"}, []load.Refusal{{Customer: -1, Relation: 7}}, 13, 30, 19},
		{"a customer before relations", withRelations(), []string{"C-29"}, []load.Refusal{{Customer: 29, Relation: -1}}, 13, 29, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := algoregtest.NewServer(t)
			for _, id := range tt.poison {
				s.Poison(id, "chokes the importer")
			}
			out, err := newSender(s, load.SenderOptions{}).Send(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Refused) != len(tt.want) {
				t.Fatalf("Refused %+v, want %+v", out.Refused, tt.want)
			}
			for i, r := range out.Refused {
				id := tt.poison[i]
				if r.Customer != tt.want[i].Customer || r.Relation != tt.want[i].Relation || r.Err == nil ||
					r.Err.StatusCode != 400 || !strings.Contains(r.Err.Message(), `"`+id+`" is refused: chokes the importer`) {
					t.Errorf("Refused[%d] = %+v (%v), want %+v naming %s", i, r, r.Err, tt.want[i], id)
				}
			}
			if len(s.Customers()) != tt.customers || len(s.Relations()) != tt.relations {
				t.Errorf("stored %d customers, %d relations; want %d, %d", len(s.Customers()), len(s.Relations()), tt.customers, tt.relations)
			}
			if len(out.Added) != tt.customers {
				t.Errorf("Added %d, want %d", len(out.Added), tt.customers)
			}
			if out.Calls > tt.maxCalls || out.Calls != s.Requests() || out.Retries != 0 {
				t.Errorf("Calls = %d (API saw %d), Retries = %d; want at most %d, no retries", out.Calls, s.Requests(), out.Retries, tt.maxCalls)
			}
		})
	}
}

func TestSendSplitCalls(t *testing.T) {
	// One poisoned record among 50: the calls are about 2·log2(50)+1.
	s := algoregtest.NewServer(t)
	s.Poison("C-31", "bad")
	out, err := newSender(s, load.SenderOptions{}).Send(context.Background(), chunk("C", 50))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 2*int(math.Floor(math.Log2(50)))+1, 2*int(math.Ceil(math.Log2(50)))+1
	if out.Calls < lo || out.Calls > hi {
		t.Errorf("Calls = %d, want %d to %d", out.Calls, lo, hi)
	}
	if len(out.Refused) != 1 || out.Refused[0].Customer != 31 || len(s.Customers()) != 49 {
		t.Errorf("Refused %+v, stored %d; want C-31 refused, 49 stored", out.Refused, len(s.Customers()))
	}
}

func TestSendKeepsVerifyAndRiskScan(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.Poison("C-5", "bad")
	s.SetFaults(algoregtest.Faults{MaxRecords: 8})
	req := chunk("C", 20)
	req.VerifyInput, req.DisableRiskScan = true, true
	out, err := newSender(s, load.SenderOptions{}).Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Refused) != 1 || len(out.Added) != 19 {
		t.Fatalf("Refused %d, Added %d; want 1, 19", len(out.Refused), len(out.Added))
	}
	if len(s.Customers()) != 0 {
		t.Errorf("a verify_input Send stored %d customers", len(s.Customers()))
	}
	flags := s.RiskScanFlags()
	if len(flags) == 0 || slices.Contains(flags, false) {
		t.Errorf("RiskScanFlags() = %v, want all true", flags)
	}
	for _, a := range out.Added {
		if a.CustomerID != "0" {
			t.Errorf("added %+v: a verify_input call gave out an id", a)
		}
	}
}

func TestSendTooLarge(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetFaults(algoregtest.Faults{MaxRecords: 10})
	out, err := newSender(s, load.SenderOptions{}).Send(context.Background(), chunk("C", 50))
	if err != nil {
		t.Fatal(err)
	}
	// 50 → 25 → 13/12 → 7/6: 1 + 2 + 4 + 8 calls.
	if len(out.Refused) != 0 || len(s.Customers()) != 50 || out.Calls != 15 {
		t.Errorf("Refused %d, stored %d, Calls %d; want 0, 50, 15", len(out.Refused), len(s.Customers()), out.Calls)
	}

	// A record too large on its own is refused.
	tooLarge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		fmt.Fprint(w, `{"errors":[{"code":"too_large","message":"request too large"}]}`)
	}))
	defer tooLarge.Close()
	out, err = load.NewSender(load.NewClient(tooLarge.URL, load.BearerToken("t"), nil), load.SenderOptions{}).Send(context.Background(), chunk("C", 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Refused) != 2 || out.Refused[1].Customer != 1 || out.Refused[1].Err.StatusCode != 413 || out.Calls != 3 {
		t.Errorf("Refused %+v, Calls %d; want both customers refused with 413 after 3 calls", out.Refused, out.Calls)
	}
}

func TestSendGivesUp(t *testing.T) {
	tests := []struct {
		name     string
		opts     load.SenderOptions
		calls    int    // exactly; 0 to check only minCalls
		minCalls int    // at least
		message  string // in the error
		within   time.Duration
	}{
		{"attempts", load.SenderOptions{MaxAttempts: 4, MaxBackoff: time.Millisecond}, 4, 4, "giving up after 4 attempts: ", time.Second},
		{"retry time", load.SenderOptions{MaxAttempts: 1000, MaxRetryTime: 150 * time.Millisecond, MaxBackoff: 20 * time.Millisecond},
			0, 4, "(retry time limit 150ms)", 150*time.Millisecond + time.Second},
		// Without MaxAttempts, only the time bounds the attempts: many
		// more than the 5 that used to be the default.
		{"no attempt bound", load.SenderOptions{MaxRetryTime: time.Second, MaxBackoff: 2 * time.Millisecond},
			0, 10, "(retry time limit 1s)", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := algoregtest.NewServer(t)
			s.FailNext(10000, algoregtest.Fault{StatusCode: 503})
			start := time.Now()
			out, err := newSender(s, tt.opts).Send(context.Background(), chunk("C", 10))
			elapsed := time.Since(start)
			if err == nil {
				t.Fatal("Send succeeded against an API that always answers 503")
			}
			var apiErr *load.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || !strings.Contains(err.Error(), tt.message) ||
				!strings.HasPrefix(err.Error(), "algoreg send: giving up after ") {
				t.Errorf("error %q: want the 503 wrapped, saying %q", err, tt.message)
			}
			if (tt.calls != 0 && s.Requests() != tt.calls) || s.Requests() < tt.minCalls || out.Calls != s.Requests() {
				t.Errorf("the API saw %d calls, Outcome %d; want %d (at least %d)", s.Requests(), out.Calls, tt.calls, tt.minCalls)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", s.Requests())) {
				t.Errorf("error %q does not give the %d attempts", err, s.Requests())
			}
			if elapsed > tt.within {
				t.Errorf("took %v, want at most %v", elapsed, tt.within)
			}
		})
	}
}

// TestSendRidesOutAnOutage: with the default options, an API that answers
// 500 to every call for some seconds, then recovers, costs a delay, not a
// failed call.
func TestSendRidesOutAnOutage(t *testing.T) {
	s := algoregtest.NewServer(t)
	const outage = 3 * time.Second
	s.FailFor(outage, algoregtest.Fault{StatusCode: http.StatusInternalServerError})
	start := time.Now()
	out, err := load.NewSender(s.Client(), load.SenderOptions{}).Send(context.Background(), chunk("C", 3))
	if err != nil {
		t.Fatalf("Send through a %v outage: %v", outage, err)
	}
	if time.Since(start) < outage || out.Retries == 0 || len(s.Customers()) != 3 {
		t.Errorf("after %v: %d calls, %d retries, %d customers stored; want the 3 stored after the outage",
			time.Since(start), out.Calls, out.Retries, len(s.Customers()))
	}
}

// TestSendRetryTimeAndRetryAfter: a Retry-After that ends after the retry
// time limit fails the call at once; a backoff is cut short to end at the
// limit, where one more attempt is made.
func TestSendRetryTimeAndRetryAfter(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.FailNext(100, algoregtest.Fault{StatusCode: http.StatusTooManyRequests, RetryAfter: "5"})
	_, err := newSender(s, load.SenderOptions{MaxRetryTime: time.Second}).Send(context.Background(), chunk("C", 1))
	if err == nil || !strings.Contains(err.Error(), "giving up after 1 attempts") || s.Requests() != 1 {
		t.Errorf("Retry-After 5 s beyond a 1 s limit: %v, %d calls; want to give up after the first attempt", err, s.Requests())
	}

	s = algoregtest.NewServer(t)
	s.FailNext(1, algoregtest.Fault{StatusCode: http.StatusInternalServerError})
	snd := load.NewSender(s.Client(), load.SenderOptions{MaxRetryTime: time.Second})
	load.SetBaseBackoff(snd, time.Hour) // every backoff is longer than the limit
	out, err := snd.Send(context.Background(), chunk("C", 1))
	if err != nil || s.Requests() != 2 || out.Calls != 2 {
		t.Errorf("a backoff longer than the limit: %v, %d calls; want the wait cut to the limit, then a last attempt, which passes", err, s.Requests())
	}
}

func TestSendFailsWholeOnCallErrors(t *testing.T) {
	tests := []struct {
		name    string
		client  func(s *algoregtest.Server) *load.Client
		status  int
		message string
	}{
		{"401", func(s *algoregtest.Server) *load.Client {
			return load.NewClient(s.URL, load.BearerToken("wrong-token"), nil)
		}, 401, "the API refused the credentials: the static token"},
		{"404", func(s *algoregtest.Server) *load.Client {
			return load.NewClient(s.URL+"/v0", load.BearerToken(s.Token), nil)
		}, 404, "the API refused the call itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := algoregtest.NewServer(t)
			out, err := load.NewSender(tt.client(s), load.SenderOptions{}).Send(context.Background(), chunk("C", 16))
			var apiErr *load.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("error %v: want HTTP %d saying %q", err, tt.status, tt.message)
			}
			if s.Requests() != 1 || out.Calls != 1 || len(out.Refused) != 0 {
				t.Errorf("the API saw %d calls, Outcome %+v: want one call, not split", s.Requests(), out)
			}
			if strings.Contains(err.Error(), s.Token) {
				t.Errorf("the error shows the token")
			}
		})
	}
}

func TestSendCancelDuringBackoff(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.FailNext(1, algoregtest.Fault{StatusCode: 503, RetryAfter: "60"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiting := make(chan struct{})
	snd := newSender(s, load.SenderOptions{MaxBackoff: time.Minute, Observe: func(load.Call) { close(waiting) }})
	go func() {
		<-waiting
		time.Sleep(50 * time.Millisecond) // well inside the wait of 60 s
		cancel()
	}()
	start := time.Now()
	_, err := snd.Send(ctx, chunk("C", 1))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send returned %v after the cancellation", d)
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "to retry after attempt 1") {
		t.Errorf("error %v: want context.Canceled while waiting to retry", err)
	}
	if s.Requests() != 1 {
		t.Errorf("the API saw %d calls, want 1", s.Requests())
	}
}

func TestSendFixedConcurrency(t *testing.T) {
	s := algoregtest.NewServer(t)
	s.SetFaults(algoregtest.Faults{Latency: 20 * time.Millisecond})
	snd := newSender(s, load.SenderOptions{Concurrency: 3})
	if snd.Concurrency() != 3 {
		t.Errorf("Concurrency() = %d, want 3", snd.Concurrency())
	}
	sendAll(t, snd, 12, 36, 1, nil)
	if got := s.MaxInFlight(); got != 3 {
		t.Errorf("MaxInFlight() = %d, want 3", got)
	}
	if got := load.NewSender(s.Client(), load.SenderOptions{}).Concurrency(); got != 0 {
		t.Errorf("Concurrency() without a gate = %d, want 0", got)
	}
}

func TestSendAdaptiveConcurrency(t *testing.T) {
	if testing.Short() {
		t.Skip("takes seconds")
	}
	const capacity, workers, chunks = 6, 32, 400
	s := algoregtest.NewServer(t)
	s.SetFaults(algoregtest.Faults{MaxConcurrent: capacity, Latency: 50 * time.Millisecond})
	var obs statusCounter
	snd := newSender(s, load.SenderOptions{
		MaxAttempts: 20, MaxBackoff: 20 * time.Millisecond,
		Adaptive: &load.AIMDOptions{Max: workers}, Observe: obs.observe,
	})
	if snd.Concurrency() != 2 {
		t.Errorf("initial Concurrency() = %d, want 2", snd.Concurrency())
	}
	var samples []int
	total := sendAll(t, snd, workers, chunks, 1, func(done int) {
		if done > chunks*3/4 {
			samples = append(samples, snd.Concurrency())
		}
	})
	t.Logf("calls %d, 429s %d, limits in the last quarter %v", total.Calls, obs.status[429], samples)

	if len(s.Customers()) != chunks {
		t.Errorf("%d customers arrived, want %d", len(s.Customers()), chunks)
	}
	// The limit must never overshoot the API's capacity by much; it may dip
	// below it when the machine running the test slows every call (that is
	// latency rising, which the limit rightly answers), but it must spend
	// most of the last quarter near the capacity.
	sorted := slices.Sorted(slices.Values(samples))
	if len(sorted) == 0 || sorted[len(sorted)-1] > 8 || sorted[len(sorted)/2] < 4 {
		t.Errorf("limits in the last quarter %v: want none above 8 and a median of at least 4", samples)
	}
	if n := obs.status[429]; n*10 >= total.Calls {
		t.Errorf("%d of %d calls got 429, want under 10%%", n, total.Calls)
	}
}

func TestSendEmptyAndNil(t *testing.T) {
	s := algoregtest.NewServer(t)
	snd := load.NewSender(s.Client(), load.SenderOptions{})
	if out, err := snd.Send(context.Background(), &load.SaveRequest{}); err != nil || out.Calls != 0 || s.Requests() != 0 {
		t.Errorf("empty request: %+v, %v; want no call", out, err)
	}
	if _, err := snd.Send(context.Background(), nil); err == nil {
		t.Errorf("nil request: no error")
	}
}

// BenchmarkSend measures a Send of 500 customers against the sandbox in
// fast mode, against a bare Client.Save, to show what the Sender adds.
func BenchmarkSend(b *testing.B) {
	req := chunk("C", 500)
	for i := range req.Customers {
		req.Customers[i].FirstName, req.Customers[i].DateOfBirth = "Ada", "1815-12-10"
	}
	s := algoregtest.NewServer(b)
	s.SetFast(true)
	b.Run("Client.Save", func(b *testing.B) {
		c := s.Client()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Save(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Sender.Send", func(b *testing.B) {
		snd := load.NewSender(s.Client(), load.SenderOptions{RateLimit: 1e9, Adaptive: &load.AIMDOptions{}})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := snd.Send(context.Background(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
