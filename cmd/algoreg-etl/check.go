package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/preflight"
)

func (a *app) checkCmd() *cobra.Command {
	var (
		sample int
		strict bool
	)
	cmd := &cobra.Command{
		Use:   "check [JOB]",
		Short: "Check a deployment before its first run",
		Long: "Check the config and, for every job (or JOB): that the source and state databases " +
			"answer (with their versions), the source connection is read-only and its role cannot " +
			"write to the tables the queries read, the state schema is at this binary's migration, " +
			"the API accepts the credentials, each query compiles and selects columns of usable " +
			"types, and its pages read an index on the cursor columns (else the CREATE INDEX to " +
			"add). --sample N sends the first N rows of each query, transformed, with " +
			"verify_input: true, and prints what the API says of each; nothing is stored.\n\n" +
			"One line per check: ok, warn (runs work, but fix it) or FAIL (a run would fail), " +
			"with what to do. The exit code is 0 when nothing failed (warnings allowed; with " +
			"--strict, 0 only when everything is ok), 1 when a check failed, 2 when the config " +
			"is not valid.",
		Example:           "algoreg-etl check\nalgoreg-etl check customers --sample 5",
		Args:              maxArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			if sample < 0 {
				a.code = a.badArg("--sample %d: must be 0 or more", sample)
				return
			}
			a.code = a.check(cmd.Context(), args, sample, strict)
		},
	}
	cmd.Flags().IntVar(&sample, "sample", 0, "send the first N rows of each query with verify_input: true and print what the API says")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 on a warning too")
	return exits(cmd, plainExits...)
}

// maxArgs accepts the optional arguments names, and no more.
func maxArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > len(names) {
			return usageErrorf("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

func (a *app) check(ctx context.Context, args []string, sample int, strict bool) int {
	if a.configPath == "" {
		return a.badArg("no config file: pass --config or set ALGOREG_ETL_CONFIG")
	}
	print := func(r preflight.Result) { fmt.Fprintln(a.stdout, r) }
	cfg, r := preflight.LoadConfig(a.configPath)
	print(r)
	if cfg == nil {
		return exitUsage
	}
	api, err := pipeline.NewAPI(cfg.Algoreg)
	if err != nil {
		print(preflight.Result{Status: preflight.Fail, Subject: "api", Message: err.Error()})
		return exitFailed
	}
	opts := preflight.Options{API: api, Sample: sample, Report: print}
	if len(args) == 1 {
		job, err := cfg.Job(args[0])
		if err != nil {
			return a.fail(err, exitUsage)
		}
		opts.Jobs = []*configs.Job{job}
	}
	results := append([]preflight.Result{r}, preflight.Check(ctx, cfg, opts)...)
	counts := map[preflight.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	fmt.Fprintf(a.stdout, "%d ok, %d warn, %d FAIL\n", counts[preflight.OK], counts[preflight.Warn], counts[preflight.Fail])
	switch worst := preflight.Worst(results); {
	case worst == preflight.Fail, worst == preflight.Warn && strict:
		return exitFailed
	}
	return exitOK
}
