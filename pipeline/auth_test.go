package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/pipeline"
	"github.com/algoreg/algoreg-etl/state"
)

// useAPI makes f's runs call its sandbox as a programmatic user, through
// pipeline.NewAPI as a deployment does.
func (f *fixture) useAPI(t *testing.T, auth, key string) {
	t.Helper()
	api, err := pipeline.NewAPI(configs.Algoreg{URL: f.api.URL, Auth: auth, Username: f.api.Username,
		Password: configs.Secret(key), Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.env.API = api
}

// A run longer than several lifetimes of a token completes with its
// renewals and loses nothing. With expires_in the token is renewed before
// it expires, for all the calls in flight at once, and no call meets a
// 401. Without it the client takes the token for the vendor's hour: each
// expiry costs a 401 to the calls that reach the API before the first 401
// comes back (at most the calls in flight), one token call, and one more
// call for each 401.
func TestRunOutlivesItsTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 15 seconds")
	}
	const life, latency, concurrency = 3 * time.Second, 200 * time.Millisecond, 8
	for _, tt := range []struct {
		name          string
		customers     int
		omitExpiresIn bool
	}{
		{"with expires_in", 4000, false},
		{"without expires_in", 3000, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.api.SetAuth(algoregtest.AuthOptions{TokenLifetime: life, OmitExpiresIn: tt.omitExpiresIn})
			f.api.SetFaults(algoregtest.Faults{Latency: latency})
			f.useAPI(t, configs.AuthOAuth2, f.api.Key)
			f.job.ChunkSize, f.job.Concurrency, f.job.PageSize = 10, concurrency, 500
			f.insertSpread(t, tt.customers, time.Now().Add(-2*time.Hour))

			res := f.run(t)
			counted(t, res)
			// The calls' span: from the first, made with the first token,
			// to the last.
			times := f.api.CallTimes()
			took := times[len(times)-1].Sub(times[0]) + latency
			expiries := int(took / life)
			tokens, unauthorized := f.api.TokenRequests(), f.api.Unauthorized()
			t.Logf("%d customers sent in %v (%d expiries of a %v token, %v per call, %d calls in flight): %d token calls, %d save calls, %d answered 401",
				tt.customers, took.Round(time.Millisecond), expiries, life, latency, concurrency, tokens, f.api.Requests(), unauthorized)
			if res.Status != state.StatusSucceeded || res.Counts.Sent != int64(tt.customers) {
				t.Errorf("run %s, sent %d; want succeeded, %d", res.Status, res.Counts.Sent, tt.customers)
			}
			f.sameAsSource(t)
			if expiries < 1 {
				t.Fatalf("the run took %v, less than a token's life: the test proves nothing", took)
			}
			if f.api.Requests() != tt.customers/10+unauthorized {
				t.Errorf("%d save calls, want one per chunk and one per 401", f.api.Requests())
			}
			if tt.omitExpiresIn {
				if tokens != expiries+1 || unauthorized < expiries || unauthorized > expiries*concurrency {
					t.Errorf("%d token calls, %d 401s over %d expiries; want one token call per expiry, and from 1 to %d 401s per expiry", tokens, unauthorized, expiries, concurrency)
				}
				return
			}
			// A token is renewed after four fifths of its life.
			if most := 2 + int(took/(life*4/5)); tokens <= expiries || tokens > most || unauthorized != 0 {
				t.Errorf("%d token calls, %d 401s over %d expiries; want %d to %d token calls and no 401", tokens, unauthorized, expiries, expiries+1, most)
			}
		})
	}
}

// A wrong key fails the run before any row is read, with one token call and
// a message that names the user, never the key; the run row says so.
func TestRunWithWrongKey(t *testing.T) {
	const key = "wrong-key-3f9a"
	f := newFixture(t)
	f.useAPI(t, configs.AuthOAuth2, key)
	f.insertPeople(t, 1, 20, time.Now().Add(-time.Hour))
	res, err := pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if !errors.Is(err, load.ErrUnauthorized) || res == nil || res.Status != state.StatusFailed {
		t.Fatalf("run: %+v, %v; want failed with ErrUnauthorized", res, err)
	}
	if !strings.Contains(err.Error(), `"etl@sandbox.test"`) || strings.Contains(err.Error(), key) {
		t.Errorf("error %q: want the user named, not the key", err)
	}
	if res.Counts.Extracted != 0 || f.api.TokenRequests() != 1 || f.api.Requests() != 0 {
		t.Errorf("extracted %d, token calls %d, save calls %d; want 0, 1, 0", res.Counts.Extracted, f.api.TokenRequests(), f.api.Requests())
	}
	run, err := f.env.State.Run(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(run.Error, "refused the credentials") || strings.Contains(run.Error, key) {
		t.Errorf("run row error %q", run.Error)
	}
	// The same process never tries the key again.
	res, err = pipeline.Run(context.Background(), f.env, f.job, pipeline.Options{})
	if !errors.Is(err, load.ErrUnauthorized) || f.api.TokenRequests() != 1 {
		t.Errorf("second run: %v; %d token calls, want still 1", err, f.api.TokenRequests())
	}
	if _, ok := f.watermark(t); ok {
		t.Error("a watermark moved")
	}
}

// Basic auth sends every row without a token call.
func TestRunWithBasicAuth(t *testing.T) {
	f := newFixture(t)
	f.useAPI(t, configs.AuthBasic, f.api.Key)
	f.insertPeople(t, 1, 30, time.Now().Add(-time.Hour))
	res := f.run(t)
	if res.Status != state.StatusSucceeded || res.Counts.Sent != 30 || f.api.TokenRequests() != 0 {
		t.Errorf("run %s, sent %d, token calls %d; want succeeded, 30, 0", res.Status, res.Counts.Sent, f.api.TokenRequests())
	}
}
