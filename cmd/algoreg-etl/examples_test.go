package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// This file runs the examples of the README and of every command's help
// exactly as written: each line through bash, with the binary built from
// this package on PATH, against a test database and a sandbox API.

// binary is the algoreg-etl binary built once per test process, in a
// folder TestMain removes.
var binary struct {
	once sync.Once
	dir  string
	err  error
}

// pkgDir is this package's folder, where the tests start.
var pkgDir string

func TestMain(m *testing.M) {
	pkgDir, _ = os.Getwd()
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// binDir returns the folder that holds the algoreg-etl binary.
func binDir(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		if binary.dir, binary.err = os.MkdirTemp("", "algoreg-etl-bin-"); binary.err != nil {
			return
		}
		gobin, err := exec.LookPath("go")
		if err != nil {
			gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		build := exec.Command(gobin, "build", "-o", filepath.Join(binary.dir, "algoreg-etl"), ".")
		build.Dir = pkgDir
		out, err := build.CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.dir
}

// A shell runs command lines with bash in a folder, with the binary on
// PATH and the given environment on top of the test process's.
type shell struct {
	dir string
	env []string
}

func newShell(t *testing.T, dir string, env ...string) *shell {
	t.Helper()
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "ALGOREG_") || strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=")
	})
	env = append(append(base, "PATH="+binDir(t)+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir), env...)
	return &shell{dir: dir, env: env}
}

// command returns the bash command of script.
func (sh *shell) command(ctx context.Context, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir, cmd.Env = sh.dir, sh.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}

// run runs script to its end and returns its exit code and outputs.
func (sh *shell) run(t *testing.T, script string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := sh.command(ctx, script)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v\n%s%s", script, err, stdout.String(), stderr.String())
	return 0, "", ""
}

// serve starts script, a server, waits until its standard error matches
// ready, then sends it SIGTERM and returns its exit code and outputs.
func (sh *shell) serve(t *testing.T, script string, ready *regexp.Regexp) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout syncBuffer
	cmd := sh.command(ctx, script)
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		stderr.WriteString(sc.Text() + "\n")
		if ready.MatchString(sc.Text()) {
			// SIGTERM to the whole group: bash and the binary.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("%s: %v\n%s%s", script, err, stdout.String(), stderr.String())
	return 0, "", ""
}

// An example is one command line of the README or of a command's help.
type example struct {
	line  string
	where string // "README.md:123" or "algoreg-etl run --help"
}

// invocation finds algoreg-etl run as a command in a line of shell, and
// the words after it.
var invocation = regexp.MustCompile(`(?:^|[\s(;|&])algoreg-etl((?:\s+[^\s|;&)]+)*)`)

// subcommand returns the command an example runs: "run", "report", ...
func (e example) subcommand() string {
	m := invocation.FindStringSubmatch(e.line)
	for _, w := range strings.Fields(m[1]) {
		if !strings.HasPrefix(w, "-") {
			return w
		}
	}
	return ""
}

// readmeExamples returns the lines of the README's shell code blocks that
// run algoreg-etl.
func readmeExamples(t *testing.T) []example {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	lang := "" // the language of the code block we are in; "" outside one
	inBlock := false
	var cont string
	for i, line := range strings.Split(string(text), "\n") {
		if info, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
			inBlock, lang = !inBlock, info
			continue
		}
		if !inBlock || lang != "sh" {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont += strings.TrimSuffix(line, "\\")
			continue
		}
		line, cont = cont+line, ""
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") && invocation.MatchString(l) {
			out = append(out, example{l, fmt.Sprintf("README.md:%d", i+1)})
		}
	}
	return out
}

// A transcript is a command of a README console block and what it prints.
type transcript struct {
	example
	output string // standard output and error, as shown
}

// readmeTranscripts returns the README's console blocks: "$ " and a
// command line, then what it prints.
func readmeTranscripts(t *testing.T) []transcript {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []transcript
	inBlock := false
	for i, line := range strings.Split(string(text), "\n") {
		switch {
		case strings.TrimSpace(line) == "```console":
			inBlock = true
		case strings.HasPrefix(strings.TrimSpace(line), "```"):
			inBlock = false
		case !inBlock:
		case strings.HasPrefix(line, "$ "):
			out = append(out, transcript{example: example{strings.TrimPrefix(line, "$ "), fmt.Sprintf("README.md:%d", i+1)}})
		case len(out) > 0:
			out[len(out)-1].output += line + "\n"
		}
	}
	return out
}

// helpExamples returns the examples of every command's help.
func helpExamples(t *testing.T) []example {
	t.Helper()
	var out []example
	for _, p := range append([][]string{{}}, commandPaths(t)...) {
		_, help, _ := cli(t, append(slices.Clone(p), "--help")...)
		_, section, ok := strings.Cut(help, "\nExamples:\n")
		if !ok {
			t.Errorf("algoreg-etl %s --help has no examples", strings.Join(p, " "))
			continue
		}
		section, _, _ = strings.Cut(section, "\n\n")
		for _, line := range strings.Split(section, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, example{l, "algoreg-etl " + strings.Join(append(p, "--help"), " ")})
			}
		}
	}
	return out
}

// examplePorts holds a lock on the fixed ports that examples name, so that
// two test processes at once take turns.
func examplePorts(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "algoreg-etl-examples.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// portOf returns the port an example listens on (--addr or --listen), or
// "".
var listenFlag = regexp.MustCompile(`--(?:addr|listen)[ =](\S+)`)

// Every example of the README and of the commands' help runs, as written,
// and exits as a user would expect.
func TestExamplesRunAsWritten(t *testing.T) {
	examples := append(readmeExamples(t), helpExamples(t)...)
	if n := len(readmeExamples(t)); n < 10 {
		t.Fatalf("only %d examples in README.md: the test does not find them", n)
	}
	// Run each line once, in an order where what it looks at exists:
	// migrate, then runs, then servers, reports and prune.
	phase := map[string]int{"migrate": 0, "demo": 0, "run": 1, "backfill": 1, "retry": 1, "reconcile": 1, "report": 3, "prune": 4}
	seen := map[string]bool{}
	examples = slices.DeleteFunc(examples, func(e example) bool {
		dup := seen[e.line]
		seen[e.line] = true
		return dup
	})
	sort.SliceStable(examples, func(i, j int) bool {
		pi, ok := phase[examples[i].subcommand()]
		if !ok {
			pi = 2
		}
		pj, ok := phase[examples[j].subcommand()]
		if !ok {
			pj = 2
		}
		return pi < pj
	})

	// The deployment: the example config (as the demo writes it) with a
	// seeded source and state database and a sandbox API.
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	api := algoregtest.NewServer(t)
	dir := t.TempDir()
	config, err := writeDemoConfig(dir, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	server := sqltest.ServerURL(t)
	sh := newShell(t, dir,
		"ALGOREG_ETL_CONFIG="+config,
		"ALGOREG_URL="+api.URL,
		"ALGOREG_USERNAME="+api.Username,
		"ALGOREG_PASSWORD="+api.Key,
		"ALGOREG_TOKEN="+api.Token,
		"ALGOREG_ETL_DEMO_DATABASE="+server)
	examplePorts(t)

	for _, e := range examples {
		sub := e.subcommand()
		var (
			code        int
			out, stderr string
		)
		switch sub {
		case "serve", "sandbox":
			if m := listenFlag.FindStringSubmatch(e.line); m != nil {
				if ln, err := net.Listen("tcp", m[1]); err != nil {
					t.Logf("%s: %s: not run, %s is taken by another program (%v)", e.where, e.line, m[1], err)
					continue
				} else {
					ln.Close()
				}
			}
			ready := regexp.MustCompile(`serving metrics|sandbox listening`)
			code, out, stderr = sh.serve(t, e.line, ready)
			if !ready.MatchString(stderr) {
				t.Errorf("%s: %s: never ready:\n%s%s", e.where, e.line, out, stderr)
			}
		default:
			code, out, stderr = sh.run(t, e.line)
		}
		if sub == "demo" {
			dropDemoDatabases(t, server, out)
		}
		want := []int{exitOK}
		if phase[sub] == 1 {
			// The seed holds invalid rows: runs finish with record errors.
			want = append(want, exitRecordErrs)
		}
		if !slices.Contains(want, code) {
			t.Errorf("%s: %s: exit %d, want %v\n%s%s", e.where, e.line, code, want, out, stderr)
		} else {
			t.Logf("%s: %s: exit %d", e.where, e.line, code)
		}
	}

	// The README's transcripts print what they show.
	trs := readmeTranscripts(t)
	if len(trs) == 0 {
		t.Error("no console block in README.md: the test does not find them")
	}
	for _, tr := range trs {
		_, out, stderr := sh.run(t, tr.line)
		if out+stderr != tr.output {
			t.Errorf("%s: %s prints\n%s%s\nnot, as shown,\n%s", tr.where, tr.line, out, stderr, tr.output)
		}
	}
}

// demoDatabaseName finds, in the output of a demo, the database it made.
var demoDatabaseName = regexp.MustCompile(`\b` + demoPrefix + `[0-9a-f]+\b`)

// dropDemoDatabases drops, when the test ends, the databases that a demo
// run by the test created, as named in its output.
func dropDemoDatabases(t *testing.T, server, out string) []string {
	t.Helper()
	names := demoDatabaseName.FindAllString(out, -1)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		t.Cleanup(func() {
			admin, err := sqlx.Open("postgres", server)
			if err != nil {
				t.Error(err)
				return
			}
			defer admin.Close()
			if _, err := admin.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(name) + " WITH (FORCE)"); err != nil {
				t.Errorf("drop the demo's database: %v", err)
			}
		})
	}
	return names
}
