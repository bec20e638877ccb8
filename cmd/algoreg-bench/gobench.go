package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// goBenchPackages are the packages whose Go benchmarks cover the hot paths:
// the transform of a row and hashing (transform), the JSON encoding of a
// chunk and a call (load), and the state reads and writes of a chunk
// (state); goBenchPattern picks those benchmarks, leaving out the slow
// ones of reports.
var (
	goBenchPackages = []string{"./transform", "./load", "./state"}
	goBenchPattern  = "^Benchmark(Map|MapLists|HashCustomer|EncodeRequest|Send|Sent|Accept|Checkpoint|RecordHistory|RecordErrors)$"
)

// goBenchCommand returns the go test command that runs them.
func goBenchCommand(benchtime string) []string {
	return append([]string{"go", "test", "-run", "^$", "-bench", goBenchPattern, "-benchmem", "-benchtime", benchtime, "-count", "1"},
		goBenchPackages...)
}

// runGoBenchmarks runs the Go benchmarks and returns their output, which
// benchstat reads as it is.
func runGoBenchmarks(ctx context.Context, s settings) (string, error) {
	args := goBenchCommand(s.benchtime)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = s.repo
	cmd.Env = append(os.Environ(), "TEST_DATABASE_URL="+s.dbURL)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	var keep []string
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "PASS" && !strings.HasPrefix(line, "ok ") {
			keep = append(keep, line)
		}
	}
	text := strings.Join(keep, "\n") + "\n"
	fmt.Fprint(os.Stderr, text)
	return text, nil
}
