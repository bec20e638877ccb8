package configs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/configs"
)

// parseWithFiles parses text as "config.yaml" in a folder holding q.sql and
// files (name to content).
func parseWithFiles(t *testing.T, text string, files map[string]string) (*configs.Config, error) {
	t.Helper()
	dir := t.TempDir()
	files["q.sql"] = "SELECT 1"
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return configs.Parse([]byte(text), "config.yaml", dir, func(string) (string, bool) { return "", false })
}

// withAlgoreg returns a config whose algoreg section holds lines (each
// indented by two spaces) after its url (line 4): the first line is line 5.
func withAlgoreg(lines ...string) string {
	text := "source:\n  dsn: postgres://etl@db/core\nalgoreg:\n  url: https://api.algoreg.com\n"
	for _, l := range lines {
		text += "  " + l + "\n"
	}
	return text + "jobs:\n  - name: customers\n    customers_query: q.sql\n"
}

func TestAlgoregCredentials(t *testing.T) {
	files := map[string]string{
		"key":        "k3y-from-file\n",
		"key-crlf":   "k3y-crlf\r\n",
		"token":      "t0ken-from-file",
		"ca.pem":     "-----BEGIN CERTIFICATE-----\n",
		"client.pem": "x", "client.key": "x",
	}
	tests := []struct {
		name               string
		config             string
		auth, user, secret string // secret: the token or the password
	}{
		{"static token", withAlgoreg("token: tok"), configs.AuthToken, "", "tok"},
		{"token file", withAlgoreg("token_file: token"), configs.AuthToken, "", "t0ken-from-file"},
		{"user, oauth2 by default", withAlgoreg("username: etl@bank.example", "password: pw"), configs.AuthOAuth2, "etl@bank.example", "pw"},
		{"user, basic", withAlgoreg("username: etl@bank.example", "password: pw", "auth: basic"), configs.AuthBasic, "etl@bank.example", "pw"},
		{"user, oauth2", withAlgoreg("auth: oauth2", "username: etl@bank.example", "password: pw"), configs.AuthOAuth2, "etl@bank.example", "pw"},
		{"password file, its line break dropped", withAlgoreg("username: u@b", "password_file: key"), configs.AuthOAuth2, "u@b", "k3y-from-file"},
		{"password file with CRLF", withAlgoreg("username: u@b", "password_file: key-crlf"), configs.AuthOAuth2, "u@b", "k3y-crlf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseWithFiles(t, tt.config, files)
			if err != nil {
				t.Fatal(err)
			}
			a := c.Algoreg
			secret := a.Token.Reveal()
			if tt.auth != configs.AuthToken {
				secret = a.Password.Reveal()
			}
			if a.Auth != tt.auth || a.Username != tt.user || secret != tt.secret {
				t.Errorf("got auth %q, user %q, secret %q; want %q, %q, %q", a.Auth, a.Username, secret, tt.auth, tt.user, tt.secret)
			}
		})
	}

	c, err := parseWithFiles(t, withAlgoreg("token: t", "ca_file: ca.pem", "cert_file: client.pem", "key_file: client.key"), files)
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Algoreg; filepath.Base(a.CAFile) != "ca.pem" || !filepath.IsAbs(a.CAFile) && filepath.Dir(a.CAFile) == "." || filepath.Base(a.CertFile) != "client.pem" || filepath.Base(a.KeyFile) != "client.key" {
		t.Errorf("TLS files %q %q %q: want them resolved against the config's folder", a.CAFile, a.CertFile, a.KeyFile)
	}
}

func TestAlgoregCredentialErrors(t *testing.T) {
	files := map[string]string{"empty": "\n", "two-lines": "s3cr3t-line-1\ns3cr3t-line-2\n", "key": "k"}
	tests := []struct {
		name   string
		config string
		want   string
	}{
		{"none", withAlgoreg(), "config.yaml:3: algoreg: credentials are required: username with password or password_file"},
		{"token and user", withAlgoreg("token: t", "username: u@b", "password: p"), "config.yaml:6: algoreg: give either a token (token or token_file) or a programmatic user (username with password or password_file), not both"},
		{"token and token_file", withAlgoreg("token: t", "token_file: key"), "config.yaml:6: algoreg.token_file: give token or token_file, not both"},
		{"auth with a token", withAlgoreg("token: t", "auth: basic"), "config.yaml:6: algoreg.auth: applies to username and password"},
		{"unknown auth", withAlgoreg("username: u@b", "password: p", "auth: digest"), `config.yaml:7: algoreg.auth: want oauth2 (the default) or basic, got "digest"`},
		{"user without password", withAlgoreg("username: u@b"), "config.yaml:5: algoreg.password: is required with username (the API key), or give password_file"},
		{"password without user", withAlgoreg("password: p"), "config.yaml:5: algoreg.username: is required with a password"},
		{"password and password_file", withAlgoreg("username: u@b", "password: p", "password_file: key"), "config.yaml:7: algoreg.password_file: give password or password_file, not both"},
		{"user with ':'", withAlgoreg("username: a:b", "password: p"), `config.yaml:5: algoreg.username: "a:b" holds ':'`},
		{"missing password file", withAlgoreg("username: u@b", "password_file: nowhere"), "config.yaml:6: algoreg.password_file: stat "},
		{"empty password file", withAlgoreg("username: u@b", "password_file: empty"), "config.yaml:6: algoreg.password_file: "},
		{"password file of two lines", withAlgoreg("username: u@b", "password_file: two-lines"), "holds several lines: a secret is one line (content not shown)"},
		{"token file of two lines", withAlgoreg("token_file: two-lines"), "config.yaml:5: algoreg.token_file: "},
		{"password_file is a folder", withAlgoreg("username: u@b", "password_file: ."), "is not a regular file"},
		{"missing ca_file", withAlgoreg("token: t", "ca_file: ca.pem"), "config.yaml:6: algoreg.ca_file: open "},
		{"cert without key", withAlgoreg("token: t", "cert_file: key"), "config.yaml:6: algoreg.key_file: is required with cert_file"},
		{"key without cert", withAlgoreg("token: t", "key_file: key"), "config.yaml:6: algoreg.cert_file: is required with key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseWithFiles(t, tt.config, files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("a file's content is shown: %v", err)
			}
		})
	}
}

func TestDatabasePasswordFiles(t *testing.T) {
	files := map[string]string{"src-pw": "p@ss w'rd\\#\n", "state-pw": "st4te\n"}
	c, err := parseWithFiles(t, `source:
  dsn: postgres://etl@db:5432/core?sslmode=require
  password_file: src-pw
state:
  dsn: host=ops user=algoreg_etl dbname=ops
  password_file: state-pw
algoreg:
  url: https://api.algoreg.com
  token: t
jobs:
  - name: customers
    customers_query: q.sql
`, files)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Source.DSN.Reveal(), "postgres://etl@db:5432/core?password=p%40ss+w%27rd%5C%23&sslmode=require"; got != want {
		t.Errorf("source DSN %q, want %q", got, want)
	}
	if got, want := c.State.DSN.Reveal(), "host=ops user=algoreg_etl dbname=ops password='st4te'"; got != want {
		t.Errorf("state DSN %q, want %q", got, want)
	}
	for _, dsn := range []configs.DSN{c.Source.DSN, c.State.DSN} {
		if s := fmt.Sprint(dsn); strings.Contains(s, "p%40ss") || strings.Contains(s, "w%27rd") || strings.Contains(s, "st4te") {
			t.Errorf("the password is shown: %s", s)
		}
	}

	for _, tt := range []struct{ config, want string }{
		{"source:\n  dsn: postgres://etl:pw@db/core\n  password_file: src-pw\n", "config.yaml:3: source.password_file: the dsn holds a password already"},
		{"source:\n  dsn: host=db password=x\n  password_file: src-pw\n", "config.yaml:3: source.password_file: the dsn holds a password already"},
		{"source:\n  dsn: postgres://etl@db/core\nstate:\n  password_file: state-pw\n", "config.yaml:4: state.password_file: needs state.dsn"},
		{"source:\n  dsn: postgres://etl@db/core\n  password_file: nowhere\n", "config.yaml:3: source.password_file: stat "},
	} {
		_, err := parseWithFiles(t, tt.config+"algoreg:\n  url: https://api.algoreg.com\n  token: t\njobs:\n  - name: c\n    customers_query: q.sql\n", files)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("error %v, want %q", err, tt.want)
		}
	}
}

// The programmatic user's key, from the file or from a file, is shown
// nowhere a config is printed or logged.
func TestPasswordIsNeverShown(t *testing.T) {
	const key = "k3y-77f1c0"
	for _, lines := range [][]string{{"username: etl@bank.example", "password: " + key}, {"username: etl@bank.example", "password_file: key"}} {
		c, err := parseWithFiles(t, withAlgoreg(lines...), map[string]string{"key": key + "\n"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Algoreg.Password.Reveal() != key {
			t.Fatalf("password %q", c.Algoreg.Password.Reveal())
		}
		var outputs []string
		for _, v := range []any{c, *c, c.Algoreg, c.Algoreg.Password} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
				outputs = append(outputs, fmt.Sprintf(verb, v))
			}
			b, _ := json.Marshal(v)
			outputs = append(outputs, string(b))
		}
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "config", c, "algoreg", c.Algoreg)
		slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "config", c, "algoreg", c.Algoreg)
		outputs = append(outputs, logs.String())
		for _, out := range outputs {
			if strings.Contains(out, key) {
				t.Errorf("the key is shown: %s", out)
			}
		}
		if !strings.Contains(logs.String(), "etl@bank.example") || !strings.Contains(logs.String(), "oauth2") {
			t.Errorf("the logs do not name the user and the way of authenticating:\n%s", logs.String())
		}
	}
}
