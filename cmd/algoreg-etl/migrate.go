package main

import (
	"context"
	"flag"
	"fmt"
)

var migrateCmd = &command{
	name:    "migrate",
	summary: "Create or upgrade the state schema. Safe to run twice, and from two processes at once.",
	usage:   "[flags]",
	example: "algoreg-etl migrate --config /etc/algoreg-etl/config.yaml",
	run:     migrate,
}

func migrate(ctx context.Context, a *app, fs *flag.FlagSet, args []string) int {
	if len(args) != 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, code := a.loadConfig()
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
