package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

var runFlags struct {
	verify, offline, full bool
	riskScan              string
}

var runCmd = &command{
	name: "run",
	summary: "Run one job once: send the rows changed since its last run, then retry the rows of\n" +
		"open record errors. --verify has the API validate without persisting; --offline only\n" +
		"validates locally. Neither moves the watermark.",
	usage:   "[flags] JOB",
	example: "algoreg-etl run --config /etc/algoreg-etl/config.yaml customers\nalgoreg-etl run --verify customers",
	flags: func(fs *flag.FlagSet) {
		fs.BoolVar(&runFlags.verify, "verify", false, "send with verify_input: the API validates and persists nothing; no watermark moves")
		fs.BoolVar(&runFlags.offline, "offline", false, "transform and validate only, without calling the API; no watermark moves")
		fs.BoolVar(&runFlags.full, "full", false, "send every row of the window, even those unchanged since last accepted")
		fs.StringVar(&runFlags.riskScan, "risk-scan", "", "override the job's risk_scan policy for this run: auto, on or off")
	},
	run: func(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
		opts := pipeline.Options{Kind: state.KindRun, Full: runFlags.full, RiskScan: runFlags.riskScan}
		switch {
		case runFlags.verify && runFlags.offline:
			return a.fail(errors.New("--verify and --offline exclude each other"), exitUsage)
		case runFlags.verify:
			opts.Kind = state.KindVerify
		case runFlags.offline:
			opts.Kind = state.KindOffline
		}
		return a.runPipeline(ctx, fs, args, opts)
	},
}

var backfillFlags struct {
	since, until, riskScan string
	all, full, noResume    bool
	resume                 int64
}

var backfillCmd = &command{
	name: "backfill",
	summary: "Re-send the rows of a range of updated_at (--since, --until) or all rows (--all), without\n" +
		"moving the job's watermark. An interrupted backfill of the same range is resumed where it\n" +
		"stopped. Unchanged rows are skipped unless --full.",
	usage:   "[flags] JOB",
	example: "algoreg-etl backfill --since 2025-01-01 customers\nalgoreg-etl backfill --all --full customers",
	flags: func(fs *flag.FlagSet) {
		fs.StringVar(&backfillFlags.since, "since", "", "first updated_at to send: YYYY-MM-DD (UTC) or RFC 3339")
		fs.StringVar(&backfillFlags.until, "until", "", "last updated_at to send (default: now - safety_lag)")
		fs.BoolVar(&backfillFlags.all, "all", false, "send every row")
		fs.BoolVar(&backfillFlags.full, "full", false, "send rows unchanged since last accepted too")
		fs.Int64Var(&backfillFlags.resume, "resume", 0, "resume the interrupted backfill with this run id")
		fs.BoolVar(&backfillFlags.noResume, "no-resume", false, "start afresh even if a backfill of the same range was interrupted")
		fs.StringVar(&backfillFlags.riskScan, "risk-scan", "", "override the job's risk_scan policy: auto, on or off (auto disables the scan for a backfill)")
	},
	run: func(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
		f := backfillFlags
		opts := pipeline.Options{Kind: state.KindBackfill, Full: f.full, RiskScan: f.riskScan, Resume: f.resume}
		if f.noResume {
			opts.Resume = -1
		}
		if (f.since == "") == !f.all && f.resume == 0 {
			return a.fail(errors.New("backfill: give --since or --all"), exitUsage)
		}
		var err error
		if opts.Since, err = parseTime("--since", f.since); err != nil {
			return a.fail(err, exitUsage)
		}
		if opts.Until, err = parseTime("--until", f.until); err != nil {
			return a.fail(err, exitUsage)
		}
		return a.runPipeline(ctx, fs, args, opts)
	},
}

var retryCmd = &command{
	name:    "retry",
	summary: "Retry only the rows of the job's open record errors (at most retry_errors_limit).",
	usage:   "[flags] JOB",
	example: "algoreg-etl retry --config /etc/algoreg-etl/config.yaml customers",
	run: func(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
		return a.runPipeline(ctx, fs, args, pipeline.Options{Kind: state.KindRetry})
	},
}

// parseTime reads a flag's time: a date (midnight UTC) or RFC 3339.
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want YYYY-MM-DD or an RFC 3339 time such as 2025-01-01T00:00:00Z", flag, s)
}

// runPipeline runs the job named by args with opts and reports the result.
func (a *app) runPipeline(ctx context.Context, fs *flag.FlagSet, args []string, opts pipeline.Options) int {
	if len(args) != 1 {
		fs.Usage()
		return exitUsage
	}
	switch opts.RiskScan {
	case "", configs.RiskScanAuto, configs.RiskScanOn, configs.RiskScanOff:
	default:
		return a.fail(fmt.Errorf("--risk-scan %q: want auto, on or off", opts.RiskScan), exitUsage)
	}
	cfg, code := a.loadConfig()
	if cfg == nil {
		return code
	}
	job, err := cfg.Job(args[0])
	if err != nil {
		return a.fail(err, exitUsage)
	}
	env, closeEnv, err := a.connect(ctx, cfg)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer closeEnv()
	a.showProgress(env, &opts)
	start := time.Now()
	res, err := pipeline.Run(ctx, env, job, opts)
	if res != nil {
		printSummary(a.stdout, res, time.Since(start))
		if res.Kind == state.KindReconcile {
			if run, err := env.State.Run(ctx, res.RunID); err == nil {
				a.printReconcile(res, run)
			}
		}
	}
	code = exitCode(res, err)
	if err != nil {
		return a.fail(err, code)
	}
	return code
}

// exitCode maps the outcome of a run to the CLI's exit code.
func exitCode(res *pipeline.Result, err error) int {
	switch {
	case errors.Is(err, state.ErrLocked):
		return exitLocked
	case res != nil && res.Status == state.StatusInterrupted:
		return exitInterrupted
	case err != nil:
		return exitFailed
	case res.Status == state.StatusPartial:
		return exitRecordErrs
	}
	return exitOK
}

func (a *app) printResult(res *pipeline.Result) { printSummary(a.stdout, res, 0) }

// loadConfig loads the config named by --config. On failure it reports the
// error and returns the exit code.
func (a *app) loadConfig() (*configs.Config, int) {
	if a.configPath == "" {
		return nil, a.fail(errors.New("no config file: pass --config or set ALGOREG_ETL_CONFIG"), exitUsage)
	}
	cfg, err := configs.Load(a.configPath)
	if err != nil {
		return nil, a.fail(err, exitUsage)
	}
	return cfg, exitOK
}

// openState opens the state store of cfg. With current set, it also checks
// that the state schema is at the binary's version (`migrate` opens it
// without).
func openState(ctx context.Context, cfg *configs.Config, current bool) (*state.Store, error) {
	st, err := state.Open(ctx, cfg.State.DSN.Reveal(), cfg.State.Schema)
	if err != nil {
		return nil, err
	}
	if current {
		if err := st.CheckVersion(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// connect opens the source and (current) state databases and the API
// client of cfg.
func (a *app) connect(ctx context.Context, cfg *configs.Config) (*pipeline.Env, func(), error) {
	src, err := sqlx.Open("postgres", cfg.Source.DSN.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("source database %s: %w", configs.RedactDSN(cfg.Source.DSN.Reveal()), err)
	}
	src.SetMaxIdleConns(8) // the extraction, counts, and the retries' reads by key
	if err := src.PingContext(ctx); err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("source database %s: %w", configs.RedactDSN(cfg.Source.DSN.Reveal()), err)
	}
	st, err := openState(ctx, cfg, true)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	api := load.NewClient(cfg.Algoreg.URL, cfg.Algoreg.Token.Reveal(), &http.Client{Timeout: cfg.Algoreg.Timeout})
	env := &pipeline.Env{Source: src, State: st, API: api, Logger: a.logger}
	return env, func() { src.Close(); st.Close() }, nil
}
