package configs

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// A Need is a part of a config that a command uses. LoadFor checks only
// the parts asked for: a report runs without the API's token, a migration
// without the source's password or the jobs' SQL files.
type Need uint

// The parts of a config. The jobs' names and settings are always read.
const (
	NeedState   Need = 1 << iota // state.dsn and state.schema; source.dsn too when state.dsn is not set
	NeedSource                   // source.dsn
	NeedAPI                      // the algoreg section: url, credentials, timeout, TLS files
	NeedQueries                  // the jobs' SQL files (customers_query, relations_query)

	NeedAll = NeedState | NeedSource | NeedAPI | NeedQueries
)

// Load reads the config file at path, expanding ${NAME} from the process's
// environment, and checks all of it. Query paths are resolved against the
// file's folder.
func Load(path string) (*Config, error) {
	return LoadFor(path, NeedAll)
}

// LoadFor is Load for a command that uses only the parts of the config in
// need: the problems of the other parts, such as an unset ${ALGOREG_TOKEN}
// or a missing SQL file, are not errors, and those parts of the Config may
// be empty.
func LoadFor(path string, need Need) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, filepath.Dir(path), os.LookupEnv, need)
}

// Parse reads a config from data. name is the file's name for messages; dir
// is the folder that relative query paths are resolved against; lookupEnv
// gives the value of an environment variable (os.LookupEnv when nil).
//
// The error, when not nil, joins one *Error per problem found, in line
// order.
func Parse(data []byte, name, dir string, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(data, name, dir, lookupEnv, NeedAll)
}

func parse(data []byte, name, dir string, lookupEnv func(string) (string, bool), need Need) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	p := &problems{file: name}
	root, err := parseYAML(data)
	if err != nil {
		p.errs = append(p.errs, yamlError(name, err))
		return nil, p.err()
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "", "", "want a mapping of keys (source, state, algoreg, jobs) to values, got %s", describeNode(root))
		return nil, p.err()
	}
	expandEnv(root, "", "", lookupEnv, p)
	var f fileConfig
	if err := f.UnmarshalYAML(root); err != nil {
		p.add(0, "", "", "%v", err)
		return nil, p.err()
	}
	c := check(&f, name, dir, p)
	p.keep(func(e *Error) bool { return need&partOf(e, f.State.DSN.set) != 0 })
	if err := p.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// parseYAML returns the root node of data's one YAML document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, errors.New("the file is empty")
		}
		return nil, err
	}
	var next yaml.Node
	if err := dec.Decode(&next); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("line %d: a second YAML document: a config is one document", next.Line)
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into an *Error with a line.
func yamlError(name string, err error) *Error {
	msg := err.Error()
	e := &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

var (
	schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	jobName    = regexp.MustCompile(`^[a-z0-9_-]+$`)
)

// check validates f, fills in the defaults and returns the Config, recording
// every problem in p.
func check(f *fileConfig, name, dir string, p *problems) *Config {
	c := &Config{File: name}
	sectionProblems(p, &f.at, "", "")
	sectionProblems(p, &f.Source.at, "", "source")
	sectionProblems(p, &f.State.at, "", "state")
	sectionProblems(p, &f.Algoreg.at, "", "algoreg")

	// source, state
	c.Source.DSN = checkDSN(p, &f.Source.DSN, "source.dsn", or(f.Source.at.lineOf("dsn"), f.at.lineOf("source")), true)
	c.Source.DSN = checkDSNPassword(p, c.Source.DSN, &f.Source.PasswordFile, "source.password_file", dir)
	c.State.DSN = checkDSN(p, &f.State.DSN, "state.dsn", 0, false)
	switch {
	case c.State.DSN != "":
		c.State.DSN = checkDSNPassword(p, c.State.DSN, &f.State.PasswordFile, "state.password_file", dir)
	case f.State.PasswordFile.given():
		p.add(f.State.PasswordFile.line, "", "state.password_file", "needs state.dsn: without it the state is in the source database, with source.password_file")
	default:
		c.State.DSN = c.Source.DSN
	}
	c.State.Schema = DefaultSchema
	if s := &f.State.Schema; fieldOK(p, s, "", "state.schema") && s.val != "" {
		switch {
		case !schemaName.MatchString(s.val):
			p.add(s.line, "", "state.schema", "%q is not a plain PostgreSQL name: use lower-case letters, digits and '_', not starting with a digit", s.val)
		case len(s.val) > 63:
			p.add(s.line, "", "state.schema", "%q is longer than PostgreSQL's 63 bytes", s.val)
		case strings.HasPrefix(s.val, "pg_"):
			p.add(s.line, "", "state.schema", "%q: names starting with pg_ are reserved by PostgreSQL", s.val)
		default:
			c.State.Schema = s.val
		}
	}

	// algoreg
	a := &f.Algoreg
	c.Algoreg.URL = checkAPIURL(p, &a.URL, or(a.at.lineOf("url"), f.at.lineOf("algoreg")))
	checkAlgoregAuth(p, a, &c.Algoreg, or(f.at.lineOf("algoreg"), a.at.line), dir)
	checkTLSFiles(p, a, &c.Algoreg, dir)
	c.Algoreg.Timeout = DefaultTimeout
	if t := &a.Timeout; fieldOK(p, t, "", "algoreg.timeout") {
		if t.val <= 0 {
			p.add(t.line, "", "algoreg.timeout", "must be more than 0, got %s", time.Duration(t.val))
		} else {
			c.Algoreg.Timeout = time.Duration(t.val)
		}
	}

	// jobs
	if fieldOK(p, &f.Jobs, "", "jobs") && len(f.Jobs.val) > 0 {
		first := map[string]int{}
		for i, e := range f.Jobs.val {
			if !e.at.set { // an item with no value
				p.add(e.at.line, fmt.Sprintf("#%d", i+1), "", "is empty: a job needs at least a name and a customers_query")
				continue
			}
			j := checkJob(p, e, i, dir)
			if j.Name != "" {
				if l, dup := first[j.Name]; dup {
					p.add(e.Name.line, j.Name, "name", "two jobs have this name (the other at line %d)", l)
				} else {
					first[j.Name] = e.Name.line
				}
			}
			c.Jobs = append(c.Jobs, j)
		}
	} else if f.Jobs.bad == "" {
		p.add(or(f.Jobs.line, f.at.lineOf("jobs")), "", "jobs", "at least one job is required")
	}
	return c
}

// partOf returns the part of a config a problem is about; 0 for the jobs'
// settings and the file as a whole, which every part needs. stateDSN tells
// whether state.dsn was given: if not, the state is kept in source.dsn.
func partOf(e *Error, stateDSN bool) Need {
	everything := ^Need(0)
	section, _, _ := strings.Cut(e.Key, ".")
	switch {
	case e.Job != "":
		if e.Key == "customers_query" || e.Key == "relations_query" {
			return NeedQueries
		}
	case section == "algoreg":
		return NeedAPI
	case section == "state" && e.Key != "state":
		return NeedState
	case section == "source" && e.Key != "source" && !stateDSN:
		return NeedSource | NeedState
	case section == "source" && e.Key != "source":
		return NeedSource
	}
	return everything
}

// sectionProblems reports the shape problems of one mapping.
func sectionProblems(p *problems, s *section, job, prefix string) {
	for _, kp := range s.problems {
		p.add(kp.line, job, joinKey(prefix, kp.key), "%s", kp.msg)
	}
}

// fieldOK reports whether f was given and decoded, reporting it when it
// could not be decoded.
func fieldOK[T any](p *problems, f *field[T], job, key string) bool {
	if f.bad != "" {
		p.add(f.line, job, key, "%s", f.bad)
	}
	return f.ok()
}

// or returns the first of lines that is known (not 0): the line of a value,
// else of its key, else of its section.
func or(lines ...int) int {
	for _, l := range lines {
		if l > 0 {
			return l
		}
	}
	return 0
}

// checkDSN checks a database connection string without ever showing it.
// keyLine is where to report it missing.
func checkDSN(p *problems, f *field[DSN], key string, keyLine int, required bool) DSN {
	if !fieldOK(p, f, "", key) || f.val == "" {
		if required && f.bad == "" {
			p.add(or(f.line, keyLine), "", key, "is required")
		}
		return ""
	}
	dsn := string(f.val)
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		switch {
		case err != nil:
			p.add(f.line, "", key, "not a valid URL (value not shown): percent-encode special characters of the password, e.g. '#' as %%23 and '@' as %%40")
			return ""
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			p.add(f.line, "", key, "URL scheme must be postgres or postgresql, got %q", u.Scheme)
			return ""
		}
	} else if _, err := scanConninfo(dsn); err != nil {
		p.add(f.line, "", key, "neither a postgres:// URL nor a valid key=value connection string (value not shown)")
		return ""
	}
	return f.val
}

// checkAPIURL checks algoreg.url and returns it without a trailing '/'. The
// value is never shown: a URL may hold credentials. keyLine is where to
// report it missing.
func checkAPIURL(p *problems, f *field[string], keyLine int) string {
	const key = "algoreg.url"
	if !fieldOK(p, f, "", key) || f.val == "" {
		if f.bad == "" {
			p.add(or(f.line, keyLine), "", key, "is required")
		}
		return ""
	}
	u, err := url.Parse(f.val)
	switch {
	case err != nil:
		p.add(f.line, "", key, "not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		p.add(f.line, "", key, "must start with https:// or http://")
	case u.Host == "":
		p.add(f.line, "", key, "has no host")
	case u.User != nil:
		p.add(f.line, "", key, "must not hold credentials: the token goes in algoreg.token")
	case u.RawQuery != "" || u.ForceQuery:
		p.add(f.line, "", key, "must not have a query ('?...')")
	case u.Fragment != "":
		p.add(f.line, "", key, "must not have a fragment ('#...')")
	default:
		return strings.TrimRight(f.val, "/")
	}
	return ""
}
