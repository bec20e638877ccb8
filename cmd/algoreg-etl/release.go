package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
)

// releaseFlags are the flags of release.
type releaseFlags struct {
	all         bool
	codes, keys []string
}

func (a *app) releaseCmd() *cobra.Command {
	var f releaseFlags
	cmd := &cobra.Command{
		Use:   "release JOB (--all | --code CODE | --key KEY)",
		Short: "Have runs retry a job's stuck rows again",
		Long: "Release stuck rows: rows whose open record errors reached the job's stuck_after " +
			"attempts are no longer retried by runs; once their cause is fixed (a config, the " +
			"tenant's setup), release them and the next run retries them, counting attempts from " +
			"0. Select every stuck row (--all), the rows with an open error of a code (--code), or " +
			"rows by source key (cursor_key) or external id (--key); --code and --key may repeat. " +
			"Only the state database is needed.",
		Example: "algoreg-etl release customers --code invalid_account_type\n" +
			"algoreg-etl release customers --key C-0013 --key C-0021\n" +
			"algoreg-etl release customers --all",
		Args:              wantArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.release(cmd.Context(), args[0], f)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&f.all, "all", false, "release every stuck row of the job")
	fs.StringArrayVar(&f.codes, "code", nil, "release the stuck rows with an open error of this `CODE`")
	fs.StringArrayVar(&f.keys, "key", nil, "release the stuck row with this `KEY`: a source key (cursor_key) or external id")
	cmd.MarkFlagsOneRequired("all", "code", "key")
	cmd.MarkFlagsMutuallyExclusive("all", "code")
	cmd.MarkFlagsMutuallyExclusive("all", "key")
	return exits(cmd, plainExits...)
}

func (a *app) release(ctx context.Context, name string, f releaseFlags) int {
	cfg, code := a.loadConfig(configs.NeedState)
	if cfg == nil {
		return code
	}
	job, err := cfg.Job(name)
	if err != nil {
		return a.badArg("%v", err)
	}
	st, err := openState(ctx, cfg, true)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer st.Close()
	n, err := st.Release(ctx, state.Release{Job: job.Name, StuckAfter: job.StuckAfter, All: f.all, Codes: f.codes, Keys: f.keys})
	if err != nil {
		return a.fail(err, exitFailed)
	}
	fmt.Fprintf(a.stdout, "released %d stuck rows of job %s: the next run retries them\n", n, job.Name)
	return exitOK
}
