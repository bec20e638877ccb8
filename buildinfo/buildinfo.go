// Package buildinfo says which build of algoreg-etl is running: its version,
// the commit it was built from and the Go release that built it. It is the
// one place of these facts: `algoreg-etl version` prints them and the API
// client sends the version in its User-Agent.
//
// The facts come from the build information the Go toolchain stamps into
// every binary (runtime/debug.ReadBuildInfo): a binary built with
// `go build` in a git checkout carries the module's version (a tag, or a
// pseudo-version such as v0.0.0-20260101120000-abcdef123456, with
// "+dirty" when the tree had uncommitted changes) and the commit. Where the
// toolchain cannot see the repository (a git worktree, a source tree copied
// into a container, GOFLAGS=-buildvcs=false) a build sets both at link
// time, as `make build` does:
//
//	go build -ldflags "-X github.com/algoreg/algoreg-etl/buildinfo.version=v1.2.0 -X github.com/algoreg/algoreg-etl/buildinfo.commit=$(git rev-parse HEAD)" ./cmd/algoreg-etl
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit, when set at link time with -ldflags -X, replace the
// module's version and the commit of the build information.
var version, commit string

// Info describes a build.
type Info struct {
	Version   string // e.g. "v1.2.0" or a pseudo-version; "(devel)" when unknown
	Commit    string // the git commit, "" when unknown
	Time      string // the commit's time (RFC 3339), "" when unknown
	Modified  bool   // the tree had uncommitted changes
	GoVersion string // e.g. "go1.26.8"
}

// Read returns the running binary's Info.
func Read() Info {
	info := Info{Version: "(devel)", GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" {
			info.Version = v
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.time":
				info.Time = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if version != "" {
		info.Version = version
	}
	if commit != "" {
		info.Commit = commit
	}
	return info
}

// String gives the Info on one line:
//
//	algoreg-etl v1.2.0 (commit 0123abcd, 2026-01-01T12:00:00Z) go1.26.8 linux/amd64
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "algoreg-etl %s", i.Version)
	if i.Commit != "" {
		commit := i.Commit
		if i.Modified {
			commit += " with uncommitted changes"
		}
		if i.Time != "" {
			commit += ", " + i.Time
		}
		fmt.Fprintf(&b, " (commit %s)", commit)
	}
	fmt.Fprintf(&b, " %s %s/%s", i.GoVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// UserAgent is the User-Agent header of the API client:
// "algoreg-etl/<version>", e.g. "algoreg-etl/v1.2.0", or "algoreg-etl/devel"
// when the version is unknown.
func UserAgent() string {
	v := strings.Trim(Read().Version, "()")
	if v == "" {
		v = "devel"
	}
	return "algoreg-etl/" + v
}
