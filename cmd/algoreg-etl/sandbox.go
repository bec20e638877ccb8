package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

// sandboxOptions is what the sandbox's flags ask for.
type sandboxOptions struct {
	addr, token, log string
	user, key        string
	auth             algoregtest.AuthOptions
	faults           algoregtest.Faults
	failFor          time.Duration
	poison           []string
}

func (a *app) sandboxCmd() *cobra.Command {
	var o sandboxOptions
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Serve a local stand-in of the Algoreg API",
		Long: "Serve a local stand-in of the Algoreg API (strict, in memory) until interrupted. " +
			"It accepts a static bearer token (--token or $ALGOREG_TOKEN) and a programmatic user " +
			"(--user and --key, or $ALGOREG_USERNAME and $ALGOREG_PASSWORD), who gets tokens from " +
			"POST /api/v1/token (the OAuth2 password grant) or sends Basic credentials; tokens live " +
			"--token-lifetime, and --lock-after failed logins in a row lock the account until the " +
			"sandbox restarts. " +
			"GET /_sandbox/customers, /_sandbox/relations and /_sandbox/calls list, as JSON, what it holds " +
			"and every call it answered (size, status, disable_risk_scan, ...); --log writes the calls as JSON lines. " +
			"The other flags make it misbehave as a loaded or failing API would.",
		Example: "ALGOREG_TOKEN=secret algoreg-etl sandbox --addr 127.0.0.1:8080\n" +
			"algoreg-etl sandbox --token secret --rate-500 0.1 --latency 50ms --poison C-0007 --log calls.jsonl\n" +
			"algoreg-etl sandbox --user etl@sandbox.test --key secret --token-lifetime 30s",
		Args: wantArgs(),
		Run: func(cmd *cobra.Command, args []string) {
			a.code = a.sandbox(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVar(&o.token, "token", "", "bearer token the sandbox accepts (default $ALGOREG_TOKEN)")
	f.StringVar(&o.user, "user", "", "email of the programmatic user the sandbox accepts (default $ALGOREG_USERNAME)")
	f.StringVar(&o.key, "key", "", "the user's API key (default $ALGOREG_PASSWORD)")
	f.DurationVar(&o.auth.TokenLifetime, "token-lifetime", algoregtest.DefaultTokenLifetime, "how long a token from /api/v1/token is accepted")
	f.BoolVar(&o.auth.OmitExpiresIn, "no-expires-in", false, "leave expires_in out of the token answers, as the vendor's documentation does")
	f.IntVar(&o.auth.LockAfter, "lock-after", algoregtest.DefaultLockAfter, "failed logins in a row that lock the user's account")
	f.StringVar(&o.log, "log", "", "write each call, as a JSON line, to this file (created anew)")
	f.DurationVar(&o.faults.Latency, "latency", 0, "add this delay to every call")
	f.Float64Var(&o.faults.Rate500, "rate-500", 0, "answer this fraction of the calls 500 (0..1)")
	f.Float64Var(&o.faults.Rate429, "rate-429", 0, "answer this fraction of the calls 429 (0..1)")
	f.DurationVar(&o.faults.RetryAfter, "retry-after", 0, "the Retry-After of each 429, in whole seconds rounded up")
	f.IntVar(&o.faults.MaxConcurrent, "max-concurrent", 0, "answer 429 to a call arriving while this many are in progress (0: no cap)")
	f.IntVar(&o.faults.MaxRecords, "max-records", 0, "answer 413 to a call holding more customers and relations than this (0: no cap)")
	f.DurationVar(&o.failFor, "fail-for", 0, "answer 500 to every call for this long from the first call, as an API being deployed would")
	f.Uint64Var(&o.faults.Seed, "seed", 0, "seed of the random 500s and 429s")
	f.StringArrayVar(&o.poison, "poison", nil, "refuse whole (400) every call holding the customer or relation with this external `id`; repeat for more")
	return exits(cmd, plainExits...)
}

// check returns what is wrong with the options, in one line; "" if nothing.
func (o *sandboxOptions) check() string {
	var problems []string
	for name, d := range map[string]time.Duration{"latency": o.faults.Latency, "retry-after": o.faults.RetryAfter, "fail-for": o.failFor} {
		if d < 0 {
			problems = append(problems, fmt.Sprintf("--%s must not be negative, got %v", name, d))
		}
	}
	for name, r := range map[string]float64{"rate-500": o.faults.Rate500, "rate-429": o.faults.Rate429} {
		if !(r >= 0 && r <= 1) {
			problems = append(problems, fmt.Sprintf("--%s must be between 0 and 1, got %g", name, r))
		}
	}
	if sum := o.faults.Rate500 + o.faults.Rate429; sum > 1 {
		problems = append(problems, fmt.Sprintf("--rate-500 and --rate-429 add up to more than 1 (%g)", sum))
	}
	if o.auth.TokenLifetime <= 0 {
		problems = append(problems, fmt.Sprintf("--token-lifetime must be more than 0, got %v", o.auth.TokenLifetime))
	}
	if o.auth.LockAfter <= 0 {
		problems = append(problems, fmt.Sprintf("--lock-after must be 1 or more, got %d", o.auth.LockAfter))
	}
	for name, n := range map[string]int{"max-concurrent": o.faults.MaxConcurrent, "max-records": o.faults.MaxRecords} {
		if n < 0 {
			problems = append(problems, fmt.Sprintf("--%s must be 0 or more, got %d", name, n))
		}
	}
	for _, id := range o.poison {
		if strings.TrimSpace(id) == "" {
			problems = append(problems, "--poison needs an external id")
		}
	}
	slices.Sort(problems)
	return strings.Join(problems, "; ")
}

func (a *app) sandbox(ctx context.Context, o sandboxOptions) int {
	for _, v := range []struct {
		flag *string
		env  string
	}{{&o.token, "ALGOREG_TOKEN"}, {&o.user, "ALGOREG_USERNAME"}, {&o.key, "ALGOREG_PASSWORD"}} {
		if *v.flag == "" {
			*v.flag = os.Getenv(v.env)
		}
	}
	switch {
	case o.token == "" && o.user == "":
		return a.badArg("no credentials: pass --token (or set ALGOREG_TOKEN), or --user and --key (or set ALGOREG_USERNAME and ALGOREG_PASSWORD)")
	case (o.user == "") != (o.key == ""):
		return a.badArg("--user and --key go together (or ALGOREG_USERNAME and ALGOREG_PASSWORD)")
	}
	if problem := o.check(); problem != "" {
		return a.badArg("%s", problem)
	}
	h := algoregtest.NewHandler(o.token)
	if o.user != "" {
		h.AddUser(o.user, o.key)
	}
	h.SetAuth(o.auth)
	h.SetFaults(o.faults)
	for _, id := range o.poison {
		h.Poison(id, "poisoned with --poison")
	}
	if o.log != "" {
		f, err := os.Create(o.log)
		if err != nil {
			return a.fail(fmt.Errorf("sandbox: %w", err), exitFailed)
		}
		defer f.Close()
		h.SetCallLog(f)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return a.fail(fmt.Errorf("sandbox: %w", err), exitFailed)
	}
	if o.failFor > 0 {
		h.FailFromFirstCall(o.failFor, algoregtest.Fault{StatusCode: http.StatusInternalServerError})
	}
	mux := http.NewServeMux()
	mux.Handle(algoregtest.InspectPrefix, h.Inspector())
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String()
	a.logger.Info("sandbox listening", "url", url, "endpoint", load.SavePath,
		"listings", url+algoregtest.InspectPrefix+"{customers,relations,calls}",
		"token_endpoint", load.TokenPath, "user", o.user, "token_lifetime", o.auth.TokenLifetime)
	if f := o.faults; f != (algoregtest.Faults{}) || o.failFor > 0 || len(o.poison) > 0 {
		a.logger.Info("sandbox faults", "latency", f.Latency, "rate_500", f.Rate500, "rate_429", f.Rate429,
			"retry_after", f.RetryAfter, "max_concurrent", f.MaxConcurrent, "max_records", f.MaxRecords,
			"fail_for", o.failFor, "poison", o.poison, "seed", f.Seed)
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return a.fail(fmt.Errorf("sandbox: %w", err), exitFailed)
	}
	return exitOK
}
