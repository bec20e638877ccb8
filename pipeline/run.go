package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/errgroup"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
	"github.com/algoreg/algoreg-etl/transform"
)

// StreamCustomers names the customers stream of a job in the state tables.
const StreamCustomers = "customers"

// Env holds what the runs of a process share.
type Env struct {
	Source *sqlx.DB     // the source database
	State  *state.Store // the state tables
	API    *load.Client // the Algoreg API
	Logger *slog.Logger // nil: slog.Default()
}

// Options tune one run.
type Options struct {
	// Now returns the current time; nil means time.Now. Tests set it to
	// check dates of birth against a fixed day.
	Now func() time.Time
}

// Result is what a run did.
type Result struct {
	RunID     int64
	Status    string // one of the state.Status values
	Counts    state.Counts
	Window    extract.Window
	Watermark extract.Position // after the run; zero if the job has none yet
}

// Run does one run of job: it reads the rows changed since the job's
// watermark, sends them, and records what happened. When another process
// runs the job, Run returns at once with an error wrapping state.ErrLocked.
//
// An error that ends the run early is recorded on the run row and returned
// together with the Result; the watermark then stays at the last row before
// which everything was settled. When ctx is cancelled, chunks in flight are
// abandoned, the watermark is checkpointed, and the run ends with status
// interrupted.
func Run(ctx context.Context, env *Env, job *configs.Job, opts Options) (*Result, error) {
	lock, err := env.State.TryLock(ctx, job.Name)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	defer lock.Unlock()
	if _, err := env.State.AbandonRuns(ctx, job.Name); err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}

	r := &run{env: env, job: job, opts: opts, logger: env.Logger}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	err = r.stream(ctx)
	return r.close(ctx, err)
}

// run is the state of one run in progress.
type run struct {
	env    *Env
	job    *configs.Job
	opts   Options
	logger *slog.Logger

	id     int64
	window extract.Window
	query  extract.Query
	mapper *transform.Customers

	settler *settler
	mu      sync.Mutex // guards counts and mark
	counts  state.Counts
	mark    extract.Position
}

// open chooses the window and opens the run row.
func (r *run) open(ctx context.Context) error {
	wm, _, err := r.env.State.Watermark(ctx, r.job.Name, StreamCustomers)
	if err != nil {
		return fmt.Errorf("job %s: %w", r.job.Name, err)
	}
	// The window closes at the source's clock minus the safety lag, so that
	// rows of transactions still open now are read by a later run.
	var now time.Time
	if err := r.env.Source.GetContext(ctx, &now, "SELECT now()"); err != nil {
		return fmt.Errorf("job %s: source clock: %w", r.job.Name, err)
	}
	r.window = extract.Window{
		After: extract.Position{UpdatedAt: wm.UpdatedAt, Key: wm.Key},
		Until: now.Add(-r.job.SafetyLag),
	}
	r.mark = r.window.After

	row := state.Run{Job: r.job.Name, Kind: state.KindRun, WindowTo: &r.window.Until}
	if !r.window.After.IsZero() {
		row.WindowFrom, row.WindowFromKey = &r.window.After.UpdatedAt, r.window.After.Key
	}
	disable := false // the risk-scan policy is the job's to choose; for now every call asks for the scan
	row.DisableRiskScan = &disable
	r.id, err = r.env.State.StartRun(ctx, row)
	if err != nil {
		return fmt.Errorf("job %s: %w", r.job.Name, err)
	}
	r.logger = r.logger.With("job", r.job.Name, "run_id", r.id)
	r.logger.Info("run started", "after", r.window.After, "until", r.window.Until)
	return nil
}

// stream reads the window, cutting it into chunks that are sent by at most
// job.Concurrency goroutines at once.
func (r *run) stream(ctx context.Context) error {
	r.query = extract.Query{SQL: r.job.CustomersSQL, Location: r.job.CursorTimezone}
	cols, err := extract.Describe(ctx, r.env.Source, r.query)
	if err != nil {
		return err
	}
	r.mapper, err = transform.NewCustomers(cols, transform.Options{Now: r.opts.Now})
	if err != nil {
		return fmt.Errorf("query of job %s: %w", r.job.Name, err)
	}

	r.settler = newSettler()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.job.Concurrency)
	c := &chunk{}
	submit := func() {
		ch := c
		c = &chunk{n: ch.n + 1}
		g.Go(func() error { return r.send(gctx, ch) })
	}
	err = extract.Read(gctx, r.env.Source, r.query, r.window, extract.Options{PageSize: r.job.PageSize}, func(row extract.Row) error {
		if err := gctx.Err(); err != nil {
			return err
		}
		c.add(r.mapper, row)
		if len(c.customers) >= r.job.ChunkSize {
			submit()
		}
		return nil
	})
	if err == nil && c.rows > 0 {
		submit()
	}
	if werr := g.Wait(); werr != nil && (err == nil || errors.Is(err, context.Canceled)) {
		err = werr
	}
	return err
}

// close records the run's outcome.
func (r *run) close(ctx context.Context, runErr error) (*Result, error) {
	r.mu.Lock()
	counts, mark := r.counts, r.mark
	r.mu.Unlock()
	status := state.StatusSucceeded
	switch {
	case runErr == nil && (counts.Invalid > 0 || counts.Rejected > 0):
		status = state.StatusPartial
	case runErr == nil:
	case ctx.Err() != nil:
		status = state.StatusInterrupted
	default:
		status = state.StatusFailed
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	// The run row is closed even when ctx is cancelled.
	if err := r.env.State.FinishRun(context.WithoutCancel(ctx), r.id, status, counts, errText); err != nil {
		runErr = errors.Join(runErr, err)
	}
	res := &Result{RunID: r.id, Status: status, Counts: counts, Window: r.window, Watermark: mark}
	log := r.logger.Info
	if runErr != nil {
		log = r.logger.Error
	}
	log("run finished", "status", status, "extracted", counts.Extracted, "sent", counts.Sent, "added", counts.Added,
		"invalid", counts.Invalid, "rejected", counts.Rejected, "warnings", counts.Warnings, "watermark", mark, "error", errText)
	return res, runErr
}

// A chunk is a run of consecutive rows of the stream: the customers to send
// in one call and the rows that could not be mapped.
type chunk struct {
	n         int // the chunk's number in the stream
	rows      int // rows read
	end       extract.Position
	customers []load.Customer
	keys      []string // source key of each customer
	invalid   []state.RecordError
}

func (c *chunk) add(m *transform.Customers, row extract.Row) {
	c.rows++
	c.end = row.Pos
	cust, err := m.Map(row)
	if err != nil {
		re := state.RecordError{Stage: state.StageTransform, SourceKey: row.Pos.Key, Code: "invalid", Message: err.Error()}
		var fe *transform.FieldError
		if errors.As(err, &fe) {
			re.Code, re.Field = fe.Code, fe.Field
		}
		if v, ok := row.Get("external_id"); ok {
			if s, ok := v.(string); ok {
				re.ExternalID = s
			}
		}
		re.Payload = rowPayload(row)
		c.invalid = append(c.invalid, re)
		return
	}
	c.customers = append(c.customers, cust)
	c.keys = append(c.keys, row.Pos.Key)
}

// rowPayload encodes a source row for a record error, so that the failing
// input can be read in the state tables.
func rowPayload(row extract.Row) json.RawMessage {
	m := make(map[string]any, len(row.Columns))
	for i, c := range row.Columns {
		m[c] = row.Values[i]
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

// send sends a chunk's customers, records its errors and settles it.
func (r *run) send(ctx context.Context, c *chunk) error {
	var delta state.Counts
	delta.Extracted = int64(c.rows)
	delta.Invalid = int64(len(c.invalid))
	errs := c.invalid
	for i := range errs {
		errs[i].RunID, errs[i].Job, errs[i].Stream = r.id, r.job.Name, StreamCustomers
	}
	if len(c.customers) > 0 {
		req := &load.SaveRequest{Customers: c.customers}
		resp, err := r.env.API.Save(ctx, req)
		if err != nil {
			return fmt.Errorf("chunk %d (%d customers, keys %s..%s): %w", c.n, len(c.customers), c.keys[0], c.keys[len(c.keys)-1], err)
		}
		apiErrs, d := r.outcome(c, resp)
		errs = append(errs, apiErrs...)
		delta.Sent, delta.Added, delta.Rejected, delta.Warnings = d.Sent, d.Added, d.Rejected, d.Warnings
	}
	// Bookkeeping must finish even when the run is being cancelled: the
	// call has been made, and its outcome must not be lost.
	bctx := context.WithoutCancel(ctx)
	if len(errs) > 0 {
		if err := r.env.State.RecordErrors(bctx, errs); err != nil {
			return fmt.Errorf("chunk %d: %w", c.n, err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts.Add(delta)
	to, moved := r.settler.settle(c.n, c.end)
	if !moved {
		return nil
	}
	r.mark = to
	wm := state.Watermark{UpdatedAt: to.UpdatedAt, Key: to.Key}
	err := r.env.State.Checkpoint(bctx, state.Checkpoint{RunID: r.id, Job: r.job.Name, Stream: StreamCustomers, Watermark: &wm, Counts: r.counts})
	if err != nil {
		return fmt.Errorf("chunk %d: %w", c.n, err)
	}
	return nil
}

// outcome reads the API's answer for a chunk: the records it refused or
// warned about become record errors, and the rest count as sent.
func (r *run) outcome(c *chunk, resp *load.SaveResponse) ([]state.RecordError, state.Counts) {
	var d state.Counts
	index := make(map[string]int, len(c.customers))
	for i, cust := range c.customers {
		index[cust.ExternalID] = i
	}
	var errs []state.RecordError
	rejected := make(map[string]bool)
	for _, det := range resp.Detail {
		re := state.RecordError{RunID: r.id, Job: r.job.Name, Stream: StreamCustomers, Stage: state.StageAPI, ExternalID: det.ExternalID}
		if i, ok := index[det.ExternalID]; ok {
			re.SourceKey = c.keys[i]
			re.Payload, _ = json.Marshal(&c.customers[i])
		} else {
			r.logger.Warn("the API answered about a record not in the call", "external_id", det.ExternalID)
		}
		for _, p := range det.Errors {
			e := re
			e.Severity, e.Code, e.Message = state.SeverityError, p.Error, p.Detail
			errs = append(errs, e)
			if _, ok := index[det.ExternalID]; ok {
				rejected[det.ExternalID] = true
			}
		}
		for _, p := range det.Warnings {
			e := re
			e.Severity, e.Code, e.Message = state.SeverityWarning, p.Error, p.Detail
			errs = append(errs, e)
			d.Warnings++
		}
	}
	d.Rejected = int64(len(rejected))
	d.Sent = int64(len(c.customers)) - d.Rejected
	d.Added = int64(len(resp.Added))
	return errs, d
}
