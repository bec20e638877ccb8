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
	// DSN is key source.dsn, with the password of key source.password_file
	// when given.
	DSN DSN
}

// State is where the pipeline keeps its watermarks, runs and record errors.
type State struct {
	// DSN is key state.dsn, with the password of key state.password_file
	// when given; the source's DSN when neither is given.
	DSN    DSN
	Schema string // key state.schema; DefaultSchema when not given
}

// The ways of authenticating with the API: the values of Algoreg.Auth.
const (
	AuthToken  = "token"  // key algoreg.token or token_file: a static bearer token
	AuthOAuth2 = "oauth2" // the OAuth2 password grant with username and password; the default with a username
	AuthBasic  = "basic"  // Basic auth with username and password on every call
)

// Algoreg is the tenant the customers are sent to, and how to reach it.
type Algoreg struct {
	URL string // key algoreg.url: base URL, http or https, without a trailing '/'
	// Auth is how the calls are authenticated: AuthToken when a token is
	// given, else key algoreg.auth, AuthOAuth2 by default.
	Auth string
	// Token is key algoreg.token, or the content of token_file: with
	// AuthToken, sent as "Authorization: Bearer".
	Token Secret
	// Username and Password are keys algoreg.username and password (or the
	// content of password_file): the programmatic user's email and key.
	Username string
	Password Secret
	Timeout  time.Duration // key algoreg.timeout: the limit of one HTTP request; DefaultTimeout when not given
	// CAFile, CertFile and KeyFile are keys algoreg.ca_file, cert_file and
	// key_file, resolved against the config file's folder: a CA trusted
	// besides the system's, and a client certificate; "" when not given.
	CAFile, CertFile, KeyFile string
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

// String gives the URL, the way of authenticating, the user and the
// timeout, with the token and the key hidden.
func (a Algoreg) String() string {
	who := "token " + a.Token.String()
	if a.Auth != AuthToken {
		who = fmt.Sprintf("%s as %q, key %s", a.Auth, a.Username, a.Password)
	}
	return fmt.Sprintf("%s (%s, timeout %s)", a.URL, who, a.Timeout)
}

// LogValue gives the URL, the way of authenticating, the user and the
// timeout to log/slog, with the token and the key hidden.
func (a Algoreg) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("url", a.URL), slog.String("auth", a.Auth)}
	if a.Auth == AuthToken {
		attrs = append(attrs, slog.String("token", a.Token.String()))
	} else {
		attrs = append(attrs, slog.String("username", a.Username), slog.String("password", a.Password.String()))
	}
	attrs = append(attrs, slog.Duration("timeout", a.Timeout))
	return slog.GroupValue(attrs...)
}
