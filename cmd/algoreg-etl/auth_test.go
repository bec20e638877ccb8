package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
	"github.com/algoreg/algoreg-etl/sql/sqltest"
)

// sandboxToken matches a token the sandbox gives out.
var sandboxToken = regexp.MustCompile(`tok-[0-9a-f]{32}`)

// userDeployment is deployment with a programmatic user instead of the
// token: algoreg lines replace "token: ...", each indented by two spaces.
func userDeployment(t *testing.T, algoreg ...string) (string, *sqltest.DB, *algoregtest.Server) {
	t.Helper()
	path, db, api := deployment(t)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := "  " + strings.Join(algoreg, "\n  ") + "\n"
	out := strings.Replace(string(text), "  token: ${TEST_ALGOREG_TOKEN}\n", lines, 1)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, stderr)
	}
	return path, db, api
}

// A wrong key: one token call, exit 6, a message naming the user and never
// the key, and nothing read or sent.
func TestRunWithAWrongKey(t *testing.T) {
	const key = "wrong-k3y-0b7d"
	t.Setenv("TEST_ALGOREG_KEY", key)
	path, _, api := userDeployment(t, "username: etl@sandbox.test", "password: ${TEST_ALGOREG_KEY}")
	code, out, stderr := cli(t, "run", "customers", "--config", path, "--log-format", "json")
	if code != exitAuth || api.TokenRequests() != 1 || api.Requests() != 0 {
		t.Fatalf("exit %d, %d token calls, %d save calls; want %d, 1, 0\n%s%s", code, api.TokenRequests(), api.Requests(), exitAuth, out, stderr)
	}
	for _, want := range []string{`algoreg login as "etl@sandbox.test": the API refused the credentials`, "HTTP 401", "no other login is made"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	_, report, _ := cli(t, "report", "run", "1", "--format", "json", "--show-pii", "--config", path)
	if strings.Contains(stderr+out+report, key) {
		t.Error("the key appears in the output")
	}
	if !strings.Contains(report, `algoreg login as \"etl@sandbox.test\": the API refused the credentials`) {
		t.Errorf("the run's report does not say why it failed:\n%s", report)
	}
	if !strings.Contains(out, "failed") {
		t.Errorf("the summary does not say the run failed:\n%s", out)
	}
}

// The recommended setup: the user's key in a file, as systemd's
// LoadCredential= gives it, with its trailing line break.
func TestRunWithAKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", dir)
	path, _, api := userDeployment(t, "username: etl@sandbox.test", "password_file: ${CREDENTIALS_DIRECTORY}/algoreg-key")
	if err := os.WriteFile(filepath.Join(dir, "algoreg-key"), []byte(api.Key+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := cli(t, "run", "customers", "--config", path, "--log-level", "debug", "--log-format", "json")
	if code != exitRecordErrs || api.TokenRequests() != 1 || len(api.Customers()) == 0 || api.Unauthorized() != 0 {
		t.Errorf("exit %d, %d token calls, %d customers, %d 401s\n%s%s", code, api.TokenRequests(), len(api.Customers()), api.Unauthorized(), out, stderr)
	}
	// Neither the key nor the token appears in the logs, the summary or
	// the reports.
	outputs := out + stderr
	for _, args := range [][]string{{"report", "runs"}, {"report", "run", "1", "--format", "json"}, {"report", "errors", "--format", "csv"}} {
		_, out, stderr := cli(t, append(args, "--config", path)...)
		outputs += out + stderr
	}
	if strings.Contains(outputs, api.Key) || sandboxToken.MatchString(outputs) {
		t.Errorf("the key or a token appears in the output:\n%s", outputs)
	}
	if ua := api.UserAgents(); len(ua) != 1 || !strings.HasPrefix(ua[0], "algoreg-etl/") {
		t.Errorf("User-Agents %q", ua)
	}
}

// auth: basic makes no token call; a wrong key there costs one call.
func TestRunWithBasicAuth(t *testing.T) {
	t.Setenv("TEST_ALGOREG_KEY", "set below")
	path, _, api := userDeployment(t, "username: etl@sandbox.test", "password: ${TEST_ALGOREG_KEY}", "auth: basic")
	t.Setenv("TEST_ALGOREG_KEY", api.Key)
	if code, out, stderr := cli(t, "run", "customers", "--config", path); code != exitRecordErrs || api.TokenRequests() != 0 || len(api.Customers()) == 0 {
		t.Errorf("exit %d, %d token calls, %d customers\n%s%s", code, api.TokenRequests(), len(api.Customers()), out, stderr)
	}
	t.Setenv("TEST_ALGOREG_KEY", "wrong")
	calls := api.Requests()
	code, out, stderr := cli(t, "run", "customers", "--config", path, "--full")
	if code != exitAuth || api.Requests() != calls+1 || api.FailedLogins() != 1 || !strings.Contains(stderr, `Basic credentials of programmatic user "etl@sandbox.test"`) {
		t.Errorf("wrong key: exit %d, %d calls, %d failed logins\n%s%s", code, api.Requests()-calls, api.FailedLogins(), out, stderr)
	}
}

// `algoreg-etl sandbox` serves a programmatic user whose tokens expire.
func TestSandboxCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("ALGOREG_TOKEN", "")
	t.Setenv("ALGOREG_PASSWORD", "")
	if code, _, stderr := cli(t, "sandbox", "--user", "u"); code != exitUsage || !strings.Contains(stderr, "--user and --key go together") {
		t.Errorf("--user alone: exit %d, %s", code, stderr)
	}
	if code, _, stderr := cli(t, "sandbox"); code != exitUsage || !strings.Contains(stderr, "no credentials") {
		t.Errorf("no credentials: exit %d, %s", code, stderr)
	}
	t.Setenv("ALGOREG_USERNAME", "etl@sandbox.test")
	t.Setenv("ALGOREG_PASSWORD", "sandbox-key")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		code := Main(ctx, []string{"sandbox", "--addr", addr, "--token-lifetime", "1s", "--lock-after", "2"}, &strings.Builder{}, &strings.Builder{})
		done <- code
	}()
	url := "http://" + addr
	var c *load.Client
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		c = load.NewClient(url, load.PasswordGrant("etl@sandbox.test", "sandbox-key"), nil)
		if err := c.Login(context.Background()); err == nil {
			break
		} else if time.Since(start) > 10*time.Second {
			t.Fatalf("the sandbox does not answer: %v", err)
		}
	}
	snd := load.NewSender(c, load.SenderOptions{})
	req := &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A", AccountType: load.AccountFirm, CompanyName: "A"}}}
	for range 2 {
		if _, err := snd.Send(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // the token expires; the next call renews it
	}
	for range 2 {
		err := load.NewClient(url, load.PasswordGrant("etl@sandbox.test", "wrong"), nil).Login(context.Background())
		if !errors.Is(err, load.ErrUnauthorized) {
			t.Errorf("wrong key: %v", err)
		}
	}
	err = load.NewClient(url, load.PasswordGrant("etl@sandbox.test", "sandbox-key"), nil).Login(context.Background())
	if !errors.Is(err, load.ErrUnauthorized) || !strings.Contains(err.Error(), algoregtest.CodeAccountLocked) {
		t.Errorf("after 2 failed logins: %v, want the account locked", err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("sandbox exit %d", code)
	}
}
