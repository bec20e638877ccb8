package main

import (
	"fmt"
	"strings"
	"testing"
)

// Rows that failed stuck_after attempts are marked stuck by report errors
// --open, keep runs partial, and are retried again once released.
func TestStuckRowsReportedAndReleased(t *testing.T) {
	path, _, _ := deployment(t, "stuck_after: 1", "on_invalid_field: {default: reject}")
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	cli(t, "run", "--config", path, "customers")
	stuck := func() map[string]string {
		t.Helper()
		code, out, stderr := cli(t, "report", "errors", "--open", "--format", "csv", "--config", path)
		if code != exitOK {
			t.Fatalf("report: exit %d\n%s%s", code, out, stderr)
		}
		got := map[string]string{}
		for _, row := range readCSV(t, out) {
			got[row["external_id"]] = row["stuck"]
		}
		return got
	}
	want := map[string]string{"C-0013": "true", "C-0021": "true", "C-0034": "true", "C-0038": "true", "C-0045": "true"}
	if got := stuck(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stuck column %v, want %v", got, want)
	}
	// Nothing new: the run is partial, says so, and exits 0.
	code, out, _ := cli(t, "run", "--config", path, "customers")
	if code != exitOK || !strings.Contains(out, "partial") || !strings.Contains(out, "stuck") {
		t.Errorf("run with stuck rows: exit %d\n%s", code, out)
	}
	for _, step := range []struct {
		args []string
		out  string
		free []string
	}{
		{[]string{"--code", "date_in_future"}, "released 1 stuck rows", []string{"C-0013"}},
		{[]string{"--key", "C-0021"}, "released 1 stuck rows", []string{"C-0021"}},
		{[]string{"--all"}, "released 3 stuck rows", []string{"C-0034", "C-0038", "C-0045"}},
	} {
		code, out, stderr := cli(t, append([]string{"release", "customers", "--config", path}, step.args...)...)
		if code != exitOK || !strings.Contains(out, step.out) {
			t.Errorf("release %v: exit %d\n%s%s", step.args, code, out, stderr)
		}
		for _, id := range step.free {
			want[id] = "false"
		}
		if got := stuck(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after release %v: stuck column %v, want %v", step.args, got, want)
		}
	}
	if code, _, stderr := cli(t, "release", "customers", "--config", path); code != exitUsage {
		t.Errorf("release without a selection: exit %d\n%s", code, stderr)
	}
	// The next run retries them.
	code, out, _ = cli(t, "run", "--config", path, "customers")
	if !strings.Contains(out, "retried") {
		t.Errorf("run after release: exit %d\n%s", code, out)
	}
}
