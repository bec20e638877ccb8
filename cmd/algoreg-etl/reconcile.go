package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

func (a *app) reconcileCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "reconcile JOB",
		Short: "Compare a job's whole query with what the API accepted",
		Long: "Compare the job's whole query with what the API last accepted: send what is new or " +
			"changed whatever its updated_at, and report (or, with on_missing: disable, disable) " +
			"what the source no longer has. --dry-run sends nothing and lists what it would do.",
		Example:           "algoreg-etl reconcile customers --dry-run\nalgoreg-etl reconcile customers",
		Args:              wantArgs("JOB"),
		ValidArgsFunction: a.completeJob,
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.runPipeline(cmd.Context(), args[0], pipeline.Options{Kind: state.KindReconcile, DryRun: dryRun})
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "send nothing: count and record, with examples, what would be created, updated and disabled")
	return exits(cmd, runExits...)
}

// printReconcile prints what a reconcile, or a run of a job with
// incremental: diff, found, with its examples.
func (a *app) printReconcile(res *pipeline.Result, run state.Run) {
	c := res.Counts
	if run.DryRun {
		fmt.Fprintf(a.stdout, "%s %d (dry run): %d new and %d changed records would be sent, %d missing from the source (%d would be disabled)\n",
			res.Kind, res.RunID, c.New, c.Changed, c.Missing, c.Disabled)
	} else {
		fmt.Fprintf(a.stdout, "%s %d: %d new and %d changed records sent, %d missing from the source (%d disabled)\n",
			res.Kind, res.RunID, c.New, c.Changed, c.Missing, c.Disabled)
	}
	var details struct{ Examples map[string][]string }
	if json.Unmarshal(run.Details, &details) != nil {
		return
	}
	for _, class := range []string{"new", "changed", "missing", "disabled"} {
		if ex := details.Examples[class]; len(ex) > 0 {
			fmt.Fprintf(a.stdout, "  %s, e.g.: %v\n", class, ex)
		}
	}
}
