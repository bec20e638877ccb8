// Package preflight checks a deployment before its first night: that the
// config is valid, the source and state databases answer, each job's
// queries compile and select usable columns, their pages read an index on
// the cursor columns, the state schema is current, the source role can only
// read, and the API accepts the credentials. Optionally it sends the first
// rows of each query with verify_input, to show what the API would say.
//
// Each check gives one [Result]: ok, warn (the pipeline works, but something
// should be fixed) or FAIL (a run would fail), with what to do.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/extract"
	"github.com/algoreg/algoreg-etl/load"
	etlsql "github.com/algoreg/algoreg-etl/sql"
	"github.com/algoreg/algoreg-etl/state"
)

// Status is the verdict of one check.
type Status int

// The verdicts, from best to worst.
const (
	OK   Status = iota // as it should be
	Warn               // runs work, but something should be fixed
	Fail               // a run would fail
)

// String returns "ok", "warn" or "FAIL".
func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	}
	return "FAIL"
}

// Result is the verdict of one check.
type Result struct {
	Status Status
	// Subject names what was checked: "config", "source", "state", "api",
	// or a job's part, as "customers: customers_query".
	Subject string
	// Message says what was found and, for a warning or a failure, what to
	// do.
	Message string
}

// String formats r as one line: status, subject, message.
func (r Result) String() string {
	return fmt.Sprintf("%-4s  %s: %s", r.Status, r.Subject, r.Message)
}

// Options tune a Check.
type Options struct {
	// Jobs are the jobs to check; nil checks every job of the config.
	Jobs []*configs.Job
	// API is the client of the config's tenant. Nil skips the API checks.
	API *load.Client
	// Sample, when more than 0, sends the first Sample rows of each query,
	// transformed, with verify_input: true, and reports what the API says
	// of each record.
	Sample int
	// LargeTable is the number of rows above which reading a table whole
	// for each page is a warning. Zero means DefaultLargeTable.
	LargeTable int64
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Report, if not nil, is called with each result as soon as it is
	// known, so that a slow check does not hold back the lines before it.
	Report func(Result)
}

// DefaultLargeTable is the default of Options.LargeTable.
const DefaultLargeTable = 10000

// LoadConfig loads the config file at path and returns it with the result of
// the "config" check; the config is nil when the file is not valid.
func LoadConfig(path string) (*configs.Config, Result) {
	cfg, err := configs.Load(path)
	if err != nil {
		return nil, Result{Fail, "config", fmt.Sprintf("%v", err)}
	}
	jobs := "jobs"
	if len(cfg.Jobs) == 1 {
		jobs = "job"
	}
	return cfg, Result{OK, "config", fmt.Sprintf("%s is valid, %d %s", path, len(cfg.Jobs), jobs)}
}

// Check runs the checks of cfg and returns their results, in the order
// they ran. A check that cannot run because an earlier one failed (the
// queries, when the source does not answer) is not reported.
func Check(ctx context.Context, cfg *configs.Config, opts Options) []Result {
	c := &checker{cfg: cfg, opts: opts}
	if c.opts.LargeTable <= 0 {
		c.opts.LargeTable = DefaultLargeTable
	}
	if c.opts.Now == nil {
		c.opts.Now = time.Now
	}
	if c.opts.Jobs == nil {
		for i := range cfg.Jobs {
			c.opts.Jobs = append(c.opts.Jobs, &cfg.Jobs[i])
		}
	}
	c.run(ctx)
	return c.results
}

// Worst returns the worst status of results; OK when there are none.
func Worst(results []Result) Status {
	w := OK
	for _, r := range results {
		w = max(w, r.Status)
	}
	return w
}

// checker is the state of one Check.
type checker struct {
	cfg     *configs.Config
	opts    Options
	results []Result
}

func (c *checker) report(s Status, subject, format string, args ...any) {
	r := Result{Status: s, Subject: subject, Message: fmt.Sprintf(format, args...)}
	c.results = append(c.results, r)
	if c.opts.Report != nil {
		c.opts.Report(r)
	}
}

func (c *checker) run(ctx context.Context) {
	src := c.source(ctx)
	if src != nil {
		defer src.Close()
	}
	c.state(ctx)
	if c.opts.API != nil {
		c.api(ctx)
	}
	if src == nil {
		return
	}
	for _, job := range c.opts.Jobs {
		for _, s := range streamsOf(job, c.opts.Now) {
			c.stream(ctx, src, job, s)
		}
	}
}

// source checks that the source answers, read-only, and under which role.
func (c *checker) source(ctx context.Context) *sqlx.DB {
	dsn := c.cfg.Source.DSN
	src, err := extract.Open(ctx, dsn.Reveal())
	if err != nil {
		c.report(Fail, "source", "cannot connect to %s: %v; check source.dsn and that the server lets this host in", dsn, err)
		return nil
	}
	var info struct {
		Version  string `db:"version"`
		Role     string `db:"role"`
		ReadOnly string `db:"read_only"`
		Super    bool   `db:"super"`
	}
	err = src.GetContext(ctx, &info, `SELECT current_setting('server_version') AS version, current_user AS role,
		current_setting('`+extract.ReadOnlySetting+`') AS read_only,
		(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS super`)
	if err != nil {
		c.report(Fail, "source", "%s answers, but: %v", dsn, err)
		src.Close()
		return nil
	}
	if info.ReadOnly != "on" {
		c.report(Fail, "source", "PostgreSQL %s at %s: the connection is not read-only (%s = %s)", info.Version, dsn, extract.ReadOnlySetting, info.ReadOnly)
	} else {
		c.report(OK, "source", "PostgreSQL %s at %s, role %s, read-only", info.Version, dsn, info.Role)
	}
	if info.Super {
		c.report(Warn, "source", "role %s is a superuser: it could write to the source and read every table; "+
			"connect as a role with SELECT on the mapped tables only (README, \"Least privilege\")", info.Role)
	}
	return src
}

// state checks that the state database answers and that its schema is at
// the binary's migration.
func (c *checker) state(ctx context.Context) {
	dsn := c.cfg.State.DSN
	st, err := state.Open(ctx, dsn.Reveal(), c.cfg.State.Schema)
	if err != nil {
		c.report(Fail, "state", "%v; check state.dsn", err)
		return
	}
	defer st.Close()
	var version string
	if err := st.DB().GetContext(ctx, &version, `SELECT current_setting('server_version')`); err != nil {
		c.report(Fail, "state", "%s answers, but: %v", dsn, err)
		return
	}
	c.report(OK, "state", "PostgreSQL %s at %s", version, dsn)
	var ve *state.VersionError
	switch err := st.CheckVersion(ctx); {
	case errors.As(err, &ve):
		c.report(Fail, "state schema", "%v", err)
	case err != nil:
		c.report(Fail, "state schema", "%v", err)
	default:
		ms, err := etlsql.Migrations()
		if err != nil {
			c.report(Fail, "state schema", "%v", err)
			return
		}
		c.report(OK, "state schema", "%s is at migration %d, as this binary needs", st.Schema(), ms[len(ms)-1].Version)
	}
}

// api checks that the API answers and accepts the credentials.
func (c *checker) api(ctx context.Context) {
	r := checkAPI(ctx, c.opts.API)
	c.report(r.Status, r.Subject, "%s", r.Message)
}

// probe is the customer of the API check's call: made up, and sent with
// verify_input, so that nothing is stored.
var probe = load.Customer{ExternalID: "algoreg-etl-check", AccountType: load.AccountIndividual, LastName: "Check"}

// checkAPI proves the credentials without changing anything: a login (one
// token call, with the OAuth2 password grant; none otherwise), then a Save
// customers call with verify_input and one made-up customer. A refused
// login is made once, never again by the same client. It is the one place
// that knows how credentials are proven.
func checkAPI(ctx context.Context, api *load.Client) Result {
	const subject = "api"
	keys := "algoreg.token"
	if user := api.Auth().Username(); user != "" {
		keys = fmt.Sprintf("algoreg.username (%s) and its key (algoreg.password or password_file)", user)
	}
	err := api.Login(ctx)
	if err == nil {
		_, err = api.Save(ctx, &load.SaveRequest{Customers: []load.Customer{probe}, VerifyInput: true, DisableRiskScan: true})
	}
	var apiErr *load.APIError
	switch {
	case err == nil:
		return Result{OK, subject, fmt.Sprintf("%s accepted the credentials (a verify_input call, which stores nothing)", api.Endpoint())}
	case errors.Is(err, load.ErrUnauthorized):
		msg := err.Error()
		if errors.As(err, &apiErr) {
			msg = fmt.Sprintf("%d %s", apiErr.StatusCode, apiErr.Message())
		}
		return Result{Fail, subject, fmt.Sprintf("%s refused the credentials (%s): check %s", api.Endpoint(), msg, keys)}
	case errors.As(err, &apiErr):
		switch s := apiErr.StatusCode; {
		case s == 401 || s == 403:
			return Result{Fail, subject, fmt.Sprintf("%s refused the credentials (%s): check %s", api.Endpoint(), apiErr.Message(), keys)}
		case s == 404 || s == 405:
			return Result{Fail, subject, fmt.Sprintf("%s answered %d (%s): check algoreg.url, the tenant's API base URL", api.Endpoint(), s, apiErr.Message())}
		case s >= 400 && s < 500 && s != 408 && s != 429:
			// The call passed authentication; only its made-up customer
			// was refused.
			return Result{OK, subject, fmt.Sprintf("%s accepted the credentials (it refused the verify_input call's made-up customer: %d %s)", api.Endpoint(), s, apiErr.Message())}
		}
		return Result{Fail, subject, fmt.Sprintf("%s answered %d (%s): the API is not serving now; try again later", api.Endpoint(), apiErr.StatusCode, apiErr.Message())}
	}
	return Result{Fail, subject, fmt.Sprintf("cannot reach the API: %v; check algoreg.url and the network (HTTPS_PROXY, ca_file)", err)}
}
