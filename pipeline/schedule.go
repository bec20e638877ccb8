package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/algoreg/algoreg-etl/appname"
	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
)

// Errors of the Scheduler.
var (
	// ErrNotLeader is returned, wrapped, by Scheduler.RunNow when another
	// process leads the scheduling.
	ErrNotLeader = errors.New("another process leads the scheduling")
	// ErrSlotTaken is returned, wrapped, by Scheduler.RunNow when the slot
	// was claimed before, by this process or another.
	ErrSlotTaken = errors.New("slot already claimed")
)

// Timings of a Scheduler.
const (
	// DefaultLeaderCheck is the default of SchedulerOptions.LeaderCheck.
	DefaultLeaderCheck = 10 * time.Second
	// slotGrace is how far ahead of the clock a firing looks for its slot:
	// a timer that fires a little early, or a wall clock stepped back by
	// NTP while it waited, still finds the slot it was set for.
	slotGrace = 5 * time.Second
	// leaderCheckTimeout bounds the query that checks the leader's
	// connection.
	leaderCheckTimeout = 2 * time.Second
)

// SchedulerOptions configure a Scheduler. The zero value is usable.
type SchedulerOptions struct {
	// Clock is the clock the schedules are read on; nil means the real
	// one. Tests pass a clockwork fake clock.
	Clock clockwork.Clock
	// Instance names this process in schedule_slots.claimed_by; "" means
	// "HOST pid PID".
	Instance string
	// CatchUp is how late a slot may still be run: when the process
	// starts, or becomes the leader, and the last slot of a job is at most
	// CatchUp old and was never claimed (every instance was down at the
	// time), it is run at once. 0 runs no missed slot.
	CatchUp time.Duration
	// LeaderCheck is how often, between slots, the process checks that it
	// still leads, or tries to become the leader; 0 means
	// DefaultLeaderCheck. A process that lost the lead waits three times
	// this before it tries again, so that a healthy standby takes over.
	LeaderCheck time.Duration
}

// A Scheduler runs jobs on their schedules (key schedule, read in key
// timezone) with gocron, in one process or in several processes that share
// a state database:
//
//   - only the leader runs scheduled jobs: the process that holds the
//     scheduler leader's advisory lock on one pinned connection of the state
//     database (state.Store.TryLeaderLock). It checks that connection before
//     every run and every LeaderCheck; when the connection dies the leader
//     stops running jobs and another process takes the lock;
//   - before a run, the leader claims the slot (the activation of the
//     schedule, computed from the expression rather than from the clock) in
//     the schedule_slots table; a slot is claimed once, so even two leaders
//     in turn, with clocks seconds apart, never run it twice;
//   - the run takes the job's own lock as every run does, so a scheduled run
//     never overlaps a manual run or a backfill of the job; and a job whose
//     run outlasts its interval is not started again until it ends (gocron's
//     singleton mode): the slots that passed meanwhile are skipped.
//
// A run that fails is recorded and logged; the next slot runs the job again.
// A process that dies between claiming a slot and starting its run loses
// that slot; the next slot reads everything since the job's watermark, so
// no row is lost.
type Scheduler struct {
	env    *Env
	opts   SchedulerOptions
	clock  clockwork.Clock
	logger *slog.Logger
	jobs   []*scheduled
	cron   gocron.Scheduler
	leader *elector

	ctx    context.Context // the runs'; cancelled by Shutdown
	cancel context.CancelFunc

	mu      sync.Mutex // guards stopped and wg.Add
	stopped bool
	wg      sync.WaitGroup // the leader loop and catch-ups
}

// scheduled is one schedule of a Scheduler: a job's nightly runs, or its
// reconciles.
type scheduled struct {
	job   *configs.Job
	kind  string // state.KindRun or state.KindReconcile
	name  string // the job's name, with "/reconcile" for its reconciles: the key of its slots
	expr  string // the cron expression
	sched *Schedule
	cron  gocron.Job
}

// NewScheduler returns a Scheduler of the jobs' schedules (nightly runs)
// and reconcile_schedules (reconciles, whose slots and triggers are named
// JOB/reconcile); it is an error if no job has either. Call Start to start
// it.
func NewScheduler(env *Env, jobs []*configs.Job, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.LeaderCheck <= 0 {
		opts.LeaderCheck = DefaultLeaderCheck
	}
	if opts.Instance == "" {
		host, _ := os.Hostname()
		opts.Instance = fmt.Sprintf("%s pid %d", host, os.Getpid())
	}
	s := &Scheduler{env: env, opts: opts, clock: opts.Clock, logger: env.Logger}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.leader = &elector{store: env.State, standBack: 3 * opts.LeaderCheck, changed: s.leaderChanged, follow: s.following}
	var drain time.Duration
	for _, j := range jobs {
		for _, sc := range []*scheduled{
			{job: j, kind: state.KindRun, name: j.Name, expr: j.Schedule},
			{job: j, kind: state.KindReconcile, name: j.Name + "/reconcile", expr: j.ReconcileSchedule},
		} {
			if sc.expr == "" {
				continue
			}
			var err error
			if sc.sched, err = ParseSchedule(sc.expr, j.Timezone); err != nil {
				return nil, fmt.Errorf("job %s: %w", sc.name, err)
			}
			s.jobs = append(s.jobs, sc)
			drain = max(drain, j.DrainTimeout)
		}
	}
	if len(s.jobs) == 0 {
		return nil, errors.New("no job has a schedule or a reconcile_schedule")
	}
	// gocron reads wall-clock times in UTC, which has no daylight-saving
	// change; each job's zone is applied by its Schedule.
	cron, err := gocron.NewScheduler(
		gocron.WithClock(opts.Clock),
		gocron.WithLocation(time.UTC),
		gocron.WithDistributedElector(s.leader),
		// A running job drains for its drain_timeout, then closes its run.
		gocron.WithStopTimeout(drain+30*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	s.cron = cron
	for _, j := range s.jobs {
		j.cron, err = cron.NewJob(
			gocron.CronJob(j.expr, false),
			gocron.NewTask(s.fire, j),
			gocron.WithCronImplementation(gocronCron{j.sched}),
			gocron.WithName(j.name),
			gocron.WithSingletonMode(gocron.LimitModeReschedule),
		)
		if err != nil {
			cron.Shutdown()
			return nil, fmt.Errorf("job %s: schedule %q: %w", j.name, j.expr, err)
		}
	}
	return s, nil
}

// Start starts scheduling and logs each job's next run. Runs use ctx: when
// it is cancelled they drain and stop, as on a signal; Shutdown waits for
// them.
func (s *Scheduler) Start(ctx context.Context) {
	// The scheduler's sessions, the leader's lock among them, are named
	// after the instance: a follower tells who leads from it.
	ctx = appname.With(ctx, appname.Of("serve", s.opts.Instance))
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.cron.Start()
	for _, j := range s.jobs {
		next, _ := s.NextRun(j.name)
		s.logger.Info("job scheduled", "job", j.job.Name, "kind", j.kind, "schedule", j.expr,
			"timezone", j.sched.Location().String(), "next_run", next)
	}
	s.background(s.watchLeader)
}

// background runs f in a goroutine that Shutdown waits for, unless the
// Scheduler is stopping.
func (s *Scheduler) background(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Shutdown stops scheduling, cancels the runs in progress, waits for them
// to drain and close their run rows, and gives up the lead.
func (s *Scheduler) Shutdown() error {
	if s.cancel != nil {
		s.cancel()
	}
	err := s.cron.Shutdown()
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.wg.Wait()
	if s.leader.resign() {
		s.env.Metrics.setLeader(false)
		s.logger.Info("gave up the scheduler lead", "instance", s.opts.Instance)
	}
	if err != nil {
		return fmt.Errorf("scheduler: shutdown: %w", err)
	}
	return nil
}

// NextRun returns the next scheduled run of job, in the job's zone.
func (s *Scheduler) NextRun(job string) (time.Time, error) {
	j, err := s.job(job)
	if err != nil {
		return time.Time{}, err
	}
	next, err := j.cron.NextRun()
	if err != nil {
		return time.Time{}, fmt.Errorf("job %s: next run: %w", job, err)
	}
	return next.In(j.sched.Location()), nil
}

// Leader reports whether this process led at its last check.
func (s *Scheduler) Leader() bool { return s.leader.leading() }

// RunNow runs job at once, outside its schedule, through the same locks as
// a scheduled run: it fails with ErrNotLeader on a process that does not
// lead, claims the slot of the current second (so that triggers of one
// second, on any process, run once; ErrSlotTaken otherwise), and fails
// with state.ErrLocked while the job runs elsewhere.
func (s *Scheduler) RunNow(ctx context.Context, job string) (*Result, error) {
	j, err := s.job(job)
	if err != nil {
		return nil, err
	}
	if err := s.leader.IsLeader(ctx); err != nil {
		return nil, fmt.Errorf("job %s: %w", job, err)
	}
	return s.runSlot(ctx, j, s.clock.Now().Truncate(time.Second), s.opts.Instance+" (manual)")
}

func (s *Scheduler) job(name string) (*scheduled, error) {
	for _, j := range s.jobs {
		if j.name == name {
			return j, nil
		}
	}
	return nil, fmt.Errorf("job %s: %w (or it has no schedule)", name, configs.ErrUnknownJob)
}

// fire is the gocron task of a job: gocron calls it at each activation of
// the job's schedule, on the leader only.
func (s *Scheduler) fire(j *scheduled) {
	slot := j.sched.Prev(s.clock.Now().Add(slotGrace))
	s.runSlot(s.ctx, j, slot, s.opts.Instance)
}

// runSlot claims a slot of j and runs the job if the claim succeeds.
func (s *Scheduler) runSlot(ctx context.Context, j *scheduled, slot time.Time, by string) (*Result, error) {
	name := j.name
	slot = slot.In(j.sched.Location())
	log := s.logger.With("job", name, "slot", slot)
	m := s.env.Metrics
	claimed, err := s.env.State.ClaimSlot(ctx, name, slot, by)
	if err != nil {
		m.slot(name, slotFailed)
		log.Error("cannot claim the slot; the next slot runs the job", "error", err)
		return nil, err
	}
	if !claimed {
		m.slot(name, slotTaken)
		log.Info("slot already claimed; not running it again")
		return nil, fmt.Errorf("job %s: slot %s: %w", name, slot.Format(time.RFC3339), ErrSlotTaken)
	}
	started := func(id int64) {
		if err := s.env.State.SetSlotRun(context.WithoutCancel(ctx), name, slot, id); err != nil {
			log.Warn("cannot record the slot's run", "run_id", id, "error", err)
		}
	}
	res, err := Run(ctx, s.env, j.job, Options{Kind: j.kind, Started: started})
	switch {
	case errors.Is(err, state.ErrLocked):
		m.slot(name, slotLocked)
		log.Warn("job is being run by another process; slot skipped", "error", err)
	case res == nil:
		m.slot(name, slotFailed)
		log.Error("scheduled run could not start; the next slot runs the job", "error", err)
	case err != nil:
		m.slot(name, slotRan)
		log.Error("scheduled run failed; the next slot runs the job", "run_id", res.RunID, "status", res.Status, "error", err)
	default:
		m.slot(name, slotRan)
		log.Info("scheduled run finished", "run_id", res.RunID, "status", res.Status)
	}
	return res, err
}

// watchLeader checks the lead every LeaderCheck until the Scheduler stops.
func (s *Scheduler) watchLeader() {
	t := time.NewTicker(s.opts.LeaderCheck)
	defer t.Stop()
	for {
		s.leader.IsLeader(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leaderChanged is called when the process gains or loses the lead.
func (s *Scheduler) leaderChanged(leading bool, err error) {
	s.env.Metrics.setLeader(leading)
	if !leading {
		s.logger.Warn("lost the scheduler lead; not running jobs", "error", err)
		return
	}
	s.logger.Info("leading the scheduler", "instance", s.opts.Instance)
	if s.opts.CatchUp > 0 && s.ctx != nil {
		s.background(s.catchUp)
	}
}

// following is called when the process finds another leading.
func (s *Scheduler) following(leader state.LockHolder) {
	s.logger.Info("following the scheduler leader: this instance runs no job while another leads",
		"instance", s.opts.Instance, "leader", leader.Application, "leader_client", leader.Client,
		"leader_backend", leader.PID, "leading_since", leader.Since)
}

// catchUp runs the last slot of each job when it is at most CatchUp old and
// was never claimed. The run goes through gocron like a scheduled one, so
// it does not overlap a run of the job in progress.
func (s *Scheduler) catchUp() {
	now := s.clock.Now()
	for _, j := range s.jobs {
		slot := j.sched.Prev(now.Add(slotGrace))
		if slot.IsZero() || now.Sub(slot) > s.opts.CatchUp {
			continue
		}
		last, err := s.env.State.Slots(s.ctx, j.name, 1)
		if err != nil {
			s.logger.Warn("cannot read the last slot to catch up", "job", j.name, "error", err)
			continue
		}
		if len(last) > 0 && !last[0].Slot.Before(slot) {
			continue
		}
		s.logger.Info("running a missed slot", "job", j.name, "slot", slot.In(j.sched.Location()))
		if err := j.cron.RunNow(); err != nil {
			s.logger.Warn("cannot run a missed slot", "job", j.name, "error", err)
		}
	}
}

// An elector is the gocron Elector of a Scheduler: the process leads while
// it holds the scheduler leader's lock on one pinned connection of the
// state database.
type elector struct {
	store     *state.Store
	standBack time.Duration                 // how long to wait after losing the lead before trying again
	changed   func(leading bool, err error) // called when the lead is gained or lost, outside mu
	follow    func(leader state.LockHolder) // called when another session is found leading, outside mu

	mu        sync.Mutex
	lock      *state.LeaderLock // nil: not leading
	lostAt    time.Time
	following int // the backend of the leader last followed; 0 for none
}

// IsLeader returns nil when this process leads: it holds the lock and the
// lock's connection answers. Otherwise it tries to take the lock, unless it
// lost it less than standBack ago; the error then wraps ErrNotLeader.
func (e *elector) IsLeader(ctx context.Context) error {
	gained, lost, err := e.check(ctx)
	if gained || lost {
		e.changed(gained, err)
	}
	if errors.Is(err, ErrNotLeader) && e.follow != nil {
		e.checkLeader(ctx)
	}
	return err
}

// checkLeader calls follow when another session leads, and it is not the
// one last followed.
func (e *elector) checkLeader(ctx context.Context) {
	leader, ok, err := e.store.Leader(ctx)
	if err != nil || !ok {
		return
	}
	e.mu.Lock()
	changed := e.lock == nil && e.following != leader.PID
	if changed {
		e.following = leader.PID
	}
	e.mu.Unlock()
	if changed {
		e.follow(leader)
	}
}

func (e *elector) check(ctx context.Context) (gained, lost bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lock != nil {
		cctx, cancel := context.WithTimeout(ctx, leaderCheckTimeout)
		err := e.lock.Check(cctx)
		cancel()
		if err == nil {
			return false, false, nil
		}
		e.lock.Unlock()
		e.lock, e.lostAt = nil, time.Now()
		return false, true, fmt.Errorf("%w: lost the lead: %v", ErrNotLeader, err)
	}
	if !e.lostAt.IsZero() && time.Since(e.lostAt) < e.standBack {
		return false, false, ErrNotLeader
	}
	if ctx.Err() != nil {
		return false, false, fmt.Errorf("%w: %v", ErrNotLeader, ctx.Err())
	}
	lock, err := e.store.TryLeaderLock(ctx)
	if errors.Is(err, state.ErrLocked) {
		return false, false, ErrNotLeader
	}
	if err != nil {
		return false, false, fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	e.lock = lock
	return true, false, nil
}

// leading reports whether the process held the lock at its last check.
func (e *elector) leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lock != nil
}

// resign gives up the lead, so that another process takes it at once, and
// reports whether the process led.
func (e *elector) resign() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lock == nil {
		return false
	}
	e.lock.Unlock()
	e.lock = nil
	return true
}
