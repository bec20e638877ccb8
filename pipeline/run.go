package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/appname"
	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/state"
)

// Env holds what the runs of a process share.
type Env struct {
	Source *sqlx.DB     // the source database
	State  *state.Store // the state tables
	API    *load.Client // the Algoreg API, shared by the runs (see NewAPI)
	Logger *slog.Logger // nil: slog.Default()
	// Metrics, if not nil, receives the runs' counts, API calls and
	// outcomes.
	Metrics *Metrics
}

// Options tune one run. The zero Options is a nightly run.
type Options struct {
	// Kind is the run's kind: state.KindRun (the default), KindVerify (the
	// API validates, persists nothing; no watermark moves), KindOffline
	// (transform and validation only, no API call), KindBackfill (a range,
	// without moving the watermark) or KindRetry (only the rows of open
	// record errors).
	Kind string
	// Full sends every row of the window, even those unchanged since they
	// were last accepted.
	Full bool
	// RiskScan overrides the job's risk_scan policy for this run when not
	// empty: configs.RiskScanAuto, RiskScanOn or RiskScanOff.
	RiskScan string
	// Since and Until bound a backfill's range of cursor_updated_at,
	// inclusive. A zero Since starts at the first row; a zero Until ends at
	// now - safety_lag.
	Since, Until time.Time
	// Resume is the backfill run to resume; 0 resumes the job's last
	// interrupted backfill when it covered the same range, -1 never resumes.
	Resume int64
	// DryRun, for a reconcile, sends nothing: the run counts and records,
	// with examples, what it would create, update and disable.
	DryRun bool
	// Progress, if not nil, is called with the run's progress about every
	// 200 ms and once when it ends; the rows of the run's windows are
	// counted for it.
	Progress func(Progress)
	// Started, if not nil, is called with the run's ID once its run row
	// exists.
	Started func(runID int64)
	// Now returns the current time; nil means time.Now. Tests set it to
	// check dates of birth against a fixed day.
	Now func() time.Time
}

// Result is what a run did.
type Result struct {
	RunID  int64
	Kind   string
	Status string // one of the state.Status values
	// DryRun is set when the API kept nothing the run sent (a verify or
	// offline run, or a reconcile's dry run): Counts.Sent and Added are
	// what would have been sent and added.
	DryRun          bool
	Counts          state.Counts
	Window          extract.Window   // of the customers stream
	Watermark       extract.Position // of the customers stream after the run; zero if none
	DisableRiskScan bool             // the value sent with every call of the run
	// Warning is what the run found wrong with the job itself although it
	// went on, as on the run row; "" for none.
	Warning string
	// Diff is set when the job is incremental: diff: the run read its
	// queries whole (and has no watermark), and Counts.Missing and
	// Disabled say what it found missing from the source.
	Diff bool
}

// Run does one run of job: it reads the rows changed since the job's
// watermarks, sends them, retries the rows of open record errors, and
// records what happened. When another process runs the job, Run returns at
// once with an error wrapping state.ErrLocked.
//
// The run row is written right after the lock is taken, before anything
// else can fail: an error that ends the run, even before it reads a row, is
// recorded on the run row (status failed) and returned together with the
// Result; the watermark then stays at the last row before which everything
// was settled. Only the lock, the run row itself and a backfill of a job
// with incremental: diff (ErrDiffBackfill) fail without a Result. When ctx
// is cancelled (a signal), Run stops reading, lets the calls in flight
// finish for up to the job's drain_timeout, checkpoints, and ends with
// status interrupted.
func Run(ctx context.Context, env *Env, job *configs.Job, opts Options) (*Result, error) {
	if opts.Kind == "" {
		opts.Kind = state.KindRun
	}
	if job.Diff() && opts.Kind == state.KindBackfill {
		return nil, fmt.Errorf("job %s: %w", job.Name, ErrDiffBackfill)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Sessions are named after the job, then after the run.
	ctx = appname.With(ctx, appname.Of(job.Name))
	lock, err := env.State.TryLock(ctx, job.Name)
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	defer lock.Unlock()
	if _, err := env.State.AbandonRuns(ctx, job.Name); err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	r := &run{env: env, job: job, opts: opts, logger: env.Logger, chunks: make(map[string]int)}
	r.risk.done, r.risk.changed = make(chan struct{}), make(chan struct{})
	r.streams = r.jobStreams()
	if r.logger == nil {
		r.logger = slog.Default()
	}
	// The run row comes first: whatever fails after it (the source, a
	// query, a table that is missing) ends the run as failed, with its
	// error, where reports, metrics and alerts see it.
	if err := r.start(ctx); err != nil {
		return nil, fmt.Errorf("job %s: %w", job.Name, err)
	}
	ctx = appname.With(ctx, appname.Of(job.Name, r.id))
	if err := lock.Check(ctx); err != nil { // and names the lock's session after the run
		return r.close(ctx, err)
	}

	// Calls in flight outlive a cancelled ctx by the drain timeout, so that
	// their outcome is recorded rather than lost.
	drain, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(job.DrainTimeout, cancelDrain) })
	defer stop()

	err = r.open(ctx)
	w := r.watch(ctx, err == nil)
	if err == nil {
		err = r.do(ctx, drain)
	}
	res, err := r.close(ctx, err)
	w.finish(res)
	return res, err
}

// ErrDiffBackfill is returned, wrapped, by Run when asked to backfill a
// job with incremental: diff: such a job has no updated_at to take a range
// of, and each of its runs already reads the source whole; a run with
// Options.Full sends every row again.
var ErrDiffBackfill = errors.New("a job with incremental: diff has no updated_at to backfill a range of: each run reads the whole source; `run --full` sends every row again")

// run is the state of one run in progress.
type run struct {
	env    *Env
	job    *configs.Job
	opts   Options
	logger *slog.Logger
	sender *load.Sender

	id              int64
	streams         []*stream // the job's, customers first
	tenantJobs      []string  // the jobs that send to the job's tenant, the job included
	until           time.Time // the end of every stream's window
	disableRiskScan bool      // decided once (see riskState)
	risk            riskState
	resume          *state.Run // the backfill this run resumes

	commits committer // commits the state of the run's chunks, in groups

	mu     sync.Mutex // guards counts, held and mark
	counts state.Counts
	// held counts the rows the run holds back for a customer not accepted
	// yet. They are tried again before the run ends (see retryOpenErrors),
	// and only those still held then are counted as invalid: each row is
	// counted once, by its last outcome, and the counts reported while the
	// run goes on (metrics, progress) only ever grow.
	held   int64
	mark   extract.Position // the customers watermark (run) or progress (backfill)
	window extract.Window   // of the customers stream
	stored extract.Position // the customers watermark before the run

	examples map[string][]string // a reconcile's examples of each class of record, guarded by mu
	chunks   map[string]int      // the chunks of each stream's window sent so far, guarded by mu
	warnings []string            // what the run found wrong with the job, guarded by mu
}

// moves reports whether the run moves the job's watermarks. A job with
// incremental: diff has none.
func (r *run) movesWatermark() bool { return r.opts.Kind == state.KindRun && !r.job.Diff() }

// reconciles reports whether the run reads the job's queries whole and
// deals with the records missing from the source: a reconcile, and every
// run, verify or offline run of a job with incremental: diff.
func (r *run) reconciles() bool {
	switch r.opts.Kind {
	case state.KindReconcile:
		return true
	case state.KindRun, state.KindVerify, state.KindOffline:
		return r.job.Diff()
	}
	return false
}

// dryRun reports whether the API keeps nothing the run sends: a verify or
// offline run, or a dry run.
func (r *run) dryRun() bool { return !r.persists() }

// persists reports whether the API keeps what the run sends, so that what
// was accepted is remembered for skip-unchanged and for dependencies.
func (r *run) persists() bool {
	return r.opts.Kind != state.KindVerify && r.opts.Kind != state.KindOffline && !r.opts.DryRun
}

// calls reports whether the run calls the API with the records it reads.
func (r *run) calls() bool { return r.opts.Kind != state.KindOffline && !r.opts.DryRun }

// start opens the run row, before anything else can fail.
func (r *run) start(ctx context.Context) error {
	var err error
	if r.id, err = r.env.State.StartRun(ctx, state.Run{Job: r.job.Name, Kind: r.opts.Kind, DryRun: !r.persists()}); err != nil {
		return err
	}
	if r.opts.Started != nil {
		r.opts.Started(r.id)
	}
	r.logger = r.logger.With("job", r.job.Name, "run_id", r.id)
	r.sender = load.NewSender(r.env.API, load.SenderOptions{
		MaxAttempts:  r.job.MaxAttempts,
		MaxRetryTime: r.job.MaxRetryTime,
		RateLimit:    r.job.RateLimit,
		Concurrency:  r.job.Concurrency, // the calls in flight; ignored when adaptive
		Adaptive:     r.adaptive(),
		Logger:       r.logger,
		Observe:      r.observer(),
	})
	return nil
}

// open chooses the run's window and records it on the run row. The risk
// scan is decided later (see startRiskScan).
func (r *run) open(ctx context.Context) error {
	// Windows close at the source's clock minus the safety lag, so that rows
	// of transactions still open now are read by a later run.
	var now time.Time
	if err := r.env.Source.GetContext(ctx, &now, "SELECT now()"); err != nil {
		return fmt.Errorf("source clock: %w", err)
	}
	r.until = now.Add(-r.job.SafetyLag)
	if r.opts.Kind == state.KindBackfill && !r.opts.Until.IsZero() {
		r.until = r.opts.Until
	}
	customers := r.streams[0]
	w, stored, err := r.windowOf(ctx, customers)
	if err != nil {
		return err
	}
	r.window, r.stored = w, stored
	r.mark = stored
	if err := r.tenant(ctx); err != nil {
		return err
	}

	row := state.Run{WindowTo: &r.until}
	if r.job.Diff() {
		row.WindowTo = nil // the queries are read whole
	}
	if !w.After.IsZero() {
		row.WindowFrom, row.WindowFromKey = &w.After.UpdatedAt, w.After.Key
	}
	if r.opts.Kind == state.KindBackfill {
		row.BackfillFrom, row.BackfillUntil = timePtr(r.opts.Since), &r.until
		if r.resume != nil {
			row.ResumeOf = r.resume.ID
		}
	}
	if err := r.env.State.SetRunWindow(ctx, r.id, row); err != nil {
		return err
	}
	r.logger.Info("run started", "kind", r.opts.Kind, "after", w.After, "until", r.until)
	return nil
}

// observer returns what watches each API call of the run: the metrics
// and, with --log-level debug, a log line per call.
func (r *run) observer() func(load.Call) {
	metrics := r.env.Metrics.observer(r.job.Name)
	if !r.logger.Enabled(context.Background(), slog.LevelDebug) {
		return metrics
	}
	return func(c load.Call) {
		if metrics != nil {
			metrics(c)
		}
		args := []any{"status", c.Status, "latency", c.Latency, "records", c.Records, "retry", c.Retry, "disable_risk_scan", c.DisableRiskScan}
		if c.Err != nil {
			args = append(args, "error", c.Err)
		}
		r.logger.Debug("API call", args...)
	}
}

// tenant records the job's tenant, and finds the jobs that share it: what
// the API accepted through any of them counts when dependencies are
// checked.
func (r *run) tenant(ctx context.Context) error {
	r.tenantJobs = []string{r.job.Name}
	if r.env.API == nil {
		return nil
	}
	url := r.env.API.BaseURL()
	if err := r.env.State.SetTenant(ctx, r.job.Name, url); err != nil {
		return err
	}
	jobs, err := r.env.State.TenantJobs(ctx, r.job.Name, url)
	if err != nil {
		return err
	}
	r.tenantJobs = jobs
	return nil
}

func (r *run) adaptive() *load.AIMDOptions {
	if !r.job.AdaptiveConcurrency {
		return nil
	}
	return &load.AIMDOptions{Min: 1, Max: r.job.MaxConcurrency, Initial: 2}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// windowOf returns the window a stream reads in this run, and the stream's
// watermark before it.
func (r *run) windowOf(ctx context.Context, s *stream) (w extract.Window, stored extract.Position, err error) {
	w = extract.Window{Until: r.until}
	if r.job.Diff() {
		return extract.Window{}, stored, nil // read whole, by key: no window, no watermark
	}
	switch r.opts.Kind {
	case state.KindBackfill:
		w.After = extract.Position{UpdatedAt: r.opts.Since}
		if s.name == StreamCustomers {
			resume, err := r.resumable(ctx)
			if err != nil {
				return w, stored, err
			}
			if resume != nil && resume.Progress != nil {
				r.resume = resume
				w.After = extract.Position{UpdatedAt: resume.Progress.UpdatedAt, Key: resume.Progress.Key}
			}
		}
		return w, stored, nil
	case state.KindRetry, state.KindReconcile:
		return w, stored, nil
	}
	wm, ok, err := r.env.State.Watermark(ctx, r.job.Name, s.name)
	if err != nil || !ok {
		return w, stored, err
	}
	stored = extract.Position{UpdatedAt: wm.UpdatedAt, Key: wm.Key}
	w.After = stored
	if r.job.Lookback > 0 {
		// Re-read a margin below the watermark: rows committed late with an
		// older updated_at are caught, and unchanged ones cost no call.
		w.After = extract.Position{UpdatedAt: wm.UpdatedAt.Add(-r.job.Lookback)}
	}
	return w, stored, nil
}

// resumable returns the interrupted backfill this backfill resumes, if any.
func (r *run) resumable(ctx context.Context) (*state.Run, error) {
	switch {
	case r.opts.Resume < 0:
		return nil, nil
	case r.opts.Resume > 0:
		prev, err := r.env.State.Run(ctx, r.opts.Resume)
		if err != nil {
			return nil, fmt.Errorf("backfill to resume: %w", err)
		}
		if prev.Job != r.job.Name || prev.Kind != state.KindBackfill {
			return nil, fmt.Errorf("run %d is a %s of job %s, not a backfill of %s", prev.ID, prev.Kind, prev.Job, r.job.Name)
		}
		if prev.Status == state.StatusSucceeded || prev.Status == state.StatusPartial {
			return nil, fmt.Errorf("backfill %d finished (%s): nothing to resume", prev.ID, prev.Status)
		}
		if prev.BackfillUntil != nil {
			r.until = *prev.BackfillUntil
		}
		return &prev, nil
	}
	prev, ok, err := r.env.State.LastInterruptedBackfill(ctx, r.job.Name)
	if err != nil || !ok {
		return nil, err
	}
	// Resume it only when it covered the range asked for now.
	sameFrom := (prev.BackfillFrom == nil && r.opts.Since.IsZero()) || (prev.BackfillFrom != nil && prev.BackfillFrom.Equal(r.opts.Since))
	sameUntil := r.opts.Until.IsZero() || (prev.BackfillUntil != nil && prev.BackfillUntil.Equal(r.opts.Until))
	if !sameFrom || !sameUntil {
		return nil, nil
	}
	if prev.BackfillUntil != nil {
		r.until = *prev.BackfillUntil
	}
	return &prev, nil
}

// do starts the risk scan's decision (startRiskScan), runs the streams,
// then the retry of open record errors.
func (r *run) do(ctx, drain context.Context) error {
	if r.calls() {
		// Credentials the API refuses fail the run now, before any row
		// is read, rather than on its first chunk.
		if err := r.env.API.Login(ctx); err != nil {
			return err
		}
	}
	if err := r.startRiskScan(ctx); err != nil {
		return fmt.Errorf("risk scan: %w", err)
	}
	streams := r.streams
	if r.opts.Kind != state.KindRetry {
		for _, s := range streams {
			w, stored := r.window, r.stored
			if s.name != StreamCustomers {
				var err error
				if w, stored, err = r.windowOf(ctx, s); err != nil {
					return err
				}
			}
			if err := r.readWindow(ctx, drain, s, w, stored); err != nil {
				return err
			}
			if s.query.ByKey {
				continue // no cursor_updated_at: none is NULL, none is ahead
			}
			if err := r.readNullCursor(ctx, drain, s); err != nil {
				return err
			}
			if err := r.checkAhead(ctx, s); err != nil {
				return err
			}
		}
		// Read whole without a call: what was counted decides.
		if err := r.decideFromTally(ctx); err != nil {
			return err
		}
	}
	if r.reconciles() {
		defer r.env.State.ClearSeen(context.WithoutCancel(ctx), r.id)
		if err := r.reconcileMissing(ctx, drain); err != nil {
			return err
		}
	}
	// Runs and retries retry the rows of open errors; every run whose
	// sends persist tries again the rows it held for a customer, parents
	// first.
	retry := r.opts.Kind == state.KindRun || r.opts.Kind == state.KindRetry
	if retry || r.persists() {
		for _, s := range streams {
			if err := r.retryOpenErrors(ctx, drain, s, retry); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkAhead warns when rows of a stream's query are ahead of the source's
// clock: no window holds them, and with a cursor computed when the query
// runs (now()) none ever will, while every run ends succeeded.
func (r *run) checkAhead(ctx context.Context, s *stream) error {
	n, err := extract.Ahead(ctx, r.env.Source, s.query)
	if err != nil {
		return fmt.Errorf("%s query: %w", s.name, err)
	}
	if n == 0 {
		return nil
	}
	r.logger.Warn("rows no window holds: their cursor_updated_at is at or after the source's clock", "stream", s.name, "rows", n)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, fmt.Sprintf("%d rows of the %s query have a cursor_updated_at at or after the source's clock, so no window holds them "+
		"(a window ends at now() - safety_lag) and they were not read: a cursor computed when the query runs (now(), clock_timestamp()) is never read, "+
		"one dated in the future only once that time has passed; select a stored updated_at column as cursor_updated_at", n, s.name))
	return nil
}

// close records the run's outcome.
func (r *run) close(ctx context.Context, runErr error) (*Result, error) {
	bctx := context.WithoutCancel(ctx)
	if err := r.env.State.ClearClaims(bctx, r.id); err != nil {
		runErr = errors.Join(runErr, err)
	}
	left, err := r.env.State.RunErrorsOf(bctx, r.id, r.job.Name, r.job.StuckAfter)
	if err != nil {
		runErr = errors.Join(runErr, err)
	}
	if !r.persists() {
		left.Stuck = 0 // the run retried nothing, stuck or not
	}
	r.mu.Lock()
	r.counts.Invalid += r.held
	r.held = 0
	r.counts.NewErrors, r.counts.Stuck = left.New, left.Stuck
	counts, mark := r.counts, r.mark
	r.mu.Unlock()
	status := state.StatusSucceeded
	switch {
	// NewErrors holds what the other counts do not: a reconcile's
	// disable that the API refused, say.
	case runErr == nil && (counts.Invalid > 0 || counts.Rejected > 0 || counts.Stuck > 0 || counts.NewErrors > 0):
		status = state.StatusPartial
	case runErr == nil:
	case ctx.Err() != nil:
		status = state.StatusInterrupted
		// The cause of a context that signal.NotifyContext cancelled names
		// the signal ("terminated signal received").
		if cause := context.Cause(ctx); cause != context.Canceled {
			runErr = fmt.Errorf("interrupted (%v): %w", cause, runErr)
		}
	default:
		status = state.StatusFailed
	}
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	// The run row is closed even when ctx is cancelled.
	warning := strings.Join(r.warnings, "; ")
	if warning != "" {
		if err := r.env.State.SetRunWarning(context.WithoutCancel(ctx), r.id, warning); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if r.examples != nil {
		details, _ := json.Marshal(map[string]any{"examples": r.examples})
		if err := r.env.State.SetRunDetails(context.WithoutCancel(ctx), r.id, details); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	if err := r.env.State.FinishRun(context.WithoutCancel(ctx), r.id, status, counts, errText); err != nil {
		runErr = errors.Join(runErr, err)
	}
	res := &Result{RunID: r.id, Kind: r.opts.Kind, Status: status, DryRun: !r.persists(), Counts: counts,
		Window: r.window, Watermark: mark, DisableRiskScan: r.disableRiskScan, Warning: warning, Diff: r.job.Diff()}
	log := r.logger.Info
	if runErr != nil {
		log = r.logger.Error
	}
	log("run finished", "status", status, "extracted", counts.Extracted, "sent", counts.Sent, "added", counts.Added,
		"skipped", counts.Skipped, "invalid", counts.Invalid, "rejected", counts.Rejected, "warnings", counts.Warnings,
		"retried", counts.Retried, "resolved", counts.Resolved, "new_errors", counts.NewErrors, "stuck", counts.Stuck,
		"watermark", mark, "error", errText)
	return res, runErr
}
