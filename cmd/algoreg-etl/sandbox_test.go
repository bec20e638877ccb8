package main

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// readmeBlock returns the first ```bash block of README.md after the line
// marker. The examples test runs ```sh blocks line by line; a ```bash
// block is a script that a test of its own runs whole.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n"+marker+"\n")
	if !ok {
		t.Fatalf("README.md has no line %q", marker)
	}
	_, block, ok := strings.Cut(after, "```bash\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatalf("README.md has no bash block after %q", marker)
	}
	return block
}

// TestREADMESandboxExample runs the README's sandbox example, as written,
// with bash, against a fresh database holding the example seed.
func TestREADMESandboxExample(t *testing.T) {
	script := readmeBlock(t, "<!-- run as written, as one script, by TestREADMESandboxExample (cmd/algoreg-etl) -->")
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README example needs %s: %v", tool, err)
		}
	}
	db := sqltest.NewDB(t)
	sqltest.Seed(t, db)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // the "repository's root" the example runs in
	for _, d := range []string{"configs", "sql"} {
		if err := os.Symlink(filepath.Join(root, d), filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	sh := newShell(t, dir, "ALGOREG_ETL_SOURCE_DSN="+db.URL, "ALGOREG_ETL_STATE_DSN="+db.URL)
	examplePorts(t)
	const addr = "127.0.0.1:18080"
	if ln, err := net.Listen("tcp", addr); err != nil {
		t.Fatalf("the README example listens on %s, which another program holds: %v", addr, err)
	} else {
		ln.Close()
	}

	code, out, stderr := sh.run(t, script)
	if code != 0 {
		t.Fatalf("the example exits %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	t.Logf("output:\n%s", out)

	// curl shows C-0003 as stored.
	if !strings.Contains(out, `"external_id":"C-0003"`) || !strings.Contains(out, `"last_name":"Müller-Lüdenscheid"`) {
		t.Errorf("the output does not show C-0003 as stored:\n%s", out)
	}
	// The log holds the outage's 500s, the poisoned call's 400 and the
	// calls that went through; the last jq line counts them.
	f, err := os.Open(filepath.Join(dir, "calls.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	statuses := map[int]int{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var c algoregtest.Call
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("calls.jsonl: %q: %v", sc.Text(), err)
		}
		statuses[c.Status]++
	}
	if statuses[500] == 0 || statuses[400] == 0 || statuses[200] == 0 {
		t.Errorf("calls by status %v; want 500s (the outage), 400s (the poisoned record) and 200s", statuses)
	}
	for status, n := range statuses {
		if !containsCount(out, n, status) {
			t.Errorf("the output does not count %d calls of status %d:\n%s", n, status, out)
		}
	}

	// The run ended partial, with C-0007 refused by the API.
	var run struct {
		Status string
		Sent   int
	}
	if err := db.Get(&run, `SELECT status, sent FROM algoreg_etl.runs ORDER BY id DESC LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	var refused []string
	if err := db.Select(&refused, `SELECT external_id FROM algoreg_etl.record_errors WHERE stage = 'api' AND code = $1`, algoregtest.CodePoisoned); err != nil {
		t.Fatal(err)
	}
	if run.Status != "partial" || run.Sent == 0 || len(refused) != 1 || refused[0] != "C-0007" {
		t.Errorf("run %+v, refused %v; want a partial run that sent the others and C-0007 refused", run, refused)
	}
}

// containsCount reports whether out holds a line of `uniq -c` counting n
// of status.
func containsCount(out string, n, status int) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == strconv.Itoa(n) && f[1] == strconv.Itoa(status) {
			return true
		}
	}
	return false
}
