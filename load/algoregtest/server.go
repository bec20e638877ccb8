package algoregtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// Server is a Handler served on a loopback httptest.Server, closed when the
// test that made it ends.
type Server struct {
	*Handler
	URL   string // base URL, without the Save path: give it to load.NewClient
	Token string // a static bearer token the Handler accepts

	// A programmatic user the Handler accepts, at the token endpoint and
	// with Basic auth.
	Username, Key string

	// CAFile is, for a server made by NewTLSServer, a PEM file of the
	// certificate it serves, to trust as ca_file; "" otherwise.
	CAFile string

	srv *httptest.Server
}

// NewServer starts a Server with a random token ("test-" and 32 hex digits)
// and a programmatic user "etl@sandbox.test" with a random key ("key-" and
// 32 hex digits), and closes it when t ends. Closing waits for calls in
// progress: release any hook set with SetBeforeSave before then.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := newServer()
	s.srv = httptest.NewServer(s.Handler)
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

// NewTLSServer is NewServer over HTTPS, with a certificate for 127.0.0.1
// and example.com that no system trusts: clients must trust CAFile.
func NewTLSServer(t testing.TB) *Server {
	t.Helper()
	s := newServer()
	s.srv = httptest.NewTLSServer(s.Handler)
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.CAFile = filepath.Join(t.TempDir(), "algoreg-sandbox-ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}
	if err := os.WriteFile(s.CAFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func newServer() *Server {
	token := "test-" + hex.EncodeToString(randomBytes(16))
	s := &Server{Handler: NewHandler(token), Token: token, Username: "etl@sandbox.test", Key: "key-" + hex.EncodeToString(randomBytes(16))}
	s.AddUser(s.Username, s.Key)
	return s
}

// Client returns a load.Client that calls s with its static token, over a
// transport that s closes with it, with a 60 second timeout per call.
func (s *Server) Client() *load.Client { return s.ClientWith(load.BearerToken(s.Token)) }

// ClientWith returns a load.Client that calls s with auth, over a
// transport that s closes with it (trusting its certificate), with a 60
// second timeout per call.
func (s *Server) ClientWith(auth load.Auth) *load.Client {
	hc := &http.Client{Transport: s.srv.Client().Transport, Timeout: 60 * time.Second}
	return load.NewClient(s.URL, auth, hc)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails; see crypto/rand.Read
	return b
}
