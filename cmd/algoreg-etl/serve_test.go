package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// get returns the status and body of a GET of url.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample returns the value of the sample of the exposition text whose name
// and labels are given as they are written, e.g.
// `algoreg_etl_rows_sent_total{etl_job="customers"}`.
func sample(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

func TestServeMetricsAfterARun(t *testing.T) {
	path, db, api := deployment(t)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Daily, at the minute before this one: serve catches that slot up at
	// start, so the run comes at once, and no other slot comes during the
	// test.
	slot := time.Now().UTC().Add(-time.Minute)
	cfg = fmt.Appendf(cfg, "    schedule: \"%d %d * * *\"\n    timezone: UTC\n", slot.Minute(), slot.Hour())
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"serve", "--config", path, "--listen", "127.0.0.1:0", "--log-format", "json", "--catch-up", "2m"}, &stdout, &stderr)
	}()
	addrRe := regexp.MustCompile(`"addr":"([0-9.:]+)"`)
	var base string
	for deadline := time.Now().Add(15 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := addrRe.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1]
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve logged no listening address:\n%s", stderr.String())
		}
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}

	// The seed holds invalid rows: the run finishes partial.
	var metrics string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, metrics = get(t, base+"/metrics")
		// The slot is counted once its run has ended, after the run's own
		// metrics.
		if v, _ := sample(metrics, `algoreg_etl_scheduled_slots_total{etl_job="customers",outcome="ran"}`); v >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no finished run in /metrics:\n%s\nlogs:\n%s", metrics, stderr.String())
		}
	}
	var sent, extracted, invalid int64
	db.Get(&extracted, `SELECT coalesce(sum(extracted), 0) FROM algoreg_etl.runs`)
	db.Get(&sent, `SELECT coalesce(sum(sent), 0) FROM algoreg_etl.runs`)
	db.Get(&invalid, `SELECT coalesce(sum(invalid), 0) FROM algoreg_etl.runs`)
	for _, x := range []struct {
		series string
		want   float64 // -1: any value above 0
	}{
		{`algoreg_etl_rows_extracted_total{etl_job="customers"}`, float64(extracted)},
		{`algoreg_etl_rows_sent_total{etl_job="customers"}`, float64(sent)},
		{`algoreg_etl_rows_invalid_total{etl_job="customers"}`, float64(invalid)},
		{`algoreg_etl_rows_skipped_total{etl_job="customers"}`, 0},
		{`algoreg_etl_rows_rejected_total{etl_job="customers"}`, 0},
		{`algoreg_etl_api_retries_total{etl_job="customers"}`, 0},
		{`algoreg_etl_api_requests_total{code="200",etl_job="customers"}`, -1},
		{`algoreg_etl_api_request_duration_seconds_count{etl_job="customers"}`, -1},
		{`algoreg_etl_api_request_duration_seconds_bucket{etl_job="customers",le="+Inf"}`, -1},
		{`algoreg_etl_run_duration_seconds_count{etl_job="customers",kind="run"}`, -1},
		{`algoreg_etl_last_success_timestamp_seconds{etl_job="customers"}`, -1},
		{`algoreg_etl_watermark_lag_seconds{etl_job="customers"}`, -1},
		{`algoreg_etl_runs_total{etl_job="customers",kind="run",status="partial"}`, -1},
		{`algoreg_etl_scheduler_leader`, 1},
		{`go_goroutines`, -1},
	} {
		v, ok := sample(metrics, x.series)
		if !ok || (x.want >= 0 && v != x.want) || (x.want < 0 && v <= 0) {
			t.Errorf("%s = %v (present %v), want %v", x.series, v, ok, x.want)
		}
	}
	if v, _ := sample(metrics, `algoreg_etl_last_success_timestamp_seconds{etl_job="customers"}`); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last success at %v, want about now", time.Unix(int64(v), 0))
	}
	if strings.Contains(metrics+stderr.String(), api.Token) {
		t.Error("the token appears in the metrics or the logs")
	}

	// SIGTERM: serve stops and exits 0.
	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Errorf("serve exited with %d after SIGTERM:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"job scheduled"`, `"next_run":`, `"msg":"leading the scheduler"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	var slots int
	db.Get(&slots, `SELECT count(*) FROM algoreg_etl.schedule_slots WHERE run_id IS NOT NULL AND slot = $1`, slot.Truncate(time.Minute))
	if slots != 1 {
		t.Errorf("%d claims of the slot %v with a run, want 1", slots, slot.Truncate(time.Minute))
	}
}

func TestServeWithoutSchedule(t *testing.T) {
	path, _, _ := deployment(t)
	cli(t, "migrate", "--config", path)
	code, _, stderr := cli(t, "serve", "--config", path, "--listen", "127.0.0.1:0")
	if code != exitUsage || !strings.Contains(stderr, "no job has a schedule") {
		t.Errorf("serve without a schedule: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestReadyzFailsWhenTheStateDatabaseIsGone(t *testing.T) {
	path, db, _ := deployment(t)
	cli(t, "migrate", "--config", path)
	st, err := state.Open(context.Background(), db.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	mux := serveMux(prometheus.NewRegistry(), &pipeline.Env{State: st})
	for _, x := range []struct {
		path string
		want int
	}{{"/readyz", http.StatusOK}, {"/healthz", http.StatusOK}} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", x.path, nil))
		if rec.Code != x.want {
			t.Errorf("%s: %d, want %d", x.path, rec.Code, x.want)
		}
	}
	st.Close()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the state database closed: %d %s, want 503", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("/healthz with the state database closed: %d, want 200", rec.Code)
	}
}

// A second instance follows the first and says so, naming the leader.
func TestFollowerLogsWhoLeads(t *testing.T) {
	path, _, _ := deployment(t)
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A slot far from now: no run comes during the test.
	cfg = append(cfg, "    schedule: \"0 0 1 1 *\"\n"...)
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(instance string) (*syncBuffer, chan int) {
		var stdout, stderr syncBuffer
		exit := make(chan int, 1)
		go func() {
			exit <- Main(ctx, []string{"serve", "--config", path, "--listen", "", "--log-format", "json", "--catch-up", "0",
				"--instance", instance}, &stdout, &stderr)
		}()
		return &stderr, exit
	}
	waitFor := func(logs *syncBuffer, want string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in the logs:\n%s", want, logs.String())
			}
		}
	}
	a, exitA := start("host-a")
	waitFor(a, `"msg":"leading the scheduler"`)
	b, exitB := start("host-b")
	waitFor(b, `"msg":"following the scheduler leader`)
	if logs := b.String(); !strings.Contains(logs, `"leader":"algoreg-etl/serve/host-a"`) {
		t.Errorf("the follower does not name the leader:\n%s", logs)
	}
	cancel()
	for _, exit := range []chan int{exitA, exitB} {
		if code := <-exit; code != exitOK {
			t.Errorf("serve exited %d", code)
		}
	}
}
