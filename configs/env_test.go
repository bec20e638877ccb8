package configs_test

import (
	"strings"
	"testing"
)

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{
		"PW":      `p#ss: "w\'ord #x`,
		"DSN":     `host=db password='a: b #c'`,
		"TOKEN":   `t0k#en:'"x`,
		"USER":    "etl",
		"CHUNK":   "25",
		"EMPTY":   "",
		"NULLISH": "null",
		"DOLLAR":  "a$b${C}",
		"ZONE":    "Europe/Zurich",
	}
	tests := []struct {
		name      string
		line      string // replaces "  token: tok" (line 5)
		wantToken string
	}{
		{"value with # and quotes", "  token: ${TOKEN}", `t0k#en:'"x`},
		{"quoted", `  token: "${TOKEN}"`, `t0k#en:'"x`},
		{"single-quoted", `  token: '${TOKEN}'`, `t0k#en:'"x`},
		{"inside text", "  token: pre-${USER}-post", "pre-etl-post"},
		{"two variables", "  token: ${USER}${CHUNK}", "etl25"},
		{"$$ is a literal $", "  token: a$$b$${USER}", "a$b${USER}"},
		{"lone $ is kept", "  token: pa$word$", "pa$word$"},
		{"value not expanded again", "  token: ${DOLLAR}", "a$b${C}"},
		{"null-like value stays text", "  token: ${NULLISH}", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, strings.Replace(base, "  token: tok", tt.line, 1), env)
			if got := c.Algoreg.Token.Reveal(); got != tt.wantToken {
				t.Errorf("token = %q, want %q", got, tt.wantToken)
			}
		})
	}

	t.Run("password with YAML specials in a DSN", func(t *testing.T) {
		text := strings.Replace(base, "postgres://etl:pw@db/core", "host=db user=${USER} password='${PW}'", 1)
		c := mustParse(t, text, env)
		if got, want := c.Source.DSN.Reveal(), `host=db user=etl password='p#ss: "w\'ord #x'`; got != want {
			t.Errorf("dsn = %q, want %q", got, want)
		}
		c = mustParse(t, strings.Replace(base, "postgres://etl:pw@db/core", "${DSN}", 1), env)
		if got, want := c.Source.DSN.Reveal(), env["DSN"]; got != want {
			t.Errorf("dsn = %q, want %q", got, want)
		}
	})
	t.Run("numbers, durations and zones from the environment", func(t *testing.T) {
		c := mustParse(t, withJob("    chunk_size: ${CHUNK}\n    safety_lag: ${CHUNK}s\n    timezone: ${ZONE}\n"), env)
		j := c.Jobs[0]
		if j.ChunkSize != 25 || j.SafetyLag.Seconds() != 25 || j.Timezone.String() != "Europe/Zurich" {
			t.Errorf("chunk_size %d, safety_lag %s, timezone %s", j.ChunkSize, j.SafetyLag, j.Timezone)
		}
	})
	t.Run("keys are not expanded", func(t *testing.T) {
		_, err := parse(t, base+"${USER}: x\n", env)
		if err == nil || !strings.Contains(err.Error(), `config.yaml:9: ${USER}: unknown key`) {
			t.Errorf("error = %v, want an unknown key ${USER}", err)
		}
	})
}

func TestEnvErrors(t *testing.T) {
	env := map[string]string{"EMPTY": "", "USER": "etl"}
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"unset variable", strings.Replace(base, "  token: tok", "  token: ${ALGOREG_TOKEN}", 1),
			[]string{`config.yaml:5: algoreg.token: environment variable ALGOREG_TOKEN is not set`}},
		{"two unset variables", strings.Replace(base, "  token: tok", "  token: ${A}${B}", 1),
			[]string{`config.yaml:5: algoreg.token: environment variables A, B are not set`}},
		{"unset in a job", strings.Replace(base, "q.sql", "${SQL_DIR}/q.sql", 1),
			[]string{`config.yaml:8: job "customers": customers_query: environment variable SQL_DIR is not set`}},
		{"unset variable in a DSN", strings.Replace(base, "postgres://etl:pw@db/core", "${SOURCE_DSN}", 1),
			[]string{`config.yaml:2: source.dsn: environment variable SOURCE_DSN is not set`}},
		{"empty variable for a required key", strings.Replace(base, "  token: tok", "  token: ${EMPTY}", 1),
			[]string{`config.yaml:5: algoreg.token: is required`}},
		{"unclosed", strings.Replace(base, "  token: tok", "  token: ab${USER", 1),
			[]string{`config.yaml:5: algoreg.token: "${" without a closing '}'`}},
		{"invalid name", strings.Replace(base, "  token: tok", "  token: ab${1SECRET}", 1),
			[]string{`config.yaml:5: algoreg.token: "${" starts no valid ${NAME}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.text, env)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != 1 {
				t.Errorf("%d errors, want 1 (no echo of the bad value):\n%v", n, err)
			}
			if strings.Contains(err.Error(), "1SECRET") {
				t.Errorf("error shows the text of the value: %v", err)
			}
		})
	}
}
