package configs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownJob is wrapped by the error of Config.Job when no job has the
// name asked for.
var ErrUnknownJob = errors.New("unknown job")

// An Error is one problem of a config file. Load and Parse return all the
// problems of a file joined with errors.Join; each is an *Error.
//
// Its message reads
//
//	config.yaml:12: job "customers": chunk_size: must be between 1 and 10000, got 0
//
// and never shows a password or the token.
type Error struct {
	File string // the file's name, as given to Load or Parse
	Line int    // 1-based; 0 when the problem has no line, such as a missing key
	Job  string // the job's name, "#3" for the third job when it has none, "" outside the jobs
	Key  string // the key, e.g. "algoreg.url" or, in a job, "chunk_size"; "" for the whole file
	Msg  string // what is wrong
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	switch {
	case strings.HasPrefix(e.Job, "#"):
		fmt.Fprintf(&b, "job %s: ", e.Job)
	case e.Job != "":
		fmt.Fprintf(&b, "job %q: ", e.Job)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// problems collects the Errors of one file.
type problems struct {
	file string
	errs []*Error
	// envLines holds the lines whose ${NAME} could not be expanded: further
	// problems there would only be echoes of that one.
	envLines map[int]bool
}

// add records a problem at line (0 if none) of job ("" if none) and key.
func (p *problems) add(line int, job, key, format string, args ...any) {
	if line > 0 && p.envLines[line] {
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Job: job, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// addEnv records a problem of expanding the value at line.
func (p *problems) addEnv(line int, job, key string, err error) {
	p.add(line, job, key, "%v", err)
	if p.envLines == nil {
		p.envLines = map[int]bool{}
	}
	p.envLines[line] = true
}

// keep drops the problems for which ok is false.
func (p *problems) keep(ok func(*Error) bool) {
	p.errs = slices.DeleteFunc(p.errs, func(e *Error) bool { return !ok(e) })
}

// err returns the problems joined in line order, those without a line
// first, or nil.
func (p *problems) err() error {
	slices.SortStableFunc(p.errs, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}
