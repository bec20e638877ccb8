package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/buildinfo"
)

func TestVersion(t *testing.T) {
	code, out, stderr := cli(t, "version")
	if code != exitOK || out != buildinfo.Read().String()+"\n" || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// A binary built as `make build` builds it names its version and commit.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const commit = "0123456789abcdef0123456789abcdef01234567"
	bin := filepath.Join(t.TempDir(), "algoreg-etl")
	build := exec.Command("go", "build", "-o", bin, "-ldflags",
		"-X github.com/algoreg/algoreg-etl/buildinfo.version=v9.8.7 -X github.com/algoreg/algoreg-etl/buildinfo.commit="+commit, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	want := "algoreg-etl v9.8.7 (commit " + commit + ") " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if err != nil || string(out) != want {
		t.Errorf("algoreg-etl version: %v, printed %q, want %q", err, out, want)
	}
}
