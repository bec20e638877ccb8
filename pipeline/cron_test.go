package pipeline_test

import (
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/pipeline"
)

// utc parses an RFC 3339 time.
func utc(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v.UTC()
}

func TestScheduleAcrossDaylightSavingChanges(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, expr string
		loc        *time.Location
		from       string
		want       []string // successive activations after from, as UTC instants
	}{
		{
			// 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST. The
			// nightly run does not vanish: it runs at 03:00 CEST.
			name: "nightly, spring forward", expr: "0 2 * * *", loc: zurich, from: "2026-03-27T12:00:00Z",
			want: []string{"2026-03-28T01:00:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z"},
		},
		{
			name: "nightly inside the gap", expr: "30 2 * * *", loc: zurich, from: "2026-03-28T12:00:00Z",
			want: []string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
		},
		{
			// 2026-10-25: clocks go back from 03:00 CEST to 02:00 CET; 02:30
			// happens twice and the job runs once.
			name: "nightly, fall back", expr: "30 2 * * *", loc: zurich, from: "2026-10-23T12:00:00Z",
			want: []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
		},
		{
			name: "hourly, spring forward", expr: "0 * * * *", loc: zurich, from: "2026-03-28T23:30:00Z",
			want: []string{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		},
		{
			name: "hourly, fall back", expr: "0 * * * *", loc: zurich, from: "2026-10-24T23:30:00Z",
			want: []string{"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"},
		},
		{
			name: "every minute, UTC", expr: "* * * * *", loc: time.UTC, from: "2026-01-05T10:00:30Z",
			want: []string{"2026-01-05T10:01:00Z", "2026-01-05T10:02:00Z"},
		},
		{
			name: "weekly descriptor", expr: "@weekly", loc: zurich, from: "2026-03-25T00:00:00Z",
			want: []string{"2026-03-28T23:00:00Z", "2026-04-04T22:00:00Z"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := pipeline.ParseSchedule(tc.expr, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(t, tc.from)
			for _, w := range tc.want {
				next := s.Next(at)
				if !next.Equal(utc(t, w)) {
					t.Fatalf("Next(%v) = %v (%v), want %v", at, next.UTC(), next.In(tc.loc), w)
				}
				// Prev finds each activation back from any instant up to the
				// next one: the slot two processes compute is the same.
				for _, d := range []time.Duration{0, time.Second, 29 * time.Second} {
					if p := s.Prev(next.Add(d)); !p.Equal(next) {
						t.Errorf("Prev(%v) = %v, want %v", next.Add(d).UTC(), p.UTC(), next.UTC())
					}
				}
				if p := s.Prev(next.Add(-time.Nanosecond)); !p.Before(next) {
					t.Errorf("Prev just before %v = %v, want an earlier activation", next.UTC(), p.UTC())
				}
				at = next
			}
		})
	}
}

func TestParseScheduleRefuses(t *testing.T) {
	for _, expr := range []string{"@every 1h", "0 2 * *", "61 * * * *", "0 0 30 2 *"} {
		if _, err := pipeline.ParseSchedule(expr, time.UTC); err == nil {
			t.Errorf("ParseSchedule(%q) accepted it", expr)
		} else {
			t.Logf("%q: %v", expr, err)
		}
	}
}
