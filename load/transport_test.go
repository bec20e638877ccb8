package load_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
	"github.com/algoreg/algoreg-etl/load/algoregtest"
)

var oneCustomer = &load.SaveRequest{Customers: []load.Customer{{ExternalID: "A", AccountType: load.AccountFirm}}}

// An HTTPS API whose certificate no system trusts is reached with ca_file,
// and refused without it.
func TestHTTPSWithPrivateCA(t *testing.T) {
	s := algoregtest.NewTLSServer(t)
	hc, err := load.NewHTTPClient(load.HTTPOptions{CAFile: s.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load.NewClient(s.URL, load.PasswordGrant(s.Username, s.Key), hc).Save(context.Background(), oneCustomer); err != nil {
		t.Fatalf("Save with ca_file: %v", err)
	}
	if s.TokenRequests() != 1 || s.Requests() != 1 {
		t.Errorf("token calls %d, save calls %d; want 1, 1", s.TokenRequests(), s.Requests())
	}

	hc, err = load.NewHTTPClient(load.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = load.NewClient(s.URL, load.PasswordGrant(s.Username, s.Key), hc).Save(context.Background(), oneCustomer)
	if !errors.As(err, new(*tls.CertificateVerificationError)) || errors.Is(err, load.ErrUnauthorized) {
		t.Errorf("Save without ca_file: %v; want a certificate verification error", err)
	}

	for _, o := range []load.HTTPOptions{
		{CAFile: filepath.Join(t.TempDir(), "missing.pem")},
		{CAFile: writeFile(t, "empty.pem", "not a certificate")},
		{CertFile: s.CAFile},
	} {
		if _, err := load.NewHTTPClient(o); err == nil {
			t.Errorf("NewHTTPClient(%+v) succeeded", o)
		}
	}
}

// An API that requires a client certificate gets the one of CertFile and
// KeyFile.
func TestClientCertificate(t *testing.T) {
	ca, caKey := newCA(t)
	certPEM, keyPEM := newClientCert(t, ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	h := algoregtest.NewHandler("tok")
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	caFile := writeFile(t, "server.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))

	hc, err := load.NewHTTPClient(load.HTTPOptions{CAFile: caFile, CertFile: writeFile(t, "client.pem", certPEM), KeyFile: writeFile(t, "client.key", keyPEM)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load.NewClient(srv.URL, load.BearerToken("tok"), hc).Save(context.Background(), oneCustomer); err != nil {
		t.Fatalf("Save with a client certificate: %v", err)
	}
	hc, _ = load.NewHTTPClient(load.HTTPOptions{CAFile: caFile})
	if _, err := load.NewClient(srv.URL, load.BearerToken("tok"), hc).Save(context.Background(), oneCustomer); err == nil {
		t.Error("Save without a client certificate succeeded")
	}
	if h.Requests() != 1 {
		t.Errorf("the API answered %d calls, want 1", h.Requests())
	}
}

// HTTPS_PROXY sends the calls through the proxy, with CONNECT; NO_PROXY
// names hosts reached directly. net/http reads the variables once per
// process, so each case runs in a child process.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("ALGOREG_TEST_PROXY_CHILD") != "" {
		proxyChild()
		return
	}
	s := algoregtest.NewTLSServer(t)
	sandboxAddr := strings.TrimPrefix(s.URL, "https://")
	var mu sync.Mutex
	var connects []string
	// proxy tunnels every CONNECT to the sandbox, whatever host it names.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		connects = append(connects, r.Host)
		mu.Unlock()
		upstream, err := net.Dial("tcp", sandboxAddr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			upstream.Close()
			return
		}
		go func() { io.Copy(upstream, buf); upstream.Close() }()
		io.Copy(conn, upstream)
		conn.Close()
	}))
	defer proxy.Close()

	child := func(noProxy string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$")
		cmd.Env = append(os.Environ(), "ALGOREG_TEST_PROXY_CHILD=1",
			"HTTPS_PROXY="+proxy.URL, "https_proxy=", "NO_PROXY="+noProxy, "no_proxy=",
			// example.com is a name the sandbox's certificate holds;
			// only the proxy knows where it is.
			"CHILD_URL=https://example.com", "CHILD_CA="+s.CAFile, "CHILD_TOKEN="+s.Token)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := child(""); err != nil || !strings.Contains(out, "saved") {
		t.Fatalf("through the proxy: %v\n%s", err, out)
	}
	if out, err := child("example.com"); err != nil || !strings.Contains(out, "direct") {
		t.Fatalf("with NO_PROXY: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(connects) != 1 || connects[0] != "example.com:443" || s.Requests() != 1 {
		t.Errorf("the proxy tunnelled %q, the API answered %d calls; want example.com:443 once", connects, s.Requests())
	}
}

// proxyChild is the child process of TestProxyFromEnvironment.
func proxyChild() {
	hc, err := load.NewHTTPClient(load.HTTPOptions{CAFile: os.Getenv("CHILD_CA"), Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	target := os.Getenv("CHILD_URL")
	if os.Getenv("NO_PROXY") != "" {
		req, _ := http.NewRequest(http.MethodPost, target+load.SavePath, nil)
		u, err := hc.Transport.(*http.Transport).Proxy(req)
		if err != nil || u != nil {
			fmt.Println("proxied:", u, err)
			os.Exit(1)
		}
		fmt.Println("direct")
		os.Exit(0)
	}
	if _, err := load.NewClient(target, load.BearerToken(os.Getenv("CHILD_TOKEN")), hc).Save(context.Background(), oneCustomer); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("saved")
	os.Exit(0)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

func newClientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "algoreg-etl"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
}
