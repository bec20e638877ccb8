package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

var runCmd = &command{
	name:    "run",
	summary: "Run one job once: send the customers changed since its last run.",
	usage:   "[flags] JOB",
	example: "algoreg-etl run --config /etc/algoreg-etl/config.yaml customers",
	run:     runJob,
}

func runJob(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
	if len(args) != 1 {
		fs.Usage()
		return exitUsage
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
	if err := env.State.CheckVersion(ctx); err != nil {
		return a.fail(err, exitFailed)
	}
	res, err := pipeline.Run(ctx, env, job, pipeline.Options{})
	if res != nil {
		a.printResult(res)
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

func (a *app) printResult(res *pipeline.Result) {
	c := res.Counts
	fmt.Fprintf(a.stdout, "run %d %s: extracted %d, sent %d (added %d), skipped %d, invalid %d, rejected %d, warnings %d; watermark %v\n",
		res.RunID, res.Status, c.Extracted, c.Sent, c.Added, c.Skipped, c.Invalid, c.Rejected, c.Warnings, res.Watermark)
}

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

// connect opens the source and state databases and the API client of cfg.
func (a *app) connect(ctx context.Context, cfg *configs.Config) (*pipeline.Env, func(), error) {
	src, err := sqlx.Open("postgres", cfg.Source.DSN.Reveal())
	if err != nil {
		return nil, nil, fmt.Errorf("source database %s: %w", configs.RedactDSN(cfg.Source.DSN.Reveal()), err)
	}
	if err := src.PingContext(ctx); err != nil {
		src.Close()
		return nil, nil, fmt.Errorf("source database %s: %w", configs.RedactDSN(cfg.Source.DSN.Reveal()), err)
	}
	st, err := state.Open(ctx, cfg.State.DSN.Reveal(), cfg.State.Schema)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	api := load.NewClient(cfg.Algoreg.URL, cfg.Algoreg.Token.Reveal(), &http.Client{Timeout: cfg.Algoreg.Timeout})
	env := &pipeline.Env{Source: src, State: st, API: api, Logger: a.logger}
	return env, func() { src.Close(); st.Close() }, nil
}
