package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	etlsql "github.com/algoreg/algoreg-etl/sql"
)

// wrapped returns the example query name ("customers.sql" or
// "relations.sql") wrapped as the pipeline wraps it, but for the whole
// window at once: every row up to now, in (cursor_updated_at, cursor_key)
// order, without paging. Comments are dropped and lines joined, so that the
// text fits on psql's \copy line.
func wrapped(name string) (string, error) {
	q, err := etlsql.Example(name)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range strings.Split(q, "\n") {
		line, _, _ = strings.Cut(line, "--") // the example queries hold no "--" in strings
		if line = strings.TrimSpace(line); line != "" {
			b.WriteString(line)
			b.WriteByte(' ')
		}
	}
	body := strings.TrimRight(strings.TrimSpace(b.String()), ";")
	return "SELECT * FROM (" + body + ") AS src WHERE src.cursor_updated_at <= now()" +
		" ORDER BY src.cursor_updated_at, src.cursor_key", nil
}

var copied = regexp.MustCompile(`(?m)^COPY (\d+)$`)

// readLimit measures how fast one PostgreSQL backend delivers the rows of
// both queries to a client that does nothing with them: psql's \copy to
// /dev/null, one query after the other.
func (e *env) readLimit(ctx context.Context) (measure, error) {
	m := measure{Step: stepCopy, Sent: -1, Requests: -1}
	t := startTimer(benchDatabase)
	var cpu int64
	for _, name := range []string{"customers.sql", "relations.sql"} {
		q, err := wrapped(name)
		if err != nil {
			return m, err
		}
		cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-d", e.dbURL,
			"-c", `\copy (`+q+`) TO '/dev/null'`)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return m, fmt.Errorf("psql \\copy of %s: %w: %s", name, err, out)
		}
		sub := copied.FindSubmatch(out)
		if sub == nil {
			return m, fmt.Errorf("psql \\copy of %s: no row count in %q", name, out)
		}
		n, _ := strconv.ParseInt(string(sub[1]), 10, 64)
		m.Rows += n
		cpu += cmd.ProcessState.UserTime().Nanoseconds() + cmd.ProcessState.SystemTime().Nanoseconds()
	}
	t.stop(&m)
	m.CPU = time.Duration(cpu)
	return m, nil
}
