package state

import (
	"errors"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// kvPassword finds the password of a key=value DSN: password=secret or
// password='a secret with \' quotes'.
var kvPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:\\.|[^'\\])*'|\S*)`)

const hidden = "xxxxx"

// isURL reports whether dsn is in URL form rather than key=value form.
func isURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// redactDSN returns dsn with its password hidden, for error messages.
func redactDSN(dsn string) string {
	if !isURL(dsn) {
		return kvPassword.ReplaceAllString(dsn, "password="+hidden)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "an unparsable database URL"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", hidden)
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// passwords returns the forms in which dsn's password may appear in an error
// message: as written in dsn and as decoded.
func passwords(dsn string) []string {
	var ps []string
	add := func(p string) {
		if p != "" {
			ps = append(ps, p)
			if d, err := url.PathUnescape(p); err == nil && d != p {
				ps = append(ps, d)
			}
			if d, err := url.QueryUnescape(p); err == nil && d != p {
				ps = append(ps, d)
			}
		}
	}
	if isURL(dsn) {
		// By hand rather than with url.Parse, which fails on the very DSNs
		// whose errors need redacting: scheme://user:password@host/db?query.
		rest, query, _ := strings.Cut(dsn[strings.Index(dsn, "://")+3:], "?")
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, p, ok := strings.Cut(rest[:at], ":"); ok {
				add(p)
			}
		}
		for _, kv := range strings.Split(query, "&") {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "password") {
				add(v)
			}
		}
		return ps
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		p := m[1]
		add(p)
		if len(p) >= 2 && strings.HasPrefix(p, "'") && strings.HasSuffix(p, "'") {
			add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(p[1 : len(p)-1]))
		}
	}
	return ps
}

// redact returns err unchanged when its message holds none of the forms of
// dsn's password. Otherwise it returns an error with the password hidden
// that does not wrap err, so that the password cannot be reached through
// errors.Unwrap either.
func redact(err error, dsn string) error {
	msg := err.Error()
	clean := msg
	ps := passwords(dsn)
	// Longest first, so that no part of a longer form is left behind.
	sort.Slice(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	for _, p := range ps {
		clean = strings.ReplaceAll(clean, p, hidden)
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
