package configs

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of the optional keys outside the jobs; those of a job's keys are
// next to Job.
const (
	DefaultSchema  = "algoreg_etl"
	DefaultTimeout = 60 * time.Second
)

// Config is a deployment: where to read, where to keep state, where to send,
// and the jobs. Load and Parse return it with every default filled in and
// every value checked.
type Config struct {
	File    string // the file's name, as given to Load or Parse
	Source  Source
	State   State
	Algoreg Algoreg
	Jobs    []Job // in file order; names are unique
}

// Source is the database the customers are read from.
type Source struct {
	DSN DSN // key source.dsn
}

// State is where the pipeline keeps its watermarks, runs and record errors.
type State struct {
	DSN    DSN    // key state.dsn; the source's DSN when not given
	Schema string // key state.schema; DefaultSchema when not given
}

// Algoreg is the tenant the customers are sent to.
type Algoreg struct {
	URL     string        // key algoreg.url: base URL, http or https, without a trailing '/'
	Token   Secret        // key algoreg.token: the API token, sent as "Authorization: Bearer"
	Timeout time.Duration // key algoreg.timeout: the limit of one HTTP request; DefaultTimeout when not given
}

// Job returns the job named name, or an error wrapping ErrUnknownJob that
// lists the known names.
func (c *Config) Job(name string) (*Job, error) {
	for i := range c.Jobs {
		if c.Jobs[i].Name == name {
			return &c.Jobs[i], nil
		}
	}
	return nil, fmt.Errorf("%s: %w %q (known jobs: %s)", c.File, ErrUnknownJob, name, strings.Join(c.jobNames(), ", "))
}

func (c *Config) jobNames() []string {
	names := make([]string, len(c.Jobs))
	for i, j := range c.Jobs {
		names[i] = j.Name
	}
	return names
}

// String summarises the config on one line, with passwords and the token
// hidden.
func (c Config) String() string {
	return fmt.Sprintf("%s: source %s, state %s schema %s, algoreg %s, jobs %s",
		c.File, c.Source.DSN, c.State.DSN, c.State.Schema, c.Algoreg, strings.Join(c.jobNames(), ", "))
}

// LogValue gives the config to log/slog as a group, with passwords and the
// token hidden.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("file", c.File),
		slog.String("source_dsn", c.Source.DSN.String()),
		slog.String("state_dsn", c.State.DSN.String()),
		slog.String("state_schema", c.State.Schema),
		slog.Any("algoreg", c.Algoreg),
		slog.Any("jobs", c.jobNames()),
	)
}

// String gives the URL and timeout, with the token hidden.
func (a Algoreg) String() string {
	return fmt.Sprintf("%s (token %s, timeout %s)", a.URL, a.Token, a.Timeout)
}

// LogValue gives the URL and timeout to log/slog, with the token hidden.
func (a Algoreg) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", a.URL),
		slog.String("token", a.Token.String()),
		slog.Duration("timeout", a.Timeout),
	)
}
