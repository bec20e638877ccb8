package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// failure is the kind of a failed call.
type failure int

const (
	transient failure = iota // may pass if made again: retry
	refused                  // the API refused the records: split
	fatal                    // neither a retry nor a split can help
)

// classify tells what kind of failure err is.
func classify(err error) (failure, *APIError) {
	var apiErr *APIError
	if errors.Is(err, ErrUnauthorized) {
		errors.As(err, &apiErr)
		return fatal, apiErr
	}
	if errors.As(err, &apiErr) {
		switch c := apiErr.StatusCode; {
		case c == http.StatusRequestTimeout || apiErr.Temporary():
			return transient, apiErr
		case c == http.StatusUnauthorized || c == http.StatusForbidden,
			// The contract is silent; these say the endpoint or the
			// client is wrong, which no record causes: splitting would
			// only refuse every record one by one.
			c == http.StatusNotFound, c == http.StatusMethodNotAllowed, c == http.StatusUnsupportedMediaType:
			return fatal, apiErr
		case c >= 400 && c <= 499:
			return refused, apiErr
		}
		return fatal, apiErr // 1xx, 2xx other than 200, 3xx: not a record's fault
	}
	if errors.As(err, new(encodeError)) {
		return fatal, nil
	}
	// Network errors, timeouts, an answer cut short or not JSON.
	return transient, nil
}

// try makes one call of req, retrying transient failures. It returns the
// answer, or the *APIError of a call refused for its records, or an error
// that ends the Send. sample tells whether the call's latency may teach the
// adaptive gate (split calls are smaller than chunks and would not).
func (s *Sender) try(ctx context.Context, req *SaveRequest, sample bool, out *Outcome) (*SaveResponse, *APIError, error) {
	start := time.Now()
	renewed := false // a 401 has been answered by calling again with a fresh token
	for attempt := 1; ; attempt++ {
		resp, err := s.once(ctx, req, attempt > 1 || renewed, sample, out)
		if err == nil {
			return resp, nil, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if !errors.Is(err, ctxErr) {
				err = fmt.Errorf("%w (%w)", ctxErr, err)
			}
			return nil, nil, fmt.Errorf("algoreg send: attempt %d: %w", attempt, err)
		}
		if errors.Is(err, errTokenDropped) {
			// The token expired or was revoked: call again at once with a
			// fresh one, once; a second 401 means the credentials are bad.
			if renewed {
				var apiErr *APIError
				errors.As(err, &apiErr)
				return nil, nil, fmt.Errorf("algoreg send: %w", s.c.cred.refusedAgain(apiErr))
			}
			renewed = true
			s.log.LogAttrs(ctx, slog.LevelInfo, "algoreg token refused; calling again with a fresh one", slog.String("error", err.Error()))
			attempt--
			continue
		}
		kind, apiErr := classify(err)
		switch {
		case kind == refused:
			return nil, apiErr, nil
		case kind == fatal && errors.Is(err, ErrUnauthorized):
			return nil, nil, fmt.Errorf("algoreg send: %w", err)
		case kind == fatal && apiErr != nil:
			return nil, nil, fmt.Errorf("algoreg send: the API refused the call itself, not its records: %w", err)
		case kind == fatal:
			return nil, nil, fmt.Errorf("algoreg send: %w", err)
		}

		if s.maxAttempts > 0 && attempt >= s.maxAttempts {
			return nil, nil, fmt.Errorf("algoreg send: giving up after %d attempts: %w", attempt, err)
		}
		wait, ok := s.retryWait(attempt, apiErr, time.Since(start))
		if !ok {
			return nil, nil, fmt.Errorf("algoreg send: giving up after %d attempts in %v (retry time limit %v): %w",
				attempt, time.Since(start).Round(time.Millisecond), s.maxRetryTime, err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "algoreg call failed; retrying",
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.String("error", err.Error()))
		if err := sleep(ctx, wait); err != nil {
			return nil, nil, fmt.Errorf("algoreg send: waiting %v to retry after attempt %d: %w", wait.Round(time.Millisecond), attempt, err)
		}
	}
}

// once makes one HTTP call, through the gate and the rate limit, and
// counts it.
func (s *Sender) once(ctx context.Context, req *SaveRequest, retry, sample bool, out *Outcome) (*SaveResponse, error) {
	var t ticket
	if s.gate != nil {
		var err error
		if t, err = s.gate.acquire(ctx); err != nil {
			return nil, fmt.Errorf("algoreg send: waiting for a free place among the calls in flight: %w", err)
		}
	}
	if s.limiter != nil {
		if err := s.limiter.Wait(ctx); err != nil {
			if s.gate != nil {
				s.gate.release(t, neutral, 0, false)
			}
			if ctx.Err() == nil { // the wait would pass ctx's deadline
				err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
			}
			return nil, fmt.Errorf("algoreg send: waiting for the rate limit: %w", err)
		}
	}
	began := time.Now()
	resp, err := s.c.Save(ctx, req)
	latency := time.Since(began)
	if s.gate != nil {
		s.gate.release(t, signalOf(ctx, err), latency, sample)
	}
	out.Calls++
	if retry {
		out.Retries++
	}
	if s.observe != nil {
		c := Call{Status: http.StatusOK, Latency: latency, Retry: retry, Err: err,
			Records: len(req.Customers) + len(req.Relations), DisableRiskScan: req.DisableRiskScan}
		if err != nil {
			c.Status = 0
			if apiErr := (*APIError)(nil); errors.As(err, &apiErr) {
				c.Status = apiErr.StatusCode
			}
		}
		s.observe(c)
	}
	return resp, err
}

// signalOf tells what a call's result says about the API's load.
func signalOf(ctx context.Context, err error) signal {
	if err == nil {
		return success
	}
	if ctx.Err() != nil {
		return neutral
	}
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		if apiErr.Temporary() || apiErr.StatusCode == http.StatusRequestTimeout {
			return overload
		}
		return neutral
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return overload
	}
	return neutral
}

// retryWait returns the wait before the attempt after attempt, spent after
// the first attempt started, and whether to make it at all: the backoff,
// cut short to end at the retry time limit; none once the limit is reached,
// or when the API asked (Retry-After) for a wait that would end after it.
func (s *Sender) retryWait(attempt int, apiErr *APIError, spent time.Duration) (time.Duration, bool) {
	left := s.maxRetryTime - spent
	if left <= 0 {
		return 0, false
	}
	wait := s.backoff(attempt, apiErr)
	if wait <= left {
		return wait, true
	}
	if min(retryAfter(apiErr), s.maxBackoff) > left {
		return 0, false
	}
	return left, true
}

// backoff returns the wait after a failed attempt: exponential backoff with
// full jitter (a uniform draw up to base×2^(attempt-1), capped at
// MaxBackoff), but at least the Retry-After of a 429 or 503, also capped.
func (s *Sender) backoff(attempt int, apiErr *APIError) time.Duration {
	ceiling := s.maxBackoff
	if shift := attempt - 1; shift < 62 {
		if c := s.baseBackoff << shift; c > 0 && c>>shift == s.baseBackoff && c < ceiling {
			ceiling = c
		}
	}
	var d time.Duration
	if ceiling > 0 {
		d = rand.N(ceiling)
	}
	return min(max(d, retryAfter(apiErr)), s.maxBackoff)
}

// retryAfter returns the wait the API asked for: the Retry-After of a 429
// or 503, else 0.
func retryAfter(apiErr *APIError) time.Duration {
	if apiErr != nil && (apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusServiceUnavailable) {
		return apiErr.RetryAfter
	}
	return 0
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
