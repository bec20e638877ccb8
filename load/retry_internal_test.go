package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	s := NewSender(NewClient("http://127.0.0.1", BearerToken("t"), nil), SenderOptions{MaxBackoff: time.Second})
	tests := []struct {
		attempt  int
		apiErr   *APIError
		min, max time.Duration // of the wait, inclusive
	}{
		{1, nil, 0, 200 * time.Millisecond},
		{2, nil, 0, 400 * time.Millisecond},
		{3, nil, 0, 800 * time.Millisecond},
		{4, nil, 0, time.Second}, // capped
		{100, nil, 0, time.Second},
		{1, &APIError{StatusCode: 429, RetryAfter: 700 * time.Millisecond}, 700 * time.Millisecond, 700 * time.Millisecond},
		{1, &APIError{StatusCode: 503, RetryAfter: time.Hour}, time.Second, time.Second},  // capped
		{1, &APIError{StatusCode: 500, RetryAfter: time.Hour}, 0, 200 * time.Millisecond}, // only 429 and 503
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempt, tt.apiErr), func(t *testing.T) {
			var hi time.Duration
			for range 2000 {
				d := s.backoff(tt.attempt, tt.apiErr)
				if d < tt.min || d > tt.max {
					t.Fatalf("wait %v, want within [%v, %v]", d, tt.min, tt.max)
				}
				hi = max(hi, d)
			}
			if tt.min == 0 && hi < tt.max*8/10 { // full jitter spreads over the whole range
				t.Errorf("longest of 2000 waits %v, want near %v", hi, tt.max)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want failure
	}{
		{&APIError{StatusCode: 400}, refused},
		{&APIError{StatusCode: 409}, refused},
		{&APIError{StatusCode: 413}, refused},
		{&APIError{StatusCode: 422}, refused},
		{&APIError{StatusCode: 408}, transient},
		{&APIError{StatusCode: 429}, transient},
		{&APIError{StatusCode: 500}, transient},
		{&APIError{StatusCode: 503}, transient},
		{&APIError{StatusCode: 401}, fatal},
		{&APIError{StatusCode: 403}, fatal},
		{&APIError{StatusCode: 404}, fatal},
		{&APIError{StatusCode: 415}, fatal},
		{&APIError{StatusCode: 308}, fatal},
		{&APIError{StatusCode: 204}, fatal},
		{fmt.Errorf("algoreg save: encoding request: %w", encodeError{errors.New("bad")}), fatal},
		{fmt.Errorf("algoreg save: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), transient},
		{fmt.Errorf("algoreg save: reading 200 answer: %w", errBodyTooLarge), transient},
	}
	for _, tt := range tests {
		if got, _ := classify(tt.err); got != tt.want {
			t.Errorf("classify(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestHalves(t *testing.T) {
	req := &SaveRequest{VerifyInput: true, DisableRiskScan: true}
	for i := range 3 {
		req.Customers = append(req.Customers, Customer{ExternalID: fmt.Sprint("C", i)})
	}
	for i := range 4 {
		req.Relations = append(req.Relations, Relation{RelationExternalID: fmt.Sprint("R", i)})
	}
	l, r := halves(req)
	if len(l.Customers) != 3 || len(l.Relations) != 0 || len(r.Customers) != 0 || len(r.Relations) != 4 {
		t.Errorf("halves of 3+4: %d+%d and %d+%d; want 3+0 and 0+4", len(l.Customers), len(l.Relations), len(r.Customers), len(r.Relations))
	}
	l, r = halves(&SaveRequest{Customers: req.Customers, Relations: req.Relations[:1]})
	if len(l.Customers) != 2 || r.Customers[0].ExternalID != "C2" || len(r.Relations) != 1 {
		t.Errorf("halves of 3+1: %+v and %+v", l, r)
	}
	l, r = halves(req)
	if !l.VerifyInput || !l.DisableRiskScan || !r.VerifyInput || !r.DisableRiskScan {
		t.Errorf("halves lost the flags")
	}
	// Appending to the left half must not overwrite the right one.
	l, r = halves(&SaveRequest{Customers: req.Customers})
	_ = append(l.Customers, Customer{ExternalID: "X"})
	if r.Customers[0].ExternalID != "C1" {
		t.Errorf("the left half shares capacity with the right")
	}
}

func TestAIMD(t *testing.T) {
	ctx := context.Background()
	g := newAIMDGate(AIMDOptions{Min: 2, Max: 6, Initial: 4})
	take := func(n int) []ticket {
		ts := make([]ticket, n)
		for i := range ts {
			var err error
			if ts[i], err = g.acquire(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return ts
	}
	const ms = time.Millisecond

	// A window of successes (4) with the limit in use (half of it or more:
	// 3 of the first 4 calls, 2 of the next) adds one.
	for range 2 {
		for _, tk := range take(4) {
			g.release(tk, success, 10*ms, true)
		}
	}
	if g.Limit() != 5 {
		t.Fatalf("after a window of successes, limit %d, want 5", g.Limit())
	}
	// A burst of 429s from calls in flight together cuts once: 5 → 3.
	for _, tk := range take(5) {
		g.release(tk, overload, 0, false)
	}
	if g.Limit() != 3 {
		t.Fatalf("after a burst of 429s, limit %d, want 3", g.Limit())
	}
	// A later overload cuts again, but not below Min.
	for range 3 {
		tk := take(1)
		g.release(tk[0], overload, 0, false)
	}
	if g.Limit() != 2 {
		t.Fatalf("limit %d, want Min 2", g.Limit())
	}
	// Successes with the limit barely used teach nothing.
	g = newAIMDGate(AIMDOptions{Initial: 6})
	for range 20 {
		tk := take(1)
		g.release(tk[0], success, 10*ms, true)
	}
	if g.Limit() != 6 {
		t.Errorf("an idle sender's limit went from 6 to %d", g.Limit())
	}
	// A lasting slowdown cuts; one slow call does not.
	g = newAIMDGate(AIMDOptions{Initial: 8})
	steady := func(n int, lat time.Duration) {
		for range n {
			for _, tk := range take(g.Limit()) {
				g.release(tk, success, lat, true)
			}
		}
	}
	steady(1, 10*ms)
	l := g.Limit()
	tk := take(1)
	g.release(tk[0], success, 50*ms, true)
	if g.Limit() < l {
		t.Errorf("one slow call cut the limit from %d to %d", l, g.Limit())
	}
	l = g.Limit()
	steady(2, 40*ms)
	if g.Limit() >= l {
		t.Errorf("a lasting slowdown to 4× left the limit at %d", g.Limit())
	}
}

func TestGateWaitsInOrderAndCancels(t *testing.T) {
	g := newGate(1)
	first, err := g.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := g.acquire(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire on a canceled context: %v", err)
	}
	// The canceled waiter left no trace: one release frees the one place.
	g.release(first, success, 0, false)
	if _, err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second place was given: %v", err)
	}
}
