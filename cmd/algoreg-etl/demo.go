package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	etlsql "github.com/algoreg/algoreg-etl/sql"
)

func (a *app) demoCmd() *cobra.Command {
	var server string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Set up the example database and a sandbox, and run the example job",
		Long: "Create the example source database (dropping an earlier demo's), start a sandbox API, " +
			"run the example job twice, and print what was sent and what failed.",
		Example: "algoreg-etl demo",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.demo(cmd.Context(), server)
		},
	}
	cmd.Flags().StringVar(&server, "database", "", "URL of a PostgreSQL server database to connect to; the demo creates its own database beside it (default $ALGOREG_ETL_DEMO_DATABASE)")
	return exits(cmd, plainExits...)
}

// demoDatabase is the database the demo creates, on the server of --database.
const demoDatabase = "algoreg_etl_demo"

func (a *app) demo(ctx context.Context, server string) int {
	if server == "" {
		server = os.Getenv("ALGOREG_ETL_DEMO_DATABASE")
	}
	if server == "" {
		return a.badArg("no database: pass --database or set ALGOREG_ETL_DEMO_DATABASE (make demo finds one)")
	}
	if a.configPath == "" {
		a.configPath = filepath.Join("configs", "example.yaml")
	}
	dsn, err := createDemoDatabase(ctx, server)
	if err != nil {
		return a.fail(err, exitFailed)
	}

	token := make([]byte, 16)
	rand.Read(token)
	api := algoregtest.NewHandler(hex.EncodeToString(token))
	srv := httptest.NewServer(api)
	defer srv.Close()

	// The example config reads its connections from the environment; the
	// demo supplies them.
	vars := map[string]string{
		"ALGOREG_ETL_SOURCE_DSN": dsn,
		"ALGOREG_ETL_STATE_DSN":  dsn,
		"ALGOREG_URL":            srv.URL,
		"ALGOREG_TOKEN":          hex.EncodeToString(token),
	}
	data, err := os.ReadFile(a.configPath)
	if err != nil {
		return a.fail(err, exitUsage)
	}
	cfg, err := configs.Parse(data, a.configPath, filepath.Dir(a.configPath), func(k string) (string, bool) {
		if v, ok := vars[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	})
	if err != nil {
		return a.fail(err, exitUsage)
	}
	job, err := cfg.Job("customers")
	if err != nil {
		return a.fail(err, exitUsage)
	}
	st, err := openState(ctx, cfg, false)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	_, err = st.Migrate(ctx)
	st.Close()
	if err != nil {
		return a.fail(err, exitFailed)
	}
	env, closeEnv, err := a.connect(ctx, cfg)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	defer closeEnv()
	fmt.Fprintf(a.stdout, "Example source database %s on %s, sandbox API at %s.\n\n", demoDatabase, configs.RedactDSN(server), srv.URL)

	res, err := pipeline.Run(ctx, env, job, pipeline.Options{})
	if err != nil {
		return a.fail(err, exitCode(res, err))
	}
	fmt.Fprintln(a.stdout, "First run:")
	a.printResult(res)

	fmt.Fprintf(a.stdout, "\nCustomers the sandbox holds (%d):\n", len(api.Customers()))
	tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXTERNAL_ID\tTYPE\tNAME\tBORN\tNATIONALITIES\tDISABLED")
	custs := api.Customers()
	ids := make([]string, 0, len(custs))
	for id := range custs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		c := custs[id]
		name := strings.Join(strings.Fields(strings.Join([]string{c.FirstName, c.MiddleName, c.LastName, c.CompanyName}, " ")), " ")
		disabled := c.Disabled != nil && *c.Disabled
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", id, c.AccountType, name, c.DateOfBirth, strings.Join(c.NationalityCodes, ","), disabled)
	}
	tw.Flush()

	rels := api.Relations()
	fmt.Fprintf(a.stdout, "\nRelations the sandbox holds (%d):\n", len(rels))
	tw = tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RELATION\tPARENT\tCHILD\tTYPE\tDISABLED\tFIELDS")
	relIDs := make([]string, 0, len(rels))
	for id := range rels {
		relIDs = append(relIDs, id)
	}
	sort.Strings(relIDs)
	for _, id := range relIDs {
		r := rels[id]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%v\t%s\n", id, r.ParentCustomerExternalID, r.ChildCustomerExternalID, r.RelationType, r.Disabled != nil && *r.Disabled, r.Fields)
	}
	tw.Flush()

	errs, err := env.State.RecordErrorsOfRun(ctx, res.RunID)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	fmt.Fprintf(a.stdout, "\nRecord errors of run %d (%d), from the state table %s.record_errors:\n", res.RunID, len(errs), env.State.Schema())
	tw = tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tSTAGE\tEXTERNAL_ID\tFIELD\tCODE\tRESOLVED\tMESSAGE")
	for _, e := range errs {
		resolved := "open"
		if e.ResolvedAt != nil {
			resolved = fmt.Sprintf("by run %d", e.ResolvedRunID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Severity, e.Stage, e.ExternalID, e.Field, e.Code, resolved, e.Message)
	}
	tw.Flush()

	res, err = pipeline.Run(ctx, env, job, pipeline.Options{})
	if err != nil {
		return a.fail(err, exitCode(res, err))
	}
	fmt.Fprintln(a.stdout, "\nSecond run, with nothing changed in the source:")
	a.printResult(res)
	return exitOK
}

// createDemoDatabase creates the demo's source database (holding the state
// schema too) on the server of serverURL, with the example schema and seed
// rows, and returns its URL.
func createDemoDatabase(ctx context.Context, serverURL string) (string, error) {
	admin, err := sqlx.Open("postgres", serverURL)
	if err != nil {
		return "", fmt.Errorf("demo: %s: %w", configs.RedactDSN(serverURL), err)
	}
	defer admin.Close()
	name := pq.QuoteIdentifier(demoDatabase)
	for _, stmt := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			return "", fmt.Errorf("demo: %s: %w", stmt, err)
		}
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", fmt.Errorf("demo: database URL: %w", err)
	}
	u.Path = "/" + demoDatabase
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		return "", err
	}
	defer db.Close()
	for _, f := range []string{"schema.sql", "seed.sql"} {
		text, err := etlsql.Example(f)
		if err != nil {
			return "", err
		}
		if _, err := db.ExecContext(ctx, text); err != nil {
			return "", fmt.Errorf("demo: example %s: %w", f, err)
		}
	}
	return u.String(), nil
}
