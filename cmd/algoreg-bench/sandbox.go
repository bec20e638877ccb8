package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	etlsql "github.com/algoreg/algoreg-etl/sql"
)

// serveSandbox serves the API's stand-in in fast mode on a loopback port.
func (e *env) serveSandbox() (stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	e.sandbox = algoregtest.NewHandler(e.token)
	e.sandbox.SetFast(true)
	e.apiURL = "http://" + ln.Addr().String()
	// The time spent in calls, summed over the calls: divided by a step's
	// wall time, how many calls were in flight on average.
	timed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		e.sandbox.ServeHTTP(w, r)
		e.callTime.Add(int64(time.Since(start)))
	})
	srv := &http.Server{Handler: timed, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// sandboxMain is the child command "sandbox": the bench's API stand-in,
// in fast mode, until interrupted. The token comes from $ALGOREG_TOKEN.
func sandboxMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("algoreg-bench sandbox", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	lat := fs.Duration("latency", 0, "latency added to every call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token := os.Getenv("ALGOREG_TOKEN")
	if token == "" {
		return errors.New("sandbox: set ALGOREG_TOKEN")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	h := algoregtest.NewHandler(token)
	h.SetFast(true)
	h.SetFaults(algoregtest.Faults{Latency: *lat})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(os.Stderr, "sandbox on http://%s (fast mode, latency %v)\n", ln.Addr(), *lat)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintf(os.Stderr, "sandbox answered %d calls\n", h.Requests())
	return nil
}

// configTemplate is the children's config file. The DSN and the token come
// from the environment; %s are the API's URL and the job's settings.
const configTemplate = `# written by algoreg-bench
source:
  dsn: ${ALGOREG_BENCH_DSN}
algoreg:
  url: %s
  token: ${ALGOREG_TOKEN}
jobs:
  - name: %s
    customers_query: customers.sql
    account_types:
      person: N
      company: F
    relations_query: relations.sql
    relation_types:
      director: 1
      shareholder: 2
      ubo: 3
    chunk_size: %d
    concurrency: %d
    page_size: %d
    safety_lag: 0s
`

// writeConfigs writes the example queries and the two config files to the
// scratch folder.
func (e *env) writeConfigs() error {
	for _, name := range []string{"customers.sql", "customers_diff.sql", "relations.sql"} {
		q, err := etlsql.Example(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(e.tmp, name), []byte(q), 0o600); err != nil {
			return err
		}
		if name == "relations.sql" {
			// The relations of the diff job: the same links, without
			// cursor_updated_at.
			var lines []string
			for _, l := range strings.Split(q, "\n") {
				if !strings.Contains(l, "AS cursor_updated_at") {
					lines = append(lines, l)
				}
			}
			if err := os.WriteFile(filepath.Join(e.tmp, "relations_diff.sql"), []byte(strings.Join(lines, "\n")), 0o600); err != nil {
				return err
			}
		}
	}
	e.config = filepath.Join(e.tmp, "config.yaml")
	e.latConf = filepath.Join(e.tmp, "config-latency.yaml")
	for path, c := range map[string][2]int{e.config: {chunkSize, concurrency}, e.latConf: {latencyChunkSize, latencyConcurrency}} {
		text := fmt.Sprintf(configTemplate, e.apiURL, job, c[0], c[1], pageSize)
		if path == e.config {
			text += fmt.Sprintf(diffJobTemplate, diffJob, chunkSize, concurrency, pageSize)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// diffJobTemplate is the job with incremental: diff added to the main
// config file; %s and %d are its name and settings.
const diffJobTemplate = `  - name: %s
    incremental: diff
    customers_query: customers_diff.sql
    account_types:
      person: N
      company: F
    relations_query: relations_diff.sql
    relation_types:
      director: 1
      shareholder: 2
      ubo: 3
    chunk_size: %d
    concurrency: %d
    page_size: %d
`

// configText returns the main config file, for the report.
func configText() string {
	return fmt.Sprintf(configTemplate, "http://127.0.0.1:<port>", job, chunkSize, concurrency, pageSize) +
		fmt.Sprintf(diffJobTemplate, diffJob, chunkSize, concurrency, pageSize)
}
