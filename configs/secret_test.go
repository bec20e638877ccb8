package configs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/algoreg/algoreg-etl/configs"
)

func TestSecretIsNeverShown(t *testing.T) {
	const token = "tok-3c1b7e"
	const pw = "pw-91d2f0"
	c := mustParse(t, `source:
  dsn: postgres://etl:`+pw+`@db/core
state:
  dsn: host=db user=etl password='`+pw+`' dbname=state
algoreg:
  url: https://tenant.example.com
  token: `+token+`
jobs:
  - name: customers
    customers_query: q.sql
`, nil)
	if c.Algoreg.Token.Reveal() != token {
		t.Fatalf("Reveal = %q, want the token", c.Algoreg.Token.Reveal())
	}

	var outputs []string
	for _, v := range []any{c.Algoreg.Token, c.Algoreg, c, *c, c.Source, c.State, c.Source.DSN, c.State.DSN} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Errorf("json.Marshal(%T): %v", v, err)
		}
		outputs = append(outputs, string(b))
	}
	outputs = append(outputs, c.String(), c.Algoreg.String(), fmt.Sprint(c.Jobs))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("config", "config", c, "algoreg", c.Algoreg, "token", c.Algoreg.Token,
			"dsn", c.Source.DSN, "state", c.State, "job", c.Jobs[0])
	}
	outputs = append(outputs, logs.String())

	for _, out := range outputs {
		if strings.Contains(out, token) || strings.Contains(out, pw) {
			t.Errorf("a secret is shown: %s", out)
		}
	}
	for _, want := range []string{"[redacted]", "postgres://etl:xxxxx@db/core", "password='xxxxx'"} {
		if !strings.Contains(strings.Join(outputs, "\n"), want) {
			t.Errorf("no output shows %q", want)
		}
	}
	if got := fmt.Sprintf("%v|%q", c.Algoreg.Token, c.Algoreg.Token); got != `[redacted]|"[redacted]"` {
		t.Errorf("Secret prints as %s", got)
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct {
		dsn, want string
	}{
		{"postgres://bob:s3cret@db:5432/core?sslmode=require", "postgres://bob:xxxxx@db:5432/core?sslmode=require"},
		{"postgresql://bob:s3cret@db/core", "postgresql://bob:xxxxx@db/core"},
		{"postgres://bob@db/core", "postgres://bob@db/core"},
		{"postgres://db/core", "postgres://db/core"},
		{"postgres://bob:p%40ss%23@db/core", "postgres://bob:xxxxx@db/core"},
		{"postgres://bob:p@ss#w/rd@db/core", "postgres://bob:xxxxx@db/core"},
		{"postgres://bob:12/34@db/core", "postgres://bob:xxxxx@db/core"},
		{"postgres://bob@db/core?password=s3cret&sslmode=disable", "postgres://bob@db/core?password=xxxxx&sslmode=disable"},
		{"postgres://db/core?sslmode=verify-full&sslpassword=s3cret", "postgres://db/core?sslmode=verify-full&sslpassword=xxxxx"},
		{"host=db user=bob password=s3cret dbname=core", "host=db user=bob password=xxxxx dbname=core"},
		{"host=db password = s3cret", "host=db password = xxxxx"},
		{"password='s3 cr\\'et' host=db", "password='xxxxx' host=db"},
		{"host=db password=s3\\ cret dbname=core", "host=db password=xxxxx dbname=core"},
		{"host=db sslpassword=s3cret", "host=db sslpassword=xxxxx"},
		{"host=db application_name='password=x'", "host=db application_name='password=x'"},
		{"host=db password='s3 cret", "host=db password=xxxxx"}, // unterminated quote: redacted to the end
		{"host=db dbname=core", "host=db dbname=core"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := configs.RedactDSN(tt.dsn); got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.dsn, got, tt.want)
		}
		if strings.Contains(configs.RedactDSN(tt.dsn), "s3") || strings.Contains(configs.RedactDSN(tt.dsn), "cret") {
			t.Errorf("RedactDSN(%q) shows the password", tt.dsn)
		}
	}
}
