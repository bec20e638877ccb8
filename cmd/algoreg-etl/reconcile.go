package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

var reconcileFlags struct {
	dryRun bool
}

var reconcileCmd = &command{
	name: "reconcile",
	summary: "Compare the job's whole query with what the API last accepted: send what is new or\n" +
		"changed whatever its updated_at, and report (or, with on_missing: disable, disable)\n" +
		"what the source no longer has. --dry-run sends nothing and lists what it would do.",
	usage:   "[flags] JOB",
	example: "algoreg-etl reconcile --dry-run customers\nalgoreg-etl reconcile customers",
	flags: func(fs *flag.FlagSet) {
		fs.BoolVar(&reconcileFlags.dryRun, "dry-run", false, "send nothing: count and record, with examples, what would be created, updated and disabled")
	},
	run: func(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
		return a.runPipeline(ctx, fs, args, pipeline.Options{Kind: state.KindReconcile, DryRun: reconcileFlags.dryRun})
	},
}

// printReconcile prints what a reconcile found, with its examples.
func (a *app) printReconcile(res *pipeline.Result, run state.Run) {
	c := res.Counts
	verb := map[bool]string{true: "would", false: "did"}[run.DryRun]
	fmt.Fprintf(a.stdout, "reconcile %d (%s): %d new and %d changed records %s send, %d missing from the source (%d disabled)\n",
		res.RunID, map[bool]string{true: "dry run", false: "sent"}[run.DryRun], c.New, c.Changed, verb, c.Missing, c.Disabled)
	var details struct{ Examples map[string][]string }
	if json.Unmarshal(run.Details, &details) != nil {
		return
	}
	for _, class := range []string{"new", "changed", "missing"} {
		if ex := details.Examples[class]; len(ex) > 0 {
			fmt.Fprintf(a.stdout, "  %s, e.g.: %v\n", class, ex)
		}
	}
}
