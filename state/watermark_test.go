package state_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/state"
)

// withTimeZone returns dsn with the session time zone set to tz.
func withTimeZone(t *testing.T, dsn, tz string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", "-c TimeZone="+tz)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestWatermarkRoundTrip(t *testing.T) {
	ctx := context.Background()
	utc, db := newStore(t)
	// Asia/Kathmandu is UTC+05:45, and UTC+05:41:16 (local mean time) before 1920.
	ktm := open(t, withTimeZone(t, db.URL, "Asia/Kathmandu"), "")
	var tz string
	if err := ktm.DB().Get(&tz, `SHOW TimeZone`); err != nil {
		t.Fatal(err)
	}
	if tz != "Asia/Kathmandu" {
		t.Fatalf("session TimeZone is %q, the test needs Asia/Kathmandu", tz)
	}

	newYork := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name  string
		in    time.Time
		want  time.Time // in truncated to the microsecond
		key   string
		write *state.Store
	}{
		{"microseconds", time.Date(2025, 3, 30, 1, 2, 3, 456789000, time.UTC), time.Date(2025, 3, 30, 1, 2, 3, 456789000, time.UTC), "C-000042", ktm},
		{"nanoseconds truncated", time.Date(2025, 3, 30, 1, 2, 3, 999999999, time.UTC), time.Date(2025, 3, 30, 1, 2, 3, 999999000, time.UTC), "42", ktm},
		{"other zone", time.Date(2024, 12, 31, 23, 59, 59, 1000, newYork), time.Date(2025, 1, 1, 4, 59, 59, 1000, time.UTC), "key with spaces", ktm},
		{"local mean time", time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 1000, time.UTC), "", ktm},
		{"written in UTC", time.Date(2025, 6, 1, 12, 0, 0, 1, time.UTC), time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), "é/ü", utc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.write.StartRun(ctx, state.Run{Job: tt.name, Kind: state.KindRun})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.write.Checkpoint(ctx, state.Checkpoint{RunID: id, Job: tt.name, Stream: "customers",
				Watermark: &state.Watermark{UpdatedAt: tt.in, Key: tt.key}})
			if err != nil {
				t.Fatal(err)
			}
			for _, read := range []*state.Store{ktm, utc} {
				w, ok, err := read.Watermark(ctx, tt.name, "customers")
				if err != nil || !ok {
					t.Fatalf("Watermark: %v, %v", ok, err)
				}
				if !w.UpdatedAt.Equal(tt.want) || w.Key != tt.key {
					t.Errorf("read back %v %q, want %v %q", w.UpdatedAt, w.Key, tt.want, tt.key)
				}
			}
		})
	}
}

func TestWatermarkAbsent(t *testing.T) {
	s, _ := newStore(t)
	w, ok, err := s.Watermark(context.Background(), "customers", "customers")
	if err != nil || ok {
		t.Fatalf("Watermark of a new job: %v, %v, %v; want not ok", w, ok, err)
	}
}
