package configs

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// This file holds the credentials of the file: the Algoreg token or
// programmatic user, the files secrets may be read from, and the TLS files.

// maxSecretFile is the largest secret file read: a key or a password is
// short, so a bigger file is the wrong file.
const maxSecretFile = 64 << 10

// resolve returns path relative to dir, as query paths are.
func resolve(dir, path string) string {
	if filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// readSecretFile reads the secret in the file named by f (relative to dir):
// its content without its trailing line break (a file written by echo, or
// by an editor, ends with one). It reports a missing, unreadable, empty or
// oversized file, or a secret on several lines, at f's line; the content is
// never shown.
func readSecretFile(p *problems, f *field[string], key, dir string) (string, bool) {
	if !fieldOK(p, f, "", key) {
		return "", false
	}
	if f.val == "" {
		p.add(f.line, "", key, "is empty: give the path of a file holding the secret")
		return "", false
	}
	path := resolve(dir, f.val)
	info, err := os.Stat(path)
	switch {
	case err != nil:
		p.add(f.line, "", key, "%v", err)
		return "", false
	case !info.Mode().IsRegular():
		p.add(f.line, "", key, "%s is not a regular file", path)
		return "", false
	case info.Size() > maxSecretFile:
		p.add(f.line, "", key, "%s holds %d bytes: not a secret (at most %d)", path, info.Size(), maxSecretFile)
		return "", false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		p.add(f.line, "", key, "%v", err)
		return "", false
	}
	secret := strings.TrimRight(string(data), "\r\n")
	switch {
	case secret == "":
		p.add(f.line, "", key, "%s is empty", path)
		return "", false
	case strings.ContainsAny(secret, "\r\n"):
		p.add(f.line, "", key, "%s holds several lines: a secret is one line (content not shown)", path)
		return "", false
	}
	return secret, true
}

// checkDSNPassword adds the password of the file named by f, if given, to
// dsn, which must not hold one already.
func checkDSNPassword(p *problems, dsn DSN, f *field[string], key, dir string) DSN {
	if !f.set && f.bad == "" {
		return dsn
	}
	pw, ok := readSecretFile(p, f, key, dir)
	if !ok || dsn == "" {
		return dsn
	}
	out, err := withPassword(string(dsn), pw)
	if err != nil {
		p.add(f.line, "", key, "%v", err)
		return dsn
	}
	return DSN(out)
}

// withPassword returns dsn with password pw: as the "password" parameter of
// a URL, or the password key of a key=value string.
func withPassword(dsn, pw string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("the dsn is not a valid URL")
		}
		q := u.Query()
		if _, set := u.User.Password(); set || q.Has("password") {
			return "", fmt.Errorf("the dsn holds a password already: give one or the other")
		}
		q.Set("password", pw)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	pairs, err := scanConninfo(dsn)
	if err != nil {
		return "", fmt.Errorf("the dsn is not a valid key=value connection string")
	}
	for _, pair := range pairs {
		if strings.EqualFold(pair.key, "password") {
			return "", fmt.Errorf("the dsn holds a password already: give one or the other")
		}
	}
	quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw) + "'"
	return strings.TrimRight(dsn, " \t\r\n") + " password=" + quoted, nil
}

// checkAlgoregAuth checks the credentials of the algoreg section: exactly
// one of a token (token or token_file) and a programmatic user (username
// with password or password_file), and auth, which only a user takes.
func checkAlgoregAuth(p *problems, a *algoregSection, c *Algoreg, sectionLine int, dir string) {
	hasToken := a.Token.given() || a.TokenFile.given()
	hasUser := a.Username.given() || a.Password.given() || a.PasswordFile.given()
	both := func(x, y string, lx, ly int) {
		p.add(max(lx, ly), "", "algoreg."+y, "give %s or %s, not both", x, y)
	}

	switch {
	case hasToken && hasUser:
		p.add(or(a.Username.line, a.Password.line, a.PasswordFile.line), "", "algoreg",
			"give either a token (token or token_file) or a programmatic user (username with password or password_file), not both")
		return
	case !hasToken && !hasUser:
		const want = "username with password or password_file (the programmatic user's email and API key), or token or token_file"
		for _, f := range []struct {
			f   *field[Secret]
			key string
		}{{&a.Token, "algoreg.token"}, {&a.Password, "algoreg.password"}} {
			if f.f.set { // given empty, as by an empty ${VARIABLE}
				p.add(f.f.line, "", f.key, "is required: it is empty")
				return
			}
		}
		for _, f := range []struct {
			f   *field[string]
			key string
		}{{&a.TokenFile, "algoreg.token_file"}, {&a.Username, "algoreg.username"}, {&a.PasswordFile, "algoreg.password_file"}} {
			if f.f.set {
				p.add(f.f.line, "", f.key, "is required: it is empty")
				return
			}
		}
		p.add(sectionLine, "", "algoreg", "credentials are required: "+want)
		return
	}

	if hasToken {
		c.Auth = AuthToken
		if a.Auth.given() {
			p.add(a.Auth.line, "", "algoreg.auth", "applies to username and password; a token is always sent as \"Authorization: Bearer\"")
		}
		var token string
		switch {
		case a.Token.given() && a.TokenFile.given():
			both("token", "token_file", a.Token.line, a.TokenFile.line)
			return
		case a.TokenFile.given():
			var ok bool
			if token, ok = readSecretFile(p, &a.TokenFile, "algoreg.token_file", dir); !ok {
				return
			}
		case fieldOK(p, &a.Token, "", "algoreg.token"):
			token = string(a.Token.val)
		default:
			return
		}
		if strings.ContainsAny(token, " \t\r\n") {
			key := "algoreg.token"
			if a.TokenFile.given() {
				key = "algoreg.token_file"
			}
			p.add(or(a.Token.line, a.TokenFile.line), "", key, "holds spaces or line breaks (value not shown)")
			return
		}
		c.Token = Secret(token)
		return
	}

	// A programmatic user.
	c.Auth = AuthOAuth2
	if fieldOK(p, &a.Auth, "", "algoreg.auth") {
		switch a.Auth.val {
		case AuthOAuth2, AuthBasic:
			c.Auth = a.Auth.val
		default:
			p.add(a.Auth.line, "", "algoreg.auth", "want oauth2 (the default) or basic, got %q", a.Auth.val)
		}
	}
	switch {
	case !a.Username.given():
		p.add(or(a.Password.line, a.PasswordFile.line), "", "algoreg.username", "is required with a password: the programmatic user's email")
	case fieldOK(p, &a.Username, "", "algoreg.username"):
		switch u := a.Username.val; {
		case strings.ContainsFunc(u, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			p.add(a.Username.line, "", "algoreg.username", "%q holds spaces or control characters", u)
		case strings.Contains(u, ":"):
			p.add(a.Username.line, "", "algoreg.username", "%q holds ':', which Basic auth cannot carry", u)
		default:
			c.Username = u
		}
	}
	switch {
	case a.Password.given() && a.PasswordFile.given():
		both("password", "password_file", a.Password.line, a.PasswordFile.line)
	case a.PasswordFile.given():
		if pw, ok := readSecretFile(p, &a.PasswordFile, "algoreg.password_file", dir); ok {
			c.Password = Secret(pw)
		}
	case a.Password.given():
		if fieldOK(p, &a.Password, "", "algoreg.password") {
			if strings.ContainsAny(string(a.Password.val), "\r\n") {
				p.add(a.Password.line, "", "algoreg.password", "holds line breaks (value not shown)")
			} else {
				c.Password = a.Password.val
			}
		}
	default:
		p.add(a.Username.line, "", "algoreg.password", "is required with username (the API key), or give password_file")
	}
}

// checkTLSFiles checks the TLS files of the algoreg section: each must be
// a readable file; cert_file and key_file go together.
func checkTLSFiles(p *problems, a *algoregSection, c *Algoreg, dir string) {
	file := func(f *field[string], key string) string {
		if !fieldOK(p, f, "", key) || f.val == "" {
			return ""
		}
		path := resolve(dir, f.val)
		if fh, err := os.Open(path); err != nil {
			p.add(f.line, "", key, "%v", err)
			return ""
		} else {
			fh.Close()
		}
		return path
	}
	c.CAFile = file(&a.CAFile, "algoreg.ca_file")
	c.CertFile = file(&a.CertFile, "algoreg.cert_file")
	c.KeyFile = file(&a.KeyFile, "algoreg.key_file")
	switch {
	case a.CertFile.given() && !a.KeyFile.given():
		p.add(a.CertFile.line, "", "algoreg.key_file", "is required with cert_file: the client certificate's private key")
	case a.KeyFile.given() && !a.CertFile.given():
		p.add(a.KeyFile.line, "", "algoreg.cert_file", "is required with key_file: the client certificate")
	}
}
