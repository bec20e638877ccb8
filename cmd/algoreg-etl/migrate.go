package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
)

func (a *app) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the state schema",
		Long: "Create or upgrade the state schema (state.schema in state.dsn). Safe to run twice, " +
			"and from two processes at once.",
		Example: "algoreg-etl migrate\nalgoreg-etl migrate --config config.yaml",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.migrate(cmd.Context())
		},
	}
	return exits(cmd, plainExits...)
}

func (a *app) migrate(ctx context.Context) int {
	cfg, code := a.loadConfig(configs.NeedState)
	if cfg == nil {
		return code
	}
	st, err := openState(ctx, cfg, false)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	if len(applied) == 0 {
		fmt.Fprintf(a.stdout, "state schema %s is up to date\n", st.Schema())
	} else {
		fmt.Fprintf(a.stdout, "state schema %s: applied migrations %v\n", st.Schema(), applied)
	}
	return exitOK
}
