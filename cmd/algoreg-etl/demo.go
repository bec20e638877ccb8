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
		Short: "Set up an example database and a sandbox, and run the example job",
		Long: "Create a new example source database on the server of --database (named " +
			"algoreg_etl_demo_ and a random suffix: the demo never touches a database it did " +
			"not create), start a sandbox API, run the job customers of the example config " +
			"(built into the binary) twice, and print what was sent and what failed, then " +
			"the commands that show it again from the state tables. It works from any folder.",
		Example: "algoreg-etl demo",
		Args:    wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			if cmd.Flags().Changed("config") {
				a.code = a.badArg("demo runs the example config built into the binary; --config is not used")
				return
			}
			a.code = a.demo(cmd.Context(), server)
		},
	}
	cmd.Flags().StringVar(&server, "database", "", "`URL` of a database on the PostgreSQL server to use; the demo creates its own database beside it (default $ALGOREG_ETL_DEMO_DATABASE)")
	return exits(cmd, plainExits...)
}

// demoPrefix starts the name of every database the demo creates.
const demoPrefix = "algoreg_etl_demo_"

// programName is how the demo names the binary in the commands it prints:
// as it was started when that works from the current folder, else
// "algoreg-etl".
var programName = "algoreg-etl"

// demoUser is the programmatic user of the demo's sandbox.
const demoUser = "demo@sandbox.test"

func (a *app) demo(ctx context.Context, server string) int {
	if server == "" {
		server = os.Getenv("ALGOREG_ETL_DEMO_DATABASE")
	}
	if server == "" {
		return a.badArg("no database: pass --database or set ALGOREG_ETL_DEMO_DATABASE (make demo finds one)")
	}
	name := demoPrefix + randomHex(4)
	dsn, drop, err := createDemoDatabase(ctx, server, name)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	ok := false
	defer func() {
		if !ok {
			drop() // it is the demo's own, and holds nothing worth keeping
		}
	}()
	dir, err := os.MkdirTemp("", "algoreg-etl-demo-")
	if err != nil {
		return a.fail(err, exitFailed)
	}
	path, err := writeDemoConfig(dir, dsn)
	if err != nil {
		return a.fail(err, exitFailed)
	}

	key := randomHex(16)
	api := algoregtest.NewHandler("")
	api.AddUser(demoUser, key)
	srv := httptest.NewServer(api)
	defer srv.Close()

	// The demo's config names the API and its programmatic user by
	// variables, since the sandbox is gone when the demo ends; the demo
	// supplies them.
	vars := map[string]string{"ALGOREG_URL": srv.URL, "ALGOREG_USERNAME": demoUser, "ALGOREG_PASSWORD": key}
	data, err := os.ReadFile(path)
	if err != nil {
		return a.fail(err, exitFailed)
	}
	cfg, err := configs.Parse(data, path, dir, func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		return a.fail(err, exitFailed)
	}
	job, err := cfg.Job("customers")
	if err != nil {
		return a.fail(err, exitFailed)
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
	ok = true // from here on, the database holds what the demo shows
	fmt.Fprintf(a.stdout, "Example source database %s on %s, sandbox API at %s, config %s.\n\n",
		name, configs.RedactDSN(server), srv.URL, path)

	res, err := pipeline.Run(ctx, env, job, pipeline.Options{})
	if err != nil {
		return a.fail(err, exitCode(res, err, job.ExitOnErrors))
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
		return a.fail(err, exitCode(res, err, job.ExitOnErrors))
	}
	fmt.Fprintln(a.stdout, "\nSecond run, with nothing changed in the source:")
	a.printResult(res)

	customer := "C-0001"
	if len(errs) > 0 && errs[0].ExternalID != "" {
		customer = errs[0].ExternalID
	}
	fmt.Fprintf(a.stdout, "\nThe database %s keeps what the demo did. Look at it again:\n\n", name)
	for _, c := range []string{
		"export ALGOREG_ETL_CONFIG=" + shellQuote(path),
		programName + " report runs",
		programName + " report errors",
		programName + " report customer " + shellQuote(customer),
		programName + " report --html " + shellQuote(filepath.Join(dir, "report.html")),
	} {
		fmt.Fprintf(a.stdout, "  %s\n", c)
	}
	fmt.Fprintf(a.stdout, "\nWhen done, drop it:\n\n  psql %s -c 'DROP DATABASE %s'\n", shellQuote(configs.RedactDSN(server)), name)
	return exitOK
}

// writeDemoConfig writes into dir the example config, its state and source
// in the database at dsn, and the example queries beside it; it returns
// the config's path.
func writeDemoConfig(dir, dsn string) (string, error) {
	text := string(configs.Example())
	// A single-quoted YAML scalar, '$' doubled so that it is not expanded.
	quoted := "'" + strings.ReplaceAll(strings.ReplaceAll(dsn, "'", "''"), "$", "$$") + "'"
	for _, v := range []string{"${ALGOREG_ETL_SOURCE_DSN}", "${ALGOREG_ETL_STATE_DSN}"} {
		if !strings.Contains(text, v) {
			return "", fmt.Errorf("demo: the example config no longer names %s", v)
		}
		text = strings.ReplaceAll(text, v, quoted)
	}
	text = strings.ReplaceAll(text, "../sql/example/", "")
	text = "# Written by algoreg-etl demo: the example config, its databases filled in.\n" +
		"# Runs need ALGOREG_URL, ALGOREG_USERNAME and ALGOREG_PASSWORD; reports need none.\n\n" + text
	for _, f := range []string{"customers.sql", "customers_diff.sql", "relations.sql"} {
		q, err := etlsql.Example(f)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte(q), 0o644); err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// createDemoDatabase creates the database name on the server of serverURL
// with the example schema and seed rows (the state schema goes there too),
// and returns its URL and a function that drops it. On failure it drops
// what it created.
func createDemoDatabase(ctx context.Context, serverURL, name string) (string, func(), error) {
	admin, err := sqlx.Open("postgres", serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("demo: %s: %w", configs.RedactDSN(serverURL), err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", nil, fmt.Errorf("demo: create database %s on %s: %w", name, configs.RedactDSN(serverURL), err)
	}
	drop := func() {
		a, err := sqlx.Open("postgres", serverURL)
		if err != nil {
			return
		}
		defer a.Close()
		a.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)")
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		drop()
		return "", nil, fmt.Errorf("demo: database URL: %w", err)
	}
	u.Path = "/" + name
	db, err := sqlx.Open("postgres", u.String())
	if err != nil {
		drop()
		return "", nil, err
	}
	defer db.Close()
	for _, f := range []string{"schema.sql", "seed.sql"} {
		text, err := etlsql.Example(f)
		if err == nil {
			_, err = db.ExecContext(ctx, text)
		}
		if err != nil {
			db.Close()
			drop()
			return "", nil, fmt.Errorf("demo: example %s: %w", f, err)
		}
	}
	return u.String(), drop, nil
}
