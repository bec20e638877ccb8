package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

func (a *app) runCmd() *cobra.Command {
	var f struct {
		verify, offline, full bool
		riskScan              string
	}
	cmd := &cobra.Command{
		Use:   "run JOB",
		Short: "Run a job once: send what changed since its last run",
		Long: "Run one job once: send the rows changed since its last run, then retry the rows of " +
			"the job's open record errors. A job with incremental: diff has no watermark: each run " +
			"reads its queries whole, sends what differs from what the API last accepted, and deals " +
			"with what the source no longer has as on_missing says.\n\n" +
			"--verify has the API validate every record without persisting anything; --offline " +
			"only transforms and validates, without calling the API. Neither moves the watermark " +
			"nor disables anything.",
		Example: "algoreg-etl run customers\n" +
			"algoreg-etl run customers --verify\n" +
			"algoreg-etl run customers --offline --config config.yaml\n" +
			"algoreg-etl run customers-diff",
		Args:              wantArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			opts := pipeline.Options{Kind: state.KindRun, Full: f.full, RiskScan: f.riskScan}
			switch {
			case f.verify && f.offline:
				a.code = a.badArg("--verify and --offline exclude each other")
				return
			case f.verify:
				opts.Kind = state.KindVerify
			case f.offline:
				opts.Kind = state.KindOffline
			}
			a.code = a.runPipeline(cmd.Context(), args[0], opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.verify, "verify", false, "send with verify_input: the API validates and persists nothing; no watermark moves")
	fs.BoolVar(&f.offline, "offline", false, "transform and validate only, without calling the API; no watermark moves")
	fs.BoolVar(&f.full, "full", false, "send every row of the window, even those unchanged since last accepted")
	riskScanFlag(cmd, &f.riskScan, "override the job's risk_scan policy for this run: auto, on or off")
	return exits(cmd, runExits...)
}

// riskScanFlag declares --risk-scan on cmd.
func riskScanFlag(cmd *cobra.Command, p *string, usage string) {
	cmd.Flags().StringVar(p, "risk-scan", "", usage)
	completeValues(cmd, "risk-scan", configs.RiskScanAuto, configs.RiskScanOn, configs.RiskScanOff)
}

func (a *app) backfillCmd() *cobra.Command {
	var f struct {
		since, until, riskScan string
		all, full, noResume    bool
		resume                 int64
	}
	cmd := &cobra.Command{
		Use:   "backfill JOB (--since T [--until T] | --all)",
		Short: "Re-send a range of a job's rows, without moving its watermark",
		Long: "Re-send the rows of a range of updated_at (--since, --until) or every row (--all), " +
			"without moving the job's watermark. An interrupted backfill of the same range is " +
			"resumed where it stopped. Unchanged rows are skipped unless --full. A job with " +
			"incremental: diff has no updated_at to take a range of: its backfill is refused " +
			"(exit 2), and `run JOB --full` sends every row again.",
		Example: "algoreg-etl backfill customers --since 2025-01-01\n" +
			"algoreg-etl backfill customers --all --full",
		Args:              wantArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			opts := pipeline.Options{Kind: state.KindBackfill, Full: f.full, RiskScan: f.riskScan, Resume: f.resume}
			if f.noResume {
				opts.Resume = -1
			}
			if (f.since == "") == !f.all && f.resume == 0 {
				a.code = a.badArg("give --since or --all")
				return
			}
			var err error
			if opts.Since, err = parseTime("--since", f.since); err != nil {
				a.code = a.badArg("%v", err)
				return
			}
			if opts.Until, err = parseTime("--until", f.until); err != nil {
				a.code = a.badArg("%v", err)
				return
			}
			a.code = a.runPipeline(cmd.Context(), args[0], opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.since, "since", "", "first updated_at to send, `T`: YYYY-MM-DD (UTC) or RFC 3339")
	fs.StringVar(&f.until, "until", "", "last updated_at to send, `T` (default: now - safety_lag)")
	fs.BoolVar(&f.all, "all", false, "send every row")
	fs.BoolVar(&f.full, "full", false, "send rows unchanged since last accepted too")
	fs.Int64Var(&f.resume, "resume", 0, "resume the interrupted backfill of run `ID`")
	fs.BoolVar(&f.noResume, "no-resume", false, "start afresh even if a backfill of the same range was interrupted")
	riskScanFlag(cmd, &f.riskScan, "override the job's risk_scan policy: auto, on or off (auto disables the scan for a backfill)")
	cmd.MarkFlagsMutuallyExclusive("all", "since")
	cmd.MarkFlagsMutuallyExclusive("resume", "no-resume")
	return exits(cmd, runExits...)
}

func (a *app) retryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retry JOB",
		Short: "Retry the rows of a job's open record errors",
		Long: "Retry only the rows of the job's open record errors (at most retry_errors_limit), " +
			"read again from the source by key.",
		Example:           "algoreg-etl retry customers",
		Args:              wantArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.runPipeline(cmd.Context(), args[0], pipeline.Options{Kind: state.KindRetry})
		},
	}
	return exits(cmd, runExits...)
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

// runPipeline runs the job named name with opts and reports the result.
func (a *app) runPipeline(ctx context.Context, name string, opts pipeline.Options) int {
	switch opts.RiskScan {
	case "", configs.RiskScanAuto, configs.RiskScanOn, configs.RiskScanOff:
	default:
		return a.badArg("--risk-scan %q: want auto, on or off", opts.RiskScan)
	}
	cfg, code := a.loadConfig(configs.NeedAll)
	if cfg == nil {
		return code
	}
	job, err := cfg.Job(name)
	if err != nil {
		return a.badArg("%v", err)
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
		if res.Kind == state.KindReconcile || (res.Diff && res.Kind != state.KindRetry) {
			if run, err := env.State.Run(ctx, res.RunID); err == nil {
				a.printReconcile(res, run)
			}
		}
	}
	code = exitCode(res, err, job.ExitOnErrors)
	if err != nil {
		return a.fail(err, code)
	}
	return code
}

// exitCode maps the outcome of a run to the CLI's exit code. A run that
// finished partial exits exitRecordErrs as the job's exit_on_errors policy
// says: when it recorded new errors (configs.ExitOnNewErrors), always
// (ExitOnAnyErrors), or never (ExitOnErrorsNever).
func exitCode(res *pipeline.Result, err error, policy string) int {
	switch {
	case errors.Is(err, state.ErrLocked):
		return exitLocked
	case errors.Is(err, pipeline.ErrDiffBackfill):
		return exitUsage
	case res != nil && res.Status == state.StatusInterrupted:
		return exitInterrupted
	case errors.Is(err, load.ErrUnauthorized):
		return exitAuth
	case err != nil:
		return exitFailed
	case res.Status != state.StatusPartial:
		return exitOK
	}
	switch policy {
	case configs.ExitOnErrorsNever:
		return exitOK
	case configs.ExitOnAnyErrors:
		return exitRecordErrs
	}
	if res.Counts.NewErrors > 0 {
		return exitRecordErrs
	}
	return exitOK
}

func (a *app) printResult(res *pipeline.Result) { printSummary(a.stdout, res, 0) }

// loadConfig loads the config named by --config, checking the parts of it
// in need. On failure it reports the error and returns the exit code.
func (a *app) loadConfig(need configs.Need) (*configs.Config, int) {
	if a.configPath == "" {
		return nil, a.badArg("no config file: pass --config or set ALGOREG_ETL_CONFIG")
	}
	cfg, err := configs.LoadFor(a.configPath, need)
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
	api, err := pipeline.NewAPI(cfg.Algoreg)
	if err != nil {
		return nil, nil, err
	}
	// Read-only: the pipeline cannot write to the source.
	src, err := extract.Open(ctx, cfg.Source.DSN.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("source database %s: %w", cfg.Source.DSN, err)
	}
	src.SetMaxIdleConns(8) // the extraction, counts, and the retries' reads by key
	st, err := openState(ctx, cfg, true)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	env := &pipeline.Env{Source: src, State: st, API: api, Logger: a.logger}
	return env, func() { src.Close(); st.Close() }, nil
}
