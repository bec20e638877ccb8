package algoregtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/algoreg/algoreg-etl/load"
)

// Server is a Handler served on a loopback httptest.Server, closed when the
// test that made it ends.
type Server struct {
	*Handler
	URL   string // base URL, without the Save path: give it to load.NewClient
	Token string // the bearer token the Handler accepts

	srv *httptest.Server
}

// NewServer starts a Server with a random token ("test-" and 32 hex digits)
// and closes it when t ends. Closing waits for calls in progress: release any
// hook set with SetBeforeSave before then.
func NewServer(t testing.TB) *Server {
	t.Helper()
	token := "test-" + hex.EncodeToString(randomBytes(16))
	h := NewHandler(token)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &Server{Handler: h, URL: srv.URL, Token: token, srv: srv}
}

// Client returns a load.Client that calls s with its token, over a
// transport that s closes with it, with a 60 second timeout per call.
func (s *Server) Client() *load.Client {
	hc := &http.Client{Transport: s.srv.Client().Transport, Timeout: 60 * time.Second}
	return load.NewClient(s.URL, s.Token, hc)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails; see crypto/rand.Read
	return b
}
