// Package deploy holds no Go code: its tests keep the files of deploy/ true
// to the program. The Dockerfile's build command gives a static binary;
// the systemd unit parses and names real commands and flags; the alert
// rules and the dashboard name only metrics that pipeline/metrics.go
// registers.
package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/algoreg/algoreg-etl/pipeline"
)

var built struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// binary builds algoreg-etl with the Dockerfile's own build command, once
// per test process, and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		env, args := buildCommand(t)
		dir, err := os.MkdirTemp("", "algoreg-etl-deploy-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "algoreg-etl")
		i := slices.Index(args, "-o")
		args[i+1] = built.path
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), env...)
		built.out, built.err = cmd.CombinedOutput()
	})
	if built.err != nil {
		t.Fatalf("the Dockerfile's build command: %v\n%s", built.err, built.out)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

// buildCommand returns the environment and the words of the Dockerfile's
// `RUN ... go build` line, its ${ARG}s replaced by their defaults.
func buildCommand(t *testing.T) (env, args []string) {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	argDefaults := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, def, ok := strings.Cut(strings.TrimPrefix(line, "ARG "), "="); ok && strings.HasPrefix(line, "ARG ") {
			argDefaults[name] = def
		}
		if !strings.HasPrefix(line, "RUN ") || !strings.Contains(line, "go build") {
			continue
		}
		line = os.Expand(line, func(name string) string {
			def, ok := argDefaults[name]
			if !ok {
				t.Fatalf("the build command names ${%s}, which no ARG before it declares", name)
			}
			return def
		})
		words := split(strings.TrimPrefix(line, "RUN "))
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env, words = append(env, words[0]), words[1:]
		}
		if !slices.Contains(words, "-o") {
			t.Fatalf("the build command has no -o: %s", line)
		}
		return env, words
	}
	t.Fatal("the Dockerfile has no RUN line with go build")
	return nil, nil
}

// split splits a command line into words, keeping double-quoted strings
// whole.
func split(s string) []string {
	var words []string
	var b strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case r == ' ' && !quoted:
			if in {
				words, in = append(words, b.String()), false
				b.Reset()
			}
		default:
			b.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, b.String())
	}
	return words
}

// The image's binary says the version the build was given (ARG VERSION,
// here its default), since the build context has no git history.
func TestDockerfileVersion(t *testing.T) {
	out, err := exec.Command(binary(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("algoreg-etl version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "algoreg-etl dev ") {
		t.Errorf("algoreg-etl version printed %q, want the ARG's default, dev", out)
	}
}

// The image's binary is static: no program interpreter, no shared library,
// so it runs on a base without a C library or a shell. The image runs it
// as a non-root user, in exec form, with a command the binary has.
func TestDockerfile(t *testing.T) {
	env, _ := buildCommand(t)
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("the build command does not set CGO_ENABLED=0: %v", env)
	}
	f, err := elf.Open(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a program interpreter: it is dynamically linked")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}

	data, _ := os.ReadFile("Dockerfile")
	text := string(data)
	final := text[strings.LastIndex(text, "\nFROM "):]
	if !regexp.MustCompile(`(?m)^USER nonroot`).MatchString(final) || !strings.Contains(final, "distroless/static") {
		t.Errorf("the final stage is not a distroless static base run as nonroot:\n%s", final)
	}
	if regexp.MustCompile(`(?m)^RUN `).MatchString(final) {
		t.Errorf("the final stage runs a command: it has no shell")
	}
	var entry, cmd []string
	for _, line := range strings.Split(final, "\n") {
		for prefix, dst := range map[string]*[]string{"ENTRYPOINT ": &entry, "CMD ": &cmd} {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				if err := json.Unmarshal([]byte(rest), dst); err != nil {
					t.Errorf("%s is not in exec form (a JSON array): %v", line, err)
				}
			}
		}
	}
	if len(entry) != 1 || entry[0] != "/usr/local/bin/algoreg-etl" || len(cmd) == 0 {
		t.Fatalf("ENTRYPOINT %v, CMD %v", entry, cmd)
	}
	checkCommand(t, "the Dockerfile's CMD", cmd)
}

// checkCommand runs the binary's help of the command args name and checks
// that it has each flag args give.
func checkCommand(t *testing.T, what string, args []string) {
	t.Helper()
	var flags []string
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "--") {
			name, _, _ := strings.Cut(a, "=")
			flags = append(flags, name)
		}
	}
	out, err := exec.Command(binary(t), "help", args[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: algoreg-etl help %s: %v\n%s", what, args[0], err, out)
	}
	for _, f := range flags {
		if !strings.Contains(string(out), f+" ") {
			t.Errorf("%s: algoreg-etl %s has no flag %s", what, args[0], f)
		}
	}
}

// The systemd unit has the sections and keys systemd knows, takes its
// secrets with LoadCredential=, runs real commands, and, where
// systemd-analyze is installed, verifies without a warning.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("systemd", "algoreg-etl.service"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string][]string{
		"Unit":    {"Description", "Wants", "After"},
		"Install": {"WantedBy"},
		"Service": {"Type", "DynamicUser", "User", "Environment", "EnvironmentFile", "LoadCredential", "ExecStartPre", "ExecStart", "Restart", "RestartSec",
			"TimeoutStopSec", "NoNewPrivileges", "CapabilityBoundingSet", "AmbientCapabilities", "ProtectSystem", "ProtectHome",
			"PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
			"ProtectControlGroups", "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset", "RestrictAddressFamilies",
			"RestrictNamespaces", "RestrictRealtime", "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
			"SystemCallArchitectures", "SystemCallFilter", "UMask"},
	}
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if _, ok := known[section]; !ok {
				t.Errorf("line %d: unknown section %s", n, line)
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || !slices.Contains(known[section], k) {
				t.Errorf("line %d: %q is not a key of [%s] this test knows", n, line, section)
				continue
			}
			keys[section+"."+k] = append(keys[section+"."+k], v)
		}
	}
	if len(keys["Service.LoadCredential"]) == 0 {
		t.Error("the unit takes no credential with LoadCredential=")
	}
	for _, k := range []string{"Service.ExecStartPre", "Service.ExecStart"} {
		for _, v := range keys[k] {
			words := strings.Fields(v)
			if words[0] != "/usr/local/bin/algoreg-etl" {
				t.Errorf("%s=%s: not /usr/local/bin/algoreg-etl", k, v)
				continue
			}
			checkCommand(t, k, words[1:])
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked by this test alone")
		return
	}
	// systemd-analyze checks that the commands exist: point them at the
	// binary just built.
	unit := filepath.Join(t.TempDir(), "algoreg-etl.service")
	os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/algoreg-etl"), []byte(binary(t))), 0o644)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// metricNames returns the names of the metrics pipeline.NewMetrics
// registers.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{names: map[string]bool{}}
	if _, err := pipeline.NewMetrics(rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.names) < 10 {
		t.Fatalf("only %d metrics registered: %v", len(rec.names), rec.names)
	}
	return rec.names
}

// recorder is a prometheus.Registerer that keeps the names of what is
// registered.
type recorder struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		if m := fqName.FindStringSubmatch(d.String()); m != nil {
			r.names[m[1]] = true
		}
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

var metricRef = regexp.MustCompile(`\balgoreg_etl_[a-z0-9_]+`)

// checkNames fails for each metric named in expr that is not registered.
func checkNames(t *testing.T, where, expr string, names map[string]bool, used map[string]bool) {
	t.Helper()
	for _, m := range metricRef.FindAllString(expr, -1) {
		base := m
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(m, suffix); ok && names[b] {
				base = b
			}
		}
		if !names[base] {
			t.Errorf("%s names %s, which pipeline/metrics.go does not register", where, m)
		}
		used[base] = true
	}
}

// The alert rules parse, each has a name, an expression and a summary, and
// every metric they name exists.
func TestAlertRules(t *testing.T) {
	names := metricNames(t)
	data, err := os.ReadFile(filepath.Join("prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	used := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("rule %+v lacks a name, an expression, a severity or a summary", r)
			}
			alerts[r.Alert] = true
			checkNames(t, "alert "+r.Alert, r.Expr, names, used)
		}
	}
	for _, want := range []string{"AlgoregEtlNoSuccessfulRun", "AlgoregEtlRunFailed", "AlgoregEtlRecordErrorsRising", "AlgoregEtlWatermarkLag"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// The dashboard is JSON whose every query names metrics that exist, and
// which shows every metric of the process.
func TestDashboard(t *testing.T) {
	names := metricNames(t)
	data, err := os.ReadFile(filepath.Join("grafana", "algoreg-etl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("algoreg-etl.json: %v", err)
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			checkNames(t, "panel "+p.Title, q.Expr, names, used)
		}
	}
	for _, v := range dash.Templating.List {
		checkNames(t, "variable", v.Definition, names, used)
	}
	for n := range names {
		if !used[n] {
			t.Errorf("the dashboard does not show %s", n)
		}
	}
}
