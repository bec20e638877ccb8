package configs

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file holds the config file as written: before defaults, before
// validation, with the line of every value so that Parse can say where a
// problem is.

// fileConfig is the whole file.
type fileConfig struct {
	at      section
	Source  sourceSection  `yaml:"source"`
	State   stateSection   `yaml:"state"`
	Algoreg algoregSection `yaml:"algoreg"`
	Jobs    field[jobList] `yaml:"jobs"`
}

type sourceSection struct {
	at           section
	DSN          field[DSN]    `yaml:"dsn"`
	PasswordFile field[string] `yaml:"password_file"`
}

type stateSection struct {
	at           section
	DSN          field[DSN]    `yaml:"dsn"`
	PasswordFile field[string] `yaml:"password_file"`
	Schema       field[string] `yaml:"schema"`
}

type algoregSection struct {
	at           section
	URL          field[string]   `yaml:"url"`
	Token        field[Secret]   `yaml:"token"`
	TokenFile    field[string]   `yaml:"token_file"`
	Username     field[string]   `yaml:"username"`
	Password     field[Secret]   `yaml:"password"`
	PasswordFile field[string]   `yaml:"password_file"`
	Auth         field[string]   `yaml:"auth"`
	Timeout      field[duration] `yaml:"timeout"`
	CAFile       field[string]   `yaml:"ca_file"`
	CertFile     field[string]   `yaml:"cert_file"`
	KeyFile      field[string]   `yaml:"key_file"`
}

type jobEntry struct {
	at                section
	Name              field[string]           `yaml:"name"`
	CustomersQuery    field[string]           `yaml:"customers_query"`
	Incremental       field[string]           `yaml:"incremental"`
	RelationsQuery    field[string]           `yaml:"relations_query"`
	RelationTypes     field[mapping[int64]]   `yaml:"relation_types"`
	AccountTypes      field[mapping[string]]  `yaml:"account_types"`
	Countries         field[mapping[string]]  `yaml:"countries"`
	OnInvalidField    field[mapping[string]]  `yaml:"on_invalid_field"`
	ChunkSize         field[int]              `yaml:"chunk_size"`
	Concurrency       field[concurrencyValue] `yaml:"concurrency"`
	MaxConcurrency    field[int]              `yaml:"max_concurrency"`
	RateLimit         field[float64]          `yaml:"rate_limit"`
	PageSize          field[int]              `yaml:"page_size"`
	SafetyLag         field[duration]         `yaml:"safety_lag"`
	Lookback          field[duration]         `yaml:"lookback"`
	CursorTimezone    field[string]           `yaml:"cursor_timezone"`
	RiskScan          field[string]           `yaml:"risk_scan"`
	RiskScanThreshold field[int]              `yaml:"risk_scan_threshold"`
	MaxAttempts       field[int]              `yaml:"max_attempts"`
	MaxRetryTime      field[duration]         `yaml:"max_retry_time"`
	RetryErrorsLimit  field[int]              `yaml:"retry_errors_limit"`
	StuckAfter        field[int]              `yaml:"stuck_after"`
	DrainTimeout      field[duration]         `yaml:"drain_timeout"`
	ExitOnErrors      field[string]           `yaml:"exit_on_errors"`
	HistoryDays       field[int]              `yaml:"history_days"`
	StorePayloads     field[bool]             `yaml:"store_payloads"`
	Schedule          field[string]           `yaml:"schedule"`
	Timezone          field[string]           `yaml:"timezone"`
	ReconcileSchedule field[string]           `yaml:"reconcile_schedule"`
	OnMissing         field[string]           `yaml:"on_missing"`
	MaxDisableFrac    field[float64]          `yaml:"max_disable_fraction"`
}

func (c *fileConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain fileConfig
	return decodeSection(n, &c.at, (*plain)(c))
}

func (s *sourceSection) UnmarshalYAML(n *yaml.Node) error {
	type plain sourceSection
	return decodeSection(n, &s.at, (*plain)(s))
}

func (s *stateSection) UnmarshalYAML(n *yaml.Node) error {
	type plain stateSection
	return decodeSection(n, &s.at, (*plain)(s))
}

func (s *algoregSection) UnmarshalYAML(n *yaml.Node) error {
	type plain algoregSection
	return decodeSection(n, &s.at, (*plain)(s))
}

// jobList is the list of jobs. Unlike a plain slice it keeps an item with no
// value, as an unset jobEntry with its line, so that it can be reported.
type jobList []*jobEntry

func (l *jobList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("want a list, got %s", describeNode(n))
	}
	for _, item := range n.Content {
		e := &jobEntry{}
		if item.ShortTag() == "!!null" {
			e.at.line = item.Line
		} else if err := item.Decode(e); err != nil {
			return err
		}
		*l = append(*l, e)
	}
	return nil
}

func (j *jobEntry) UnmarshalYAML(n *yaml.Node) error {
	type plain jobEntry
	return decodeSection(n, &j.at, (*plain)(j))
}

// A field is one value of the file: its value, where it was, whether it was
// given (a key with no value, or null, counts as not given), and what was
// wrong with it if it could not be decoded.
type field[T any] struct {
	val  T
	line int
	set  bool
	bad  string // why the value could not be decoded; "" when it was
}

func (f *field[T]) UnmarshalYAML(n *yaml.Node) error {
	f.line, f.set = n.Line, true
	if err := decode(n, &f.val); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			f.bad = fmt.Sprintf("want %s, got %s", describeType(reflect.TypeFor[T]()), describeNode(n))
		} else {
			f.bad = err.Error()
		}
	}
	return nil
}

// decode decodes n into v, as n.Decode does, but refuses a number with a
// fraction for a whole number, which n.Decode would truncate.
func decode[T any](n *yaml.Node, v *T) error {
	if k := reflect.TypeFor[T]().Kind(); (k == reflect.Int || k == reflect.Int64) && n.ShortTag() == "!!float" {
		return &yaml.TypeError{Errors: []string{"cannot decode " + n.Value + " into a whole number"}}
	}
	return n.Decode(v)
}

// ok reports whether the value was given and could be decoded.
func (f *field[T]) ok() bool { return f.set && f.bad == "" }

// given reports whether the value was given and is not empty, or could not
// be decoded: `token: ""` is as good as no token.
func (f *field[T]) given() bool {
	return f.set && (f.bad != "" || !reflect.ValueOf(&f.val).Elem().IsZero())
}

// A section records where a mapping of the file was and what was wrong with
// its shape: keys it does not know, keys given twice, or not being a mapping.
type section struct {
	line     int
	set      bool
	keys     map[string]int // the line of each known key, even one with no value
	problems []keyProblem
}

// lineOf returns the line of key in the section, 0 if it is not there.
func (s *section) lineOf(key string) int { return s.keys[key] }

type keyProblem struct {
	line int
	key  string // "" for the mapping itself
	msg  string
}

// decodeSection decodes mapping n into plain, a pointer to a struct type
// without UnmarshalYAML, and records n's shape problems in s. Unknown and
// repeated keys are left out of the decoding so that they are reported once,
// in the package's words.
func decodeSection(n *yaml.Node, s *section, plain any) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	s.line, s.set = n.Line, true
	if n.Kind != yaml.MappingNode {
		s.problems = append(s.problems, keyProblem{line: n.Line, msg: "want a mapping of keys to values, got " + describeNode(n)})
		return nil
	}
	known := keysOf(reflect.TypeOf(plain).Elem())
	kept := *n
	kept.Content = nil
	s.keys = map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			s.problems = append(s.problems, keyProblem{line: k.Line, msg: "a key must be a plain word, got " + describeNode(k)})
		case k.Value == "<<":
			s.problems = append(s.problems, keyProblem{line: k.Line, key: k.Value, msg: "merge keys are not supported: write the keys out"})
		case !contains(known, k.Value):
			s.problems = append(s.problems, keyProblem{line: k.Line, key: k.Value, msg: "unknown key" + suggest(k.Value, known)})
		case s.keys[k.Value] != 0:
			s.problems = append(s.problems, keyProblem{line: k.Line, key: k.Value, msg: fmt.Sprintf("given twice (first at line %d)", s.keys[k.Value])})
		default:
			s.keys[k.Value] = k.Line
			kept.Content = append(kept.Content, k, v)
		}
	}
	if err := kept.Decode(plain); err != nil {
		// Fields record their own problems: this is a shape the package
		// does not foresee, reported as the YAML library words it.
		s.problems = append(s.problems, keyProblem{line: n.Line, msg: err.Error()})
	}
	return nil
}

// keysOf returns the YAML keys of struct type t, in order.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns a hint for unknown key k: the known key it most likely
// misspells, or the list of known keys.
func suggest(k string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 3
	for _, c := range known {
		if d := editDistance(norm(k), norm(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known keys: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// describeType says in words what a value of type t is written as.
func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a single value"
	case reflect.Slice:
		return "a list"
	}
	return t.String()
}

// describeNode says in words what n is. A scalar is quoted: callers only
// describe values that failed to decode into a non-text type, which never
// hold a secret.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// duration is a Go duration string in the file: "30s", "5m", "1h30m".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if v, err := time.ParseDuration(n.Value); err == nil {
			*d = duration(v)
			return nil
		}
	}
	return fmt.Errorf("want a duration such as \"30s\" or \"5m\", got %s", describeNode(n))
}

// concurrencyValue is the concurrency key: a whole number, or "auto".
type concurrencyValue struct {
	n    int
	auto bool
}

func (c *concurrencyValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		c.auto = true
		return nil
	}
	if n.Kind != yaml.ScalarNode || decode(n, &c.n) != nil {
		return fmt.Errorf("want a whole number or \"auto\", got %s", describeNode(n))
	}
	return nil
}

// A mapping is a mapping of the file from words to values of type V, such
// as relation_types, kept in file order with the line of each entry, so that
// a problem with one entry can be reported where it is.
type mapping[V any] []mapEntry[V]

// A mapEntry is one key and value of a mapping.
type mapEntry[V any] struct {
	key  string
	val  V
	line int
	bad  string // what is wrong with the entry's shape or value; "" if nothing
}

func (m *mapping[V]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("want a mapping of keys to values, got %s", describeNode(n))
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		e := mapEntry[V]{key: k.Value, line: k.Line}
		switch {
		case k.Kind != yaml.ScalarNode:
			e.key, e.bad = "", "a key must be a single value, got "+describeNode(k)
		case k.Value == "<<" && k.Style == 0:
			e.bad = "merge keys are not supported: write the keys out"
		case first[k.Value] != 0:
			e.bad = fmt.Sprintf("given twice (first at line %d)", first[k.Value])
		case v.ShortTag() == "!!null":
			first[k.Value] = k.Line
			e.bad = "has no value"
		default:
			first[k.Value] = k.Line
			if err := decode(v, &e.val); err != nil {
				e.bad = fmt.Sprintf("want %s, got %s", describeType(reflect.TypeFor[V]()), describeNode(v))
			}
		}
		*m = append(*m, e)
	}
	return nil
}
