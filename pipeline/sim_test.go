package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
	"github.com/algoreg/algoreg-etl/state"
)

// TestConvergence is a seeded, randomized convergence test in the spirit of
// deterministic simulation. Each seed draws a history of the source
// (inserts, updates, deletes, ties, late commits, changes that do not bump
// updated_at, invalid rows fixed later, hierarchies, relations, ...) and
// interleaves it with runs, retries and reconciles, under API faults, kills
// and cancellations. The schedule ends with a reconcile and a run of every
// job, faults off; then the sandbox must equal the source, every invalid
// row must have exactly one open error, every count of every run must match
// the record history and what the API saw, nothing may have been sent twice
// but the chunks in flight when a run stopped, and one more run must find
// nothing to do.
//
// Each source of trouble is a feature (simFeatureNames) that a seed turns on
// or off. By default a seed draws from simPassing, the features the
// pipeline handles today; -features=all (or a list) draws from others.
//
//	go test ./pipeline -run TestConvergence                 # simShortSeeds seeds
//	go test ./pipeline -run TestConvergence -seeds 1000     # from -seed0, default a random one
//	go test ./pipeline -run TestConvergence -seed 42 -v     # one seed, with its story
//
// The seed fixes the source's history, the schedule, the faults (each
// drawn from the seed, the step and the records of the call, not from the
// order of calls) and the moments of the kills. Chunks sent concurrently
// may still finish in another order from one replay to the next.
//
// Kills are real: the run is made by a child process (this test binary),
// killed with SIGKILL while the API holds one of its calls, before or
// after storing it. Cancellations stop a run in this process by its
// context, as a signal would.
func TestConvergence(t *testing.T) {
	allowed, err := parseFeatures(simFlags.features)
	if err != nil {
		t.Fatal(err)
	}
	seeds := simSeeds()
	t.Logf("seeds %d..%d, features %s", seeds[0], seeds[len(seeds)-1], allowed)
	base := sqltest.NewDB(t)
	var (
		mu     sync.Mutex
		spent  time.Duration
		failed []uint64
	)
	t.Cleanup(func() {
		// The summary, printed whatever -v says; go test shows it when it
		// runs the binary in its folder, as make sim does.
		if len(seeds) > 1 {
			fmt.Printf("TestConvergence: %d seeds (%d..%d), %d failed %v, %.2fs per seed on average\n",
				len(seeds), seeds[0], seeds[len(seeds)-1], len(failed), failed, spent.Seconds()/float64(len(seeds)))
		}
	})
	// Seeds spend most of their time waiting for the database and for the
	// retries' backoff: three per CPU run at once, whatever -parallel says.
	work := make(chan uint64)
	var wg sync.WaitGroup
	for range min(3*runtime.GOMAXPROCS(0), len(seeds)) {
		wg.Go(func() {
			for seed := range work {
				t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
					began := time.Now()
					simulate(t, seed, allowed, base)
					mu.Lock()
					defer mu.Unlock()
					spent += time.Since(began)
					if t.Failed() {
						failed = append(failed, seed)
					}
				})
			}
		})
	}
	for _, seed := range seeds {
		work <- seed
	}
	close(work)
	wg.Wait()
}

// simSource returns a source of its own for one seed: the example schema
// in a schema of the database base, and the state tables in another, both
// dropped when t ends. A schema costs a fraction of a database clone.
func simSource(t *testing.T, base *sqltest.DB) (db *sqltest.DB, stateSchema string) {
	ctx := context.Background()
	name := fmt.Sprintf("sim_%x", rand.Uint64())
	stateSchema = name + "_state"
	u, err := url.Parse(base.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	if _, err := base.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Exec("DROP SCHEMA IF EXISTS " + name + ", " + stateSchema + " CASCADE") })
	src, err := sqlx.Open("postgres", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	schema, err := etlsql.Example("schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ExecContext(ctx, schema); err != nil {
		t.Fatal(err)
	}
	return &sqltest.DB{DB: src, URL: u.String(), Name: base.Name}, stateSchema
}

// simShortSeeds is how many seeds a plain `go test` runs.
const simShortSeeds = 24

var simFlags struct {
	seed, seed0 uint64
	seeds       int
	features    string
}

func init() {
	flag.Uint64Var(&simFlags.seed, "seed", envUint("SIM_SEED", 0), "TestConvergence: run this one seed ($SIM_SEED)")
	flag.IntVar(&simFlags.seeds, "seeds", int(envUint("SIM_SEEDS", simShortSeeds)), "TestConvergence: how many seeds to run ($SIM_SEEDS)")
	flag.Uint64Var(&simFlags.seed0, "seed0", envUint("SIM_SEED0", 0), "TestConvergence: the first seed; 0: 1 for the short run, else a random one ($SIM_SEED0)")
	flag.StringVar(&simFlags.features, "features", os.Getenv("SIM_FEATURES"), "TestConvergence: the features a seed may turn on, comma separated, or all; default the ones that pass ($SIM_FEATURES)")
}

func envUint(name string, def uint64) uint64 {
	if v, err := strconv.ParseUint(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

func simSeeds() []uint64 {
	if simFlags.seed != 0 {
		return []uint64{simFlags.seed}
	}
	first := simFlags.seed0
	if first == 0 {
		first = 1
		if simFlags.seeds != simShortSeeds {
			first = 1 + rand.Uint64N(1<<40)
		}
	}
	out := make([]uint64, max(simFlags.seeds, 1))
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// TestMain lets the test binary serve as the child process of a killed
// run.
func TestMain(m *testing.M) {
	if os.Getenv("SIM_CHILD") != "" {
		os.Exit(simChild())
	}
	os.Exit(m.Run())
}

// The features: each a source of trouble a seed may turn on.
const (
	featDeletes    = "deletes"    // rows deleted from the source
	featTies       = "ties"       // several changes share one updated_at
	featLate       = "late"       // changes committed with an updated_at in the past, below the lookback too
	featNoBump     = "nobump"     // changes that do not touch updated_at
	featDupIDs     = "dups"       // two rows with one external id
	featNullCursor = "nullcursor" // rows whose updated_at is NULL
	featHierarchy  = "hierarchy"  // parent_external_id, up to four levels
	featRelations  = "relations"  // links between customers
	featTwoJobs    = "twojobs"    // two jobs on one tenant; relations of one name customers of the other
	featInvalid    = "invalid"    // invalid rows, fixed later
	featRetry      = "retry"      // `retry` runs
	featReconcile  = "reconcile"  // reconciles during the schedule
	featDryRun     = "dryrun"     // reconciles with --dry-run, and their forecast checked against the real one
	featDisable    = "disable"    // on_missing: disable rather than report, the default
	featFaults     = "faults"     // 500, 429 and dropped connections before the API handles a call
	featLost       = "lost"       // answers lost after the API stored the call: dropped, 504
	featTimeouts   = "timeouts"   // no answer until the client's timeout, after the API stored the call
	featPoison     = "poison"     // a record the API refuses whole (400) for a while
	featKill       = "kill"       // runs killed (SIGKILL) while the API holds one of their calls
	featCancel     = "cancel"     // runs cancelled, as by a signal
	featEmptyLists = "emptylists" // a row's review groups all removed
	featBackfill   = "backfill"   // backfills, of everything or of the last seconds
	featVerify     = "verify"     // runs with --verify
	// featStrict: no tolerance for what a version of a record that the API
	// stored, but whose answer the pipeline never read, explains (see
	// sim.unacked).
	featStrict = "strict"
)

var simFeatureNames = []string{featDeletes, featTies, featLate, featNoBump, featDupIDs, featNullCursor, featHierarchy,
	featRelations, featTwoJobs, featInvalid, featRetry, featReconcile, featDryRun, featDisable, featFaults, featLost,
	featTimeouts, featPoison, featKill, featCancel, featEmptyLists, featBackfill, featVerify, featStrict}

// simPassing are the features the pipeline handles today: the ones a seed
// draws from by default.
var simPassing = []string{featDeletes, featTies, featLate, featNoBump, featDupIDs, featNullCursor, featHierarchy, featRelations,
	featTwoJobs, featInvalid, featRetry, featReconcile, featFaults, featLost, featTimeouts, featPoison, featKill,
	featCancel, featEmptyLists, featBackfill, featVerify}

// simFeatures is a set of features.
type simFeatures map[string]bool

func (f simFeatures) on(name string) bool { return f[name] }

func (f simFeatures) String() string {
	var on []string
	for _, n := range simFeatureNames {
		if f[n] {
			on = append(on, n)
		}
	}
	return strings.Join(on, ",")
}

func parseFeatures(s string) (simFeatures, error) {
	f := make(simFeatures)
	names := simPassing
	switch s {
	case "":
	case "all":
		names = simFeatureNames
	default:
		names = strings.Split(s, ",")
	}
	for _, n := range names {
		if !slices.Contains(simFeatureNames, n) {
			return nil, fmt.Errorf("unknown feature %q; features: %s", n, strings.Join(simFeatureNames, ","))
		}
		f[n] = true
	}
	return f, nil
}

// drawFeatures turns on each allowed feature with a chance of 3 in 4.
func drawFeatures(rng *rand.Rand, allowed simFeatures) simFeatures {
	f := make(simFeatures)
	for _, n := range simFeatureNames {
		if allowed[n] && rng.IntN(4) > 0 {
			f[n] = true
		}
	}
	return f
}

// simJobs returns the jobs of a seed: one job, or two on one tenant (people
// and firms by the prefix of their external id, the relations in the
// second).
func simJobs(seed uint64, f simFeatures) []*configs.Job {
	rng := rand.New(rand.NewPCG(seed, 0x10b5))
	customers, err1 := etlsql.Example("customers.sql")
	relations, err2 := etlsql.Example("relations.sql")
	if err := errors.Join(err1, err2); err != nil {
		panic(err)
	}
	base := configs.DefaultJob("sim")
	base.CustomersSQL = customers
	base.AccountTypes = map[string]string{"person": "N", "company": "F"}
	base.ChunkSize = []int{1, 2, 3, 5}[rng.IntN(4)]
	base.PageSize = []int{2, 3, 7, 100}[rng.IntN(4)]
	base.Concurrency = 1 + rng.IntN(3)
	base.SafetyLag = 0
	base.Lookback = []time.Duration{0, 2 * time.Second, 5 * time.Second}[rng.IntN(3)]
	base.MaxAttempts = 2 + rng.IntN(3)
	base.MaxRetryTime = time.Minute
	// A run cancelled lets its calls finish, or, with no time for that,
	// abandons them.
	base.DrainTimeout = []time.Duration{0, 5 * time.Second}[rng.IntN(2)]
	base.RiskScanThreshold = rng.IntN(10)
	base.OnMissing = configs.OnMissingReport
	if f.on(featDisable) {
		base.OnMissing = configs.OnMissingDisable
	}
	base.MaxDisableFraction = 1
	withRelations := func(j *configs.Job) {
		if f.on(featRelations) {
			j.RelationsSQL = relations
			j.RelationTypes = simRelationTypes
		}
	}
	if !f.on(featTwoJobs) {
		j := base
		withRelations(&j)
		return []*configs.Job{&j}
	}
	a, b := base, base
	a.Name, b.Name = "sim_a", "sim_b"
	a.CustomersSQL = strings.TrimSpace(customers) + "\nWHERE c.client_ref LIKE 'A-%'"
	b.CustomersSQL = strings.TrimSpace(customers) + "\nWHERE c.client_ref LIKE 'B-%'"
	withRelations(&b)
	return []*configs.Job{&a, &b}
}

// jobOf returns the job that sends the customer with external id ref.
func (s *sim) jobOf(ref string) *configs.Job {
	if len(s.jobs) == 1 || strings.HasPrefix(ref, "A-") {
		return s.jobs[0]
	}
	return s.jobs[1]
}

// relationsJob returns the job that sends relations, nil for none.
func (s *sim) relationsJob() *configs.Job {
	for _, j := range s.jobs {
		if j.RelationsSQL != "" {
			return j
		}
	}
	return nil
}

// sim is one seed's simulation.
type sim struct {
	t        *testing.T
	seed     uint64
	rng      *rand.Rand
	f        simFeatures
	db       *sqltest.DB
	state    string // the schema of the state tables
	env      *pipeline.Env
	api      *simAPI
	jobs     []*configs.Job
	w        *simWorld
	steps    []simStep
	runOf    map[int64]int // the step that made each run
	lastRun  int64
	poisoned []string
	unack    map[string]bool // see unacked
	// unackField: by record and field, whether the API's value was last set
	// by a call the pipeline never recorded.
	unackField map[string]bool
	known      map[string]bool // records the pipeline recorded as accepted, ever
}

// simStep is one step of the schedule that ran the pipeline.
type simStep struct {
	n       int
	job     *configs.Job
	opts    pipeline.Options
	what    string
	runs    []int64  // the runs it made
	stopped bool     // its process was killed or its context cancelled
	killed  bool     // ... killed
	gone    []string // refs deleted from the source at the time
	rows    int64    // the rows the job's queries returned at the time
	err     error
}

func simulate(t *testing.T, seed uint64, allowed simFeatures, base *sqltest.DB) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	f := drawFeatures(rng, allowed)
	db, schema := simSource(t, base)
	st, err := state.Open(ctx, db.URL, schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	api := newSimAPI(t, seed)
	s := &sim{
		t: t, seed: seed, rng: rng, f: f, db: db, state: schema, api: api, jobs: simJobs(seed, f), runOf: make(map[int64]int),
		env: &pipeline.Env{Source: db.DB, State: st, API: api.client(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
	}
	s.w = newSimWorld(db.DB, rng, f, s.jobs[0].Lookback)
	if err := s.w.prepare(ctx); err != nil {
		t.Fatal(err)
	}
	j := s.jobs[0]
	s.w.logf("seed %d: features %s; chunk_size %d, page_size %d, concurrency %d, lookback %v, on_missing %s, %d job(s)",
		seed, f, j.ChunkSize, j.PageSize, j.Concurrency, j.Lookback, j.OnMissing, len(s.jobs))
	defer func() {
		if t.Failed() {
			s.w.log = append(s.w.log, s.dumpErrors(ctx)...)
		}
		if t.Failed() || (simFlags.seed != 0 && testing.Verbose()) {
			t.Logf("replay: go test ./pipeline -run 'TestConvergence$' -seed %d -features %s -v\n%s", seed, allowedString(allowed), strings.Join(s.w.log, "\n"))
		}
	}()

	// A source that holds some rows before the first run.
	for range 3 + rng.IntN(4) {
		for range 2 + rng.IntN(4) {
			if err := s.w.mutate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		s.w.tick()
	}
	steps := 12 + rng.IntN(16)
	for i := range steps {
		if t.Failed() {
			return
		}
		s.step(ctx, i)
	}
	if t.Failed() {
		return
	}
	s.finish(ctx, steps)
}

func allowedString(f simFeatures) string {
	s := f.String()
	if s == "" {
		return "''"
	}
	return s
}

// step draws and does one step of the schedule.
func (s *sim) step(ctx context.Context, n int) {
	rng := s.rng
	switch r := rng.IntN(100); {
	case r < 55:
		if err := s.w.mutate(ctx); err != nil {
			s.t.Fatalf("step %d: source: %v", n, err)
		}
		if !s.f.on(featTies) || rng.IntN(2) == 0 {
			s.w.tick()
		}
		return
	case r < 56 && s.f.on(featPoison):
		if len(s.poisoned) > 0 && rng.IntN(2) == 0 {
			id := s.poisoned[0]
			s.poisoned = s.poisoned[1:]
			s.api.sandbox.Unpoison(id)
			s.w.logf("step %d: the API takes %s again", n, id)
			return
		}
		if id, ok := pick(rng, s.w.refs()); ok {
			s.poisoned = append(s.poisoned, id)
			s.api.sandbox.Poison(id, "refused by the simulation")
			s.w.logf("step %d: the API refuses any call holding %s", n, id)
		}
		return
	}

	st := simStep{n: n, job: s.jobs[rng.IntN(len(s.jobs))]}
	switch r := rng.IntN(100); {
	case r < 15 && s.f.on(featRetry):
		st.opts.Kind = state.KindRetry
	case r < 30 && s.f.on(featReconcile):
		st.opts.Kind = state.KindReconcile
	case r < 40 && s.f.on(featDryRun):
		st.opts.Kind, st.opts.DryRun = state.KindReconcile, true
	case r < 48 && s.f.on(featBackfill):
		st.opts.Kind = state.KindBackfill
		if rng.IntN(2) == 0 {
			st.opts.Since = s.w.now.Add(-time.Duration(rng.IntN(30)) * time.Second)
		}
	case r < 54 && s.f.on(featVerify):
		st.opts.Kind = state.KindVerify
	}
	var rate float64
	var kinds []simFault
	if s.f.on(featFaults) {
		kinds = append(kinds, fault500, fault429, faultDrop)
	}
	if s.f.on(featLost) {
		kinds = append(kinds, faultLost, fault504)
	}
	if s.f.on(featTimeouts) && rng.IntN(3) == 0 {
		kinds = append(kinds, faultTimeout)
	}
	if len(kinds) > 0 && rng.IntN(2) == 0 {
		// Mostly a few faults, that retries overcome; sometimes an outage,
		// that fails chunks and so the run.
		rate = []float64{0.1, 0.25, 0.25, 0.7}[rng.IntN(4)]
	}
	stop := ""
	switch r := rng.IntN(100); {
	case r < 15 && s.f.on(featKill):
		stop = "kill"
	case r < 30 && s.f.on(featCancel):
		stop = "cancel"
	}
	stopAt, stopLate := 1+rng.IntN(4), rng.IntN(2) == 0
	s.do(ctx, &st, rate, kinds, stop, stopAt, stopLate)
	if st.opts.Kind == state.KindReconcile && st.opts.DryRun && !st.stopped && st.err == nil && rate == 0 {
		// A dry run foresees the real run that follows it.
		real := simStep{n: n, job: st.job, opts: pipeline.Options{Kind: state.KindReconcile}}
		s.do(ctx, &real, 0, nil, "", 0, false)
		s.checkForecast(ctx, &st, &real)
	}
	s.w.tick()
}

// do runs one step of the pipeline: in this process, or in a child process
// that is killed at the stopAt-th call (stop "kill"), or with a context
// cancelled there (stop "cancel").
func (s *sim) do(ctx context.Context, st *simStep, rate float64, kinds []simFault, stop string, stopAt int, stopLate bool) {
	st.what = st.opts.Kind
	if st.what == "" {
		st.what = state.KindRun
	}
	if st.opts.DryRun {
		st.what += " --dry-run"
	}
	if !st.opts.Since.IsZero() {
		st.what += " --since " + st.opts.Since.Format("15:04:05")
	}
	st.what += " " + st.job.Name
	if rate > 0 {
		st.what += fmt.Sprintf(" (faults %v)", kinds)
	}
	if stop != "" {
		st.what += fmt.Sprintf(" (%s at call %d", stop, stopAt)
		if stopLate {
			st.what += " after the API stored it"
		}
		st.what += ")"
	}
	for ref := range s.w.gone {
		st.gone = append(st.gone, ref)
	}
	st.rows = s.rowsOf(st.job)

	// A killed process's lock is freed once the server sees its connection
	// gone: wait for it.
	began := time.Now()
	deadline := began.Add(15 * time.Second)
	for {
		switch stop {
		case "kill":
			s.doChild(ctx, st, rate, kinds, stopAt, stopLate)
		default:
			runCtx, cancel := context.WithCancel(ctx)
			at := 0
			if stop == "cancel" {
				at = stopAt
			}
			s.api.begin(len(s.steps), rate, kinds, at, stopLate, false, cancel)
			_, st.err = pipeline.Run(runCtx, s.env, st.job, st.opts)
			st.stopped = s.api.end()
			cancel()
		}
		if !errors.Is(st.err, state.ErrLocked) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var ids []int64
	if err := s.db.Select(&ids, `SELECT id FROM `+s.state+`.runs WHERE id > $1 ORDER BY id`, s.lastRun); err != nil {
		s.t.Fatal(err)
	}
	for _, id := range ids {
		s.runOf[id] = len(s.steps)
		s.lastRun = id
	}
	st.runs = ids
	s.steps = append(s.steps, *st)
	s.w.logf("step %d: %s (%v): %s", st.n, st.what, time.Since(began).Round(time.Millisecond), s.outcome(ctx, st))
	if errors.Is(st.err, state.ErrLocked) {
		s.t.Errorf("step %d: %s: the job's lock was never freed: %v", st.n, st.what, st.err)
	}
}

// rowsOf returns how many rows the job's queries return now.
func (s *sim) rowsOf(j *configs.Job) int64 {
	var n int64
	for _, c := range s.w.clients {
		if s.jobOf(c.ref) == j {
			n++
		}
	}
	if j == s.relationsJob() {
		n += int64(len(s.w.links))
	}
	return n
}

// outcome describes what a step did, for the story of a seed.
func (s *sim) outcome(ctx context.Context, st *simStep) string {
	out := ""
	for _, id := range st.runs {
		r, err := s.env.State.Run(ctx, id)
		if err != nil {
			s.t.Fatal(err)
		}
		c := r.Counts
		out += fmt.Sprintf("run %d %s: extracted %d, retried %d, sent %d (new %d, changed %d), skipped %d, invalid %d, rejected %d, resolved %d, missing %d, disabled %d; ",
			id, r.Status, c.Extracted, c.Retried, c.Sent, c.New, c.Changed, c.Skipped, c.Invalid, c.Rejected, c.Resolved, c.Missing, c.Disabled)
		if r.Error != "" {
			out += "error: " + r.Error + "; "
		}
	}
	if st.killed {
		out += "killed"
	} else if st.stopped {
		out += "cancelled"
	}
	if st.err != nil && len(st.runs) == 0 {
		out += "error: " + st.err.Error()
	}
	return out
}

// doChild makes the run in a child process, killed at the stopAt-th call.
func (s *sim) doChild(ctx context.Context, st *simStep, rate float64, kinds []simFault, stopAt int, stopLate bool) {
	idx := slices.Index(s.jobs, st.job)
	cmd := exec.CommandContext(ctx, os.Args[0])
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "SIM_CHILD=1", "SIM_CHILD_DSN="+s.db.URL, "SIM_CHILD_STATE="+s.state, "SIM_CHILD_API="+s.api.srv.URL,
		"SIM_CHILD_TOKEN="+s.api.sandbox.Token, "SIM_CHILD_SEED="+strconv.FormatUint(s.seed, 10),
		"SIM_CHILD_FEATURES="+s.f.String(), "SIM_CHILD_JOB="+strconv.Itoa(idx), "SIM_CHILD_KIND="+st.opts.Kind,
		"SIM_CHILD_DRY="+strconv.FormatBool(st.opts.DryRun), "SIM_CHILD_SINCE="+st.opts.Since.Format(time.RFC3339Nano))
	// The API's goroutine kills the process; the channel hands it over.
	started := make(chan *os.Process, 1)
	s.api.begin(len(s.steps), rate, kinds, stopAt, stopLate, true, func() {
		p := <-started
		p.Kill()
		started <- p
	})
	if err := cmd.Start(); err != nil {
		s.api.end()
		s.t.Fatal(err)
	}
	started <- cmd.Process
	err := cmd.Wait()
	st.stopped = s.api.end()
	st.killed = st.stopped
	switch code := cmd.ProcessState.ExitCode(); {
	case st.killed:
	case code == simChildLocked:
		st.err = state.ErrLocked
	case err != nil:
		st.err = fmt.Errorf("child: %v: %s", err, out.String())
	}
}

// simChildLocked is the exit code of a child that found the job locked.
const simChildLocked = 3

// simChild is the child process: one run of the job the environment names.
func simChild() int {
	ctx := context.Background()
	seed, _ := strconv.ParseUint(os.Getenv("SIM_CHILD_SEED"), 10, 64)
	f, err := parseFeatures(os.Getenv("SIM_CHILD_FEATURES"))
	if os.Getenv("SIM_CHILD_FEATURES") == "" {
		f, err = make(simFeatures), nil
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	idx, _ := strconv.Atoi(os.Getenv("SIM_CHILD_JOB"))
	job := simJobs(seed, f)[idx]
	dsn := os.Getenv("SIM_CHILD_DSN")
	st, err := state.Open(ctx, dsn, os.Getenv("SIM_CHILD_STATE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	src, err := sqlx.Open("postgres", dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client := load.NewClient(os.Getenv("SIM_CHILD_API"), load.BearerToken(os.Getenv("SIM_CHILD_TOKEN")), simHTTPClient())
	env := &pipeline.Env{Source: src, State: st, API: client, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	opts := pipeline.Options{Kind: os.Getenv("SIM_CHILD_KIND"), DryRun: os.Getenv("SIM_CHILD_DRY") == "true"}
	opts.Since, _ = time.Parse(time.RFC3339Nano, os.Getenv("SIM_CHILD_SINCE"))
	if _, err := pipeline.Run(ctx, env, job, opts); err != nil {
		if errors.Is(err, state.ErrLocked) {
			return simChildLocked
		}
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// finish ends the schedule: faults off, then a reconcile and a run of every
// job, and checks what they leave.
func (s *sim) finish(ctx context.Context, n int) {
	for _, id := range s.poisoned {
		s.api.sandbox.Unpoison(id)
	}
	s.poisoned = nil
	s.w.logf("step %d: the end: faults off, a run of every job, then a reconcile and a run of every job", n)
	for _, j := range s.jobs {
		st := simStep{n: n, job: j}
		s.do(ctx, &st, 0, nil, "", 0, false)
		if st.err != nil {
			s.t.Errorf("last incremental %s: %v", st.what, st.err)
		}
	}
	s.checkIncremental(ctx)
	for _, kind := range []string{state.KindReconcile, state.KindRun} {
		for _, j := range s.jobs {
			st := simStep{n: n, job: j, opts: pipeline.Options{Kind: kind}}
			s.do(ctx, &st, 0, nil, "", 0, false)
			if st.err != nil {
				s.t.Errorf("last %s of %s: %v", st.what, j.Name, st.err)
			}
		}
	}
	s.check(ctx)
	if s.t.Failed() {
		return
	}
	s.checkQuiet(ctx, n+1)
}
