package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/state"
)

// pruneFlags are the flags of prune.
type pruneFlags struct {
	job, olderThan string
	dryRun         bool
	batch          int
}

func (a *app) pruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete the record history of runs older than history_days",
		Long: "Delete the audit trail of old runs: their record history, chunk timings, warnings " +
			"and resolved errors, older than each job's history_days (or --older-than). Run rows, " +
			"open errors and what the API last accepted are kept. Deletes in small batches; safe " +
			"while jobs run. Only the state database is needed.",
		Example: "algoreg-etl prune\n" +
			"algoreg-etl prune --job customers --older-than 90d --dry-run",
		Args: wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.prune(cmd.Context(), f)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&f.job, "job", "j", "", "only `JOB` (default: every job of the config)")
	fs.StringVar(&f.olderThan, "older-than", "", "prune runs older than `AGE` (90d, 2160h) instead of each job's history_days")
	fs.BoolVarP(&f.dryRun, "dry-run", "n", false, "count what would be deleted, delete nothing")
	fs.IntVar(&f.batch, "batch", state.DefaultPruneBatch, "`N` rows deleted per statement")
	return exits(cmd, plainExits...)
}

func (a *app) prune(ctx context.Context, f pruneFlags) int {
	var override time.Duration
	if f.olderThan != "" {
		var err error
		if override, err = parseAge(f.olderThan); err != nil {
			return a.badArg("--older-than %v", err)
		}
	}
	if f.batch <= 0 {
		return a.badArg("--batch %d: must be 1 or more", f.batch)
	}
	cfg, code := a.loadConfig(configs.NeedState)
	if cfg == nil {
		return code
	}
	// The jobs and how long each keeps its history. A job no longer in the
	// config can be pruned by name with --older-than.
	type target struct {
		name string
		keep time.Duration // 0: forever
	}
	var targets []target
	for _, j := range cfg.Jobs {
		if f.job == "" || f.job == j.Name {
			targets = append(targets, target{j.Name, time.Duration(j.HistoryDays) * 24 * time.Hour})
		}
	}
	if f.job != "" && len(targets) == 0 {
		if override == 0 {
			_, err := cfg.Job(f.job)
			return a.badArg("%v; to prune the runs of a job no longer configured, give --older-than", err)
		}
		targets = append(targets, target{name: f.job})
	}

	st, err := openState(ctx, cfg, true)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer st.Close()
	verb := "pruned"
	if f.dryRun {
		verb = "would prune"
	}
	now := time.Now()
	for _, t := range targets {
		keep := t.keep
		if override > 0 {
			keep = override
		}
		if keep == 0 {
			fmt.Fprintf(a.stdout, "job %s: history_days is 0, history kept forever\n", t.name)
			continue
		}
		before := now.Add(-keep)
		res, err := st.Prune(ctx, state.PruneOptions{Job: t.name, Before: before, Batch: f.batch, DryRun: f.dryRun})
		if err != nil {
			return a.fail(err, exitFailed)
		}
		fmt.Fprintf(a.stdout, "job %s: %s runs started before %s: %d runs' history (%d records, %d chunks), %d warnings and resolved errors\n",
			t.name, verb, before.UTC().Format(time.RFC3339), res.Runs, res.History, res.Chunks, res.Errors)
	}
	return exitOK
}
