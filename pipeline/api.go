package pipeline

import (
	"fmt"

	"github.com/algoreg/algoreg-etl/configs"
	"github.com/algoreg/algoreg-etl/load"
)

// NewAPI returns the client of the Algoreg tenant that a process's runs
// share (Env.API): it authenticates as the config says (a static token,
// the OAuth2 password grant or Basic auth), over an HTTPS transport with the
// config's CA and client certificate and the proxies of the environment.
// Build one per process, not one per run: it keeps the token, and refuses
// to log in again once the API refused its credentials.
func NewAPI(a configs.Algoreg) (*load.Client, error) {
	hc, err := load.NewHTTPClient(load.HTTPOptions{Timeout: a.Timeout, CAFile: a.CAFile, CertFile: a.CertFile, KeyFile: a.KeyFile})
	if err != nil {
		return nil, err
	}
	var auth load.Auth
	switch a.Auth {
	case configs.AuthToken:
		auth = load.BearerToken(a.Token.Reveal())
	case configs.AuthOAuth2:
		auth = load.PasswordGrant(a.Username, a.Password.Reveal())
	case configs.AuthBasic:
		auth = load.BasicAuth(a.Username, a.Password.Reveal())
	default:
		return nil, fmt.Errorf("algoreg: unknown way of authenticating %q", a.Auth)
	}
	return load.NewClient(a.URL, auth, hc), nil
}
