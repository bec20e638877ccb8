package load

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// HTTPOptions configure the *http.Client that NewHTTPClient returns.
type HTTPOptions struct {
	// Timeout bounds one call, from sending it to reading its answer;
	// 0 means 60 seconds.
	Timeout time.Duration
	// CAFile, if not empty, is a PEM file of CA certificates trusted
	// besides the system's roots: a bank's private CA, or the one of a
	// proxy that inspects TLS.
	CAFile string
	// CertFile and KeyFile, if not empty, are a PEM client certificate and
	// its private key, presented when the server asks for one (mutual
	// TLS). Both or neither.
	CertFile, KeyFile string
}

// NewHTTPClient returns an *http.Client for the API as a bank's network
// needs it:
//
//   - proxies from the environment, as http.ProxyFromEnvironment reads it:
//     HTTPS_PROXY (or https_proxy) for https:// URLs, HTTP_PROXY for
//     http:// ones, and NO_PROXY, a comma-separated list of hosts, domains
//     ("bank.example" for it and its subdomains, ".bank.example" for its
//     subdomains only), IP addresses and CIDR ranges reached directly;
//     loopback addresses are always reached directly. The variables are
//     read once per process, at the first call.
//   - TLS 1.2 or later, verified against the system's roots plus
//     CAFile's certificates; the client certificate of CertFile and KeyFile
//     when given. The files are read here, once.
//   - HTTP/2 when the server offers it, keep-alive connections, and
//     o.Timeout per call.
func NewHTTPClient(o HTTPOptions) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		roots, err := x509.SystemCertPool()
		if err != nil || roots == nil {
			roots = x509.NewCertPool() // no system roots (e.g. a scratch image): the file's alone
		}
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("algoreg ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("algoreg ca_file %s: no PEM certificate in it", o.CAFile)
		}
		tlsConf.RootCAs = roots
	}
	switch {
	case o.CertFile != "" && o.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			// The error names the files and what is wrong, never the key.
			return nil, fmt.Errorf("algoreg client certificate: %w", err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	case o.CertFile != "" || o.KeyFile != "":
		return nil, errors.New("algoreg client certificate: give both the certificate and the key files")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = http.ProxyFromEnvironment
	t.TLSClientConfig = tlsConf
	t.ForceAttemptHTTP2 = true
	t.MaxIdleConnsPerHost = 64 // the calls in flight of every job
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &http.Client{Transport: t, Timeout: timeout}, nil
}
