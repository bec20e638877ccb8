package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/buildinfo"
)

func (a *app) versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and the Go release of this build",
		Long: "Print the version of this build, the commit it was built from (with the commit's " +
			"time, and whether the tree had uncommitted changes) and the Go release that built it, " +
			"from the build information Go stamps into the binary. The API client sends the same " +
			"version in its User-Agent, algoreg-etl/VERSION.",
		Example: "algoreg-etl version",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(a.stdout, buildinfo.Read())
			a.code = exitOK
		},
	}
	return exits(cmd, exitOK, exitUsage)
}
