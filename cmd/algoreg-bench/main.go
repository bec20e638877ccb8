// Command algoreg-bench measures algoreg-etl on a generated source database
// of a million customers, side by side with the limits of the machine, and
// writes the figures to BENCHMARKS.md. `make bench` runs it.
//
// Usage:
//
//	algoreg-bench [flags]
//
// For each size (a tenth of -n, then -n) it recreates a database holding
// the example source schema, fills it with set-based SQL, and measures:
// the read limit (psql's \copy of the wrapped extraction queries to
// /dev/null), a minimal reference pipeline (sqlx, JSON, HTTP, no state),
// and the real algoreg-etl binary, run as a child process, for a backfill,
// the first run after it, a nightly run after 1% of the rows changed, a
// nightly run with nothing changed, and a backfill against 100 ms of API
// latency. The API is a sandbox (load/algoregtest in fast mode) served by
// this process.
//
// The reference pipeline and the profiled pipeline run as children of
// their own (the hidden commands "reference" and "pipeline"), so that their
// peak memory is measured the same way as algoreg-etl's. The hidden command
// "sandbox" serves the bench's API stand-in alone, for runs by hand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "reference":
		err = referenceMain(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "pipeline":
		err = pipelineMain(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "sandbox":
		err = sandboxMain(ctx, os.Args[2:])
	default:
		err = benchMain(ctx, os.Args[1:])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "algoreg-bench: %v\n", err)
		os.Exit(1)
	}
}

// settings are the bench's flags.
type settings struct {
	n           int           // customers (people) at the large size
	small       int           // customers at the small size; 0: none
	dbURL       string        // a PostgreSQL server where databases may be created
	out         string        // the Markdown file to write; "" for none
	repo        string        // the repository's root, where algoreg-etl is built from
	goBench     bool          // run the Go benchmarks too
	benchtime   string        // -benchtime of the Go benchmarks
	profileDir  string        // write CPU profiles of the large size's backfill here
	keep        bool          // keep the benchmark database afterwards
	stepTimeout time.Duration // the longest a child may run
}

func benchMain(ctx context.Context, args []string) error {
	var s settings
	fs := flag.NewFlagSet("algoreg-bench", flag.ContinueOnError)
	defN := 1_000_000
	if v := os.Getenv("BENCH_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			return fmt.Errorf("BENCH_N=%q: want a whole number of at least 1000", v)
		}
		defN = n
	}
	fs.IntVar(&s.n, "n", defN, "customers (people) at the large size; companies add 5% (default $BENCH_N or 1000000)")
	fs.IntVar(&s.small, "small", -1, "customers at the small size, for the memory comparison; 0 for none (default n/10)")
	fs.StringVar(&s.dbURL, "database-url", os.Getenv("TEST_DATABASE_URL"), "PostgreSQL server where the bench may create a database (default $TEST_DATABASE_URL)")
	fs.StringVar(&s.out, "o", "BENCHMARKS.md", "Markdown file to write the figures to; empty for none")
	fs.StringVar(&s.repo, "repo", ".", "root of the repository, where algoreg-etl is built from")
	fs.BoolVar(&s.goBench, "gobench", true, "run the Go benchmarks of the hot paths too")
	fs.StringVar(&s.benchtime, "benchtime", "1s", "-benchtime of the Go benchmarks")
	fs.StringVar(&s.profileDir, "profile", "", "folder to write CPU profiles of the pipeline's and the reference's backfill at the large size to")
	fs.BoolVar(&s.keep, "keep", false, "keep the benchmark database after the run")
	fs.DurationVar(&s.stepTimeout, "step-timeout", 5*time.Minute, "interrupt a step (a child process) that runs longer, and go on")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if s.n < 1000 {
		return fmt.Errorf("-n %d: want at least 1000", s.n)
	}
	if s.small < 0 {
		s.small = s.n / 10
	}
	if s.small != 0 && s.small < 1000 {
		s.small = 0
	}
	if s.dbURL == "" {
		return errors.New("no PostgreSQL: set TEST_DATABASE_URL or pass -database-url (make bench finds one with .ci/postgres)")
	}
	return bench(ctx, s)
}
