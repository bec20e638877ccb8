package buildinfo_test

import (
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/buildinfo"
)

func TestUserAgentNamesTheVersion(t *testing.T) {
	ua := buildinfo.UserAgent()
	if !regexp.MustCompile(`^algoreg-etl/[A-Za-z0-9.+_-]+$`).MatchString(ua) {
		t.Errorf("User-Agent %q: want algoreg-etl/<version>, a valid product token", ua)
	}
	if info := buildinfo.Read(); info.GoVersion != runtime.Version() || !strings.Contains(info.String(), info.GoVersion) {
		t.Errorf("Read() = %+v, String %q", info, info.String())
	}
}
