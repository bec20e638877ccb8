package configs

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
)

// redacted is what a Secret shows instead of its value.
const redacted = "[redacted]"

// hidden replaces a password in a redacted connection string.
const hidden = "xxxxx"

// A Secret is a value, such as an API token, that must never be printed or
// logged. Every way of showing it (fmt, log/slog, encoding/json,
// encoding.TextMarshaler) gives "[redacted]"; Reveal gives the value.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// Format writes "[redacted]" whatever the verb, so that no fmt verb
// (%v, %+v, %#v, %s, %q, %x) shows the value.
func (s Secret) Format(f fmt.State, verb rune) { formatRedacted(f, verb, redacted) }

// LogValue returns "[redacted]" for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText returns "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// A DSN is a PostgreSQL connection string, in URL form
// (postgres://user:password@host/db) or key=value form
// (host=h user=u password=p). Every way of showing it gives it with its
// password hidden, as RedactDSN does; Reveal gives the value.
type DSN string

// Reveal returns the connection string with its password.
func (d DSN) Reveal() string { return string(d) }

// String returns the connection string with its password hidden.
func (d DSN) String() string { return RedactDSN(string(d)) }

// Format writes the connection string with its password hidden, whatever the
// verb.
func (d DSN) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d.String()) }

// LogValue returns the connection string with its password hidden.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON returns the connection string with its password hidden.
func (d DSN) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalText returns the connection string with its password hidden.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' || (verb == 'v' && f.Flag('#')) {
		s = strconv.Quote(s)
	}
	io.WriteString(f, s)
}

// urlPasswordParam finds a password given as a query parameter of a URL DSN.
var urlPasswordParam = regexp.MustCompile(`(?i)([?&](?:ssl)?password=)[^&#]*`)

// kvPasswordFallback finds a password in a key=value DSN that does not scan.
var kvPasswordFallback = regexp.MustCompile(`(?i)((?:ssl)?password\s*=\s*)('(?:\\.|[^'\\])*'?|\S*)`)

// RedactDSN returns a PostgreSQL connection string with its passwords
// replaced by "xxxxx", for messages and logs:
//
//	postgres://bob:s3cret@db/core?sslmode=require → postgres://bob:xxxxx@db/core?sslmode=require
//	host=db user=bob password='a b' dbname=core → host=db user=bob password='xxxxx' dbname=core
//
// The password parameters (password, sslpassword) are hidden too. A URL
// whose password holds unescaped special characters is redacted by its
// last '@', which may hide more than the password but never less.
func RedactDSN(dsn string) string {
	if scheme, rest, ok := strings.Cut(dsn, "://"); ok && !strings.ContainsAny(scheme, " \t\r\n=") {
		// By hand rather than with url.Parse, which misreads or rejects
		// exactly the URLs whose password holds '#', '/', '?' or '@'.
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if user, _, ok := strings.Cut(rest[:at], ":"); ok {
				rest = user + ":" + hidden + rest[at:]
			}
		}
		return urlPasswordParam.ReplaceAllString(scheme+"://"+rest, "${1}"+hidden)
	}
	pairs, err := scanConninfo(dsn)
	if err != nil {
		return kvPasswordFallback.ReplaceAllString(dsn, "${1}"+hidden)
	}
	var b strings.Builder
	last := 0
	for _, p := range pairs {
		if !isPasswordKey(p.key) {
			continue
		}
		b.WriteString(dsn[last:p.start])
		if p.quoted {
			b.WriteString("'" + hidden + "'")
		} else {
			b.WriteString(hidden)
		}
		last = p.end
	}
	b.WriteString(dsn[last:])
	return b.String()
}

func isPasswordKey(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// A conninfoPair is one key=value of a key=value connection string; start
// and end delimit its value as written, quotes included.
type conninfoPair struct {
	key        string
	start, end int
	quoted     bool
}

// scanConninfo splits a libpq key=value connection string into its pairs,
// with libpq's rules: pairs are separated by spaces, a value is either
// single-quoted or runs to the next space, and a backslash escapes the next
// character.
func scanConninfo(s string) ([]conninfoPair, error) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	var pairs []conninfoPair
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return pairs, nil
		}
		k := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[k:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("expected key=value at offset %d", k)
		}
		i++ // '='
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		p := conninfoPair{key: key, start: i}
		if i < len(s) && s[i] == '\'' {
			p.quoted = true
			i++
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated quoted value of %q", key)
			}
			i++ // closing quote
		} else {
			for ; i < len(s) && !isSpace(s[i]); i++ {
				if s[i] == '\\' {
					i++
				}
			}
			if i > len(s) {
				i = len(s)
			}
		}
		p.end = i
		pairs = append(pairs, p)
	}
}
