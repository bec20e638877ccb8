package pipeline_test

import (
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

func TestProgress(t *testing.T) {
	f := newFixture(t)
	f.insertSpread(t, 30, time.Now().Add(-time.Hour))
	f.job.ChunkSize, f.job.Concurrency = 3, 1
	f.api.SetFaults(algoregtest.Faults{Latency: 80 * time.Millisecond}) // 10 calls: about a second

	var mu sync.Mutex
	var got []pipeline.Progress
	var at []time.Time
	res := f.runWith(t, pipeline.Options{Progress: func(p pipeline.Progress) {
		mu.Lock()
		defer mu.Unlock()
		got, at = append(got, p), append(at, time.Now())
	}})
	mu.Lock()
	defer mu.Unlock()

	if len(got) < 3 {
		t.Fatalf("%d progress reports for a run of about a second, want several", len(got))
	}
	last := got[len(got)-1]
	if !last.Final || last.RunID != res.RunID || last.Job != "customers" || last.Done != 30 || last.Total != 30 || last.Counts != res.Counts {
		t.Errorf("last report %+v; want final, run %d, 30 of 30 rows, counts %+v", last, res.RunID, res.Counts)
	}
	sawETA := false
	for i, p := range got[:len(got)-1] {
		if p.Final {
			t.Errorf("report %d of %d is final", i, len(got))
		}
		if i > 0 && p.Done < got[i-1].Done {
			t.Errorf("rows done went back from %d to %d", got[i-1].Done, p.Done)
		}
		if i > 0 && at[i].Sub(at[i-1]) < 100*time.Millisecond {
			t.Errorf("reports %d and %d came %v apart, want about 200ms", i-1, i, at[i].Sub(at[i-1]))
		}
		if _, ok := p.ETA(); ok && p.Done > 0 && p.Done < 30 {
			sawETA = true
		}
	}
	if !sawETA {
		t.Errorf("no report during the run gave an ETA: %+v", got)
	}
	if last.Rate() <= 0 {
		t.Errorf("rate %v at the end", last.Rate())
	}

	// A retry run reads no window: its total is unknown.
	var retry []pipeline.Progress
	f.runWith(t, pipeline.Options{Kind: state.KindRetry, Progress: func(p pipeline.Progress) { retry = append(retry, p) }})
	if len(retry) == 0 || retry[len(retry)-1].Total != -1 {
		t.Errorf("retry run progress: %+v; want a final report with total -1", retry)
	}
}

func TestProgressETA(t *testing.T) {
	for _, tc := range []struct {
		p      pipeline.Progress
		rate   float64
		eta    time.Duration
		etaSet bool
	}{
		{pipeline.Progress{Done: 50, Total: 150, Elapsed: 10 * time.Second}, 5, 20 * time.Second, true},
		{pipeline.Progress{Done: 0, Total: 150, Elapsed: time.Second}, 0, 0, false},
		{pipeline.Progress{Done: 50, Total: -1, Elapsed: time.Second}, 50, 0, false},
		{pipeline.Progress{Done: 200, Total: 150, Elapsed: 2 * time.Second}, 100, 0, true}, // rows committed since the count
		{pipeline.Progress{}, 0, 0, false},
	} {
		eta, ok := tc.p.ETA()
		if rate := tc.p.Rate(); rate != tc.rate || eta != tc.eta || ok != tc.etaSet {
			t.Errorf("%+v: rate %v, ETA %v %v; want %v, %v %v", tc.p, rate, eta, ok, tc.rate, tc.eta, tc.etaSet)
		}
	}
}
