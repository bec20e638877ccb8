package load

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of SenderOptions.
const (
	DefaultMaxRetryTime = 2 * time.Minute
	DefaultMaxBackoff   = 30 * time.Second

	// baseBackoff is the ceiling of the first wait before a retry; each
	// further attempt doubles it, up to MaxBackoff.
	baseBackoff = 200 * time.Millisecond
)

// SenderOptions configures a Sender. The zero value gives the defaults:
// attempts per call for up to 2 minutes, however many that takes, with
// waits of at most 30 seconds, no rate limit and no concurrency gate. Time
// bounds the retries first, so that an API that is down for some seconds (a
// deploy, a restart) costs a delay, not a failed run.
type SenderOptions struct {
	// MaxAttempts, if positive, also bounds the number of attempts per
	// call, the first included; 0 or less means no bound but MaxRetryTime.
	MaxAttempts int
	// MaxRetryTime bounds the time spent on one call, from the start of its
	// first attempt: a wait between attempts is cut short to end at it, and
	// no attempt starts after it. A Retry-After that would end after it is
	// not cut short: the call fails at once. Each call of a split chunk has
	// its own. 0 or less means DefaultMaxRetryTime.
	MaxRetryTime time.Duration
	// MaxBackoff caps one wait between attempts, a Retry-After included;
	// 0 or less means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// RateLimit is the most HTTP calls per second, retries included, shared
	// by all goroutines using the Sender, with a burst of 1; 0 or less
	// means no limit.
	RateLimit float64
	// Concurrency is the most HTTP calls in flight at once; 0 or less
	// means no gate (the caller bounds the calls). It is ignored when
	// Adaptive is set.
	Concurrency int
	// Adaptive, if not nil, lets the Sender find the concurrency itself
	// (see AIMDOptions).
	Adaptive *AIMDOptions
	// Logger receives retries, splits and refusals; nil discards them.
	Logger *slog.Logger
	// Observe, if not nil, is called after every HTTP call, for metrics,
	// from the goroutine that called Send; it must be safe for concurrent
	// use and quick.
	Observe func(Call)
}

// Call describes one HTTP call a Sender made.
type Call struct {
	Status          int           // the HTTP status; 0 when no answer came
	Latency         time.Duration // from sending the request to reading the answer
	Retry           bool          // the call repeats one that failed
	Err             error         // nil when the status is 200
	Records         int           // customers and relations the call carried
	DisableRiskScan bool          // the call's disable_risk_scan
}

// Outcome is what a Send did.
type Outcome struct {
	Added   []Added   // customers created, merged from every call
	Detail  []Detail  // per-record errors and warnings, merged from every call
	Refused []Refusal // records that made the API refuse a whole call
	Calls   int       // HTTP calls made, retries and split calls included
	Retries int       // calls that repeated one that failed
}

// Refusal is a record that the API refused on its own with a whole-call
// error: after splitting, a call holding only it still failed.
type Refusal struct {
	Customer int       // its index in the request's Customers; -1 if a relation
	Relation int       // its index in the request's Relations; -1 if a customer
	Err      *APIError // the API's answer to the call holding only it
}

// Sender sends chunks through a Client: it retries transient failures,
// keeps to a rate limit and a concurrency limit, and isolates the records
// that make the API refuse a whole call. One Sender serves one job; it is
// safe for concurrent use, and its limits are shared by all its callers.
type Sender struct {
	c            *Client
	maxAttempts  int // 0: no bound
	maxRetryTime time.Duration
	maxBackoff   time.Duration
	baseBackoff  time.Duration // baseBackoff, but tests shorten it
	limiter      *rate.Limiter // nil: no rate limit
	gate         *gate         // nil: no concurrency limit
	log          *slog.Logger
	observe      func(Call)
}

// NewSender returns a Sender that calls the API through c.
func NewSender(c *Client, opts SenderOptions) *Sender {
	s := &Sender{
		c:            c,
		maxAttempts:  opts.MaxAttempts,
		maxRetryTime: opts.MaxRetryTime,
		maxBackoff:   opts.MaxBackoff,
		baseBackoff:  baseBackoff,
		log:          opts.Logger,
		observe:      opts.Observe,
	}
	if s.maxAttempts < 0 {
		s.maxAttempts = 0
	}
	if s.maxRetryTime <= 0 {
		s.maxRetryTime = DefaultMaxRetryTime
	}
	if s.maxBackoff <= 0 {
		s.maxBackoff = DefaultMaxBackoff
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.RateLimit > 0 {
		s.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), 1)
	}
	switch {
	case opts.Adaptive != nil:
		s.gate = newAIMDGate(*opts.Adaptive)
	case opts.Concurrency > 0:
		s.gate = newGate(opts.Concurrency)
	}
	return s
}

// Concurrency reports the current limit on calls in flight: the adaptive
// limit, the fixed Concurrency, or 0 when there is no gate.
func (s *Sender) Concurrency() int {
	if s.gate == nil {
		return 0
	}
	return s.gate.Limit()
}

// Send sends req, retrying transient failures and isolating records that
// make the API refuse a whole call.
//
// A transient failure (a network error, a timeout, 408, 429 or a 5xx) is
// retried after a wait with exponential backoff and full jitter, at least
// the Retry-After of a 429 or 503, until MaxRetryTime (or MaxAttempts, when
// set) runs out. Another 4xx refuses the records of the call: the call is split in
// two halves, customers before relations and each in order, which are sent
// the same way one after the other, until the records refused alone are
// known; they are reported in Outcome.Refused and the others are sent.
// A 401 or 403 (the token), a 404, 405 or 415 (the endpoint) and other
// statuses that are not about the records fail the whole Send at once.
// Every call carries req's VerifyInput and DisableRiskScan.
//
// On error, the Outcome still reports the calls that succeeded before it:
// after a split, some records may have been stored. A request with no
// records sends nothing.
func (s *Sender) Send(ctx context.Context, req *SaveRequest) (*Outcome, error) {
	if req == nil {
		return nil, errors.New("algoreg send: nil request")
	}
	out := new(Outcome)
	if len(req.Customers)+len(req.Relations) == 0 {
		return out, nil
	}
	return out, s.send(ctx, req, 0, 0, true, out)
}

// send sends req, whose records start at the given indices of the request
// given to Send, splitting it if the API refuses it; whole tells the call
// is not a split part. Results go to out.
func (s *Sender) send(ctx context.Context, req *SaveRequest, customerAt, relationAt int, whole bool, out *Outcome) error {
	resp, refused, err := s.try(ctx, req, whole, out)
	switch {
	case err != nil:
		return err
	case refused == nil:
		out.merge(resp)
		return nil
	}
	if len(req.Customers)+len(req.Relations) == 1 {
		r := Refusal{Customer: -1, Relation: -1, Err: refused}
		id := ""
		if len(req.Customers) == 1 {
			r.Customer, id = customerAt, req.Customers[0].ExternalID
		} else {
			r.Relation, id = relationAt, req.Relations[0].RelationExternalID
		}
		out.Refused = append(out.Refused, r)
		s.log.LogAttrs(ctx, slog.LevelInfo, "algoreg refused a record",
			slog.String("external_id", id), slog.Int("status", refused.StatusCode), slog.String("error", refused.Message()))
		return nil
	}
	left, right := halves(req)
	s.log.LogAttrs(ctx, slog.LevelDebug, "algoreg refused a call; splitting it",
		slog.Int("customers", len(req.Customers)), slog.Int("relations", len(req.Relations)),
		slog.Int("status", refused.StatusCode), slog.String("error", refused.Message()))
	if err := s.send(ctx, left, customerAt, relationAt, false, out); err != nil {
		return err
	}
	return s.send(ctx, right, customerAt+len(left.Customers), relationAt+len(left.Relations), false, out)
}

// halves splits req's records, customers first, into two halves in order.
// The halves share req's slices.
func halves(req *SaveRequest) (left, right *SaveRequest) {
	n := len(req.Customers) + len(req.Relations)
	c := min(n/2, len(req.Customers))
	r := n/2 - c
	left, right = new(SaveRequest), new(SaveRequest)
	*left, *right = *req, *req
	left.Customers, right.Customers = req.Customers[:c:c], req.Customers[c:]
	left.Relations, right.Relations = req.Relations[:r:r], req.Relations[r:]
	return left, right
}

// merge adds the results of one call to o.
func (o *Outcome) merge(resp *SaveResponse) {
	if o.Added == nil {
		o.Added = resp.Added
	} else {
		o.Added = append(o.Added, resp.Added...)
	}
	if o.Detail == nil {
		o.Detail = resp.Detail
	} else {
		o.Detail = append(o.Detail, resp.Detail...)
	}
}
