package health

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
)

// Probes speak TLS when TLS is set: verified against the CA and name, so
// a server whose certificate the CA did not sign, or that answers plain
// HTTP, is down; tcp checks complete the handshake.
func TestProbeTLS(t *testing.T) {
	ca := testcert.NewCA(t, "backends")
	wrong := testcert.NewCA(t, "wrong")
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "app.internal", "127.0.0.1").TLS}}
	s.StartTLS()
	defer s.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plain.Close()
	tlsAddr := strings.TrimPrefix(s.URL, "https://")
	plainAddr := strings.TrimPrefix(plain.URL, "http://")
	for _, tc := range []struct {
		name   string
		addr   string
		typ    CheckType
		cfg    *tls.Config
		ok     bool
		reason string
	}{
		{"http, ca, ip as name", tlsAddr, HTTP, &tls.Config{RootCAs: ca.Pool()}, true, "status 200"},
		{"http, ca, server name", tlsAddr, HTTP, &tls.Config{RootCAs: ca.Pool(), ServerName: "app.internal"}, true, "status 200"},
		{"tcp, ca", tlsAddr, TCP, &tls.Config{RootCAs: ca.Pool()}, true, "connected (tls)"},
		{"http, wrong ca", tlsAddr, HTTP, &tls.Config{RootCAs: wrong.Pool()}, false, "tls handshake: tls: failed to verify certificate"},
		{"tcp, wrong ca", tlsAddr, TCP, &tls.Config{RootCAs: wrong.Pool()}, false, "tls handshake: tls: failed to verify certificate"},
		{"wrong name", tlsAddr, HTTP, &tls.Config{RootCAs: ca.Pool(), ServerName: "other"}, false, "tls handshake: tls: failed to verify certificate"},
		{"insecure", tlsAddr, HTTP, &tls.Config{InsecureSkipVerify: true}, true, "status 200"},
		{"plain server", plainAddr, HTTP, &tls.Config{RootCAs: ca.Pool()}, false, "tls handshake: "},
	} {
		p := &prober{addr: tc.addr}
		o := &ActiveOptions{Type: tc.typ, Path: "/", Timeout: 2 * time.Second, TLS: tc.cfg}
		ok, reason := p.probe(context.Background(), o, nil)
		if ok != tc.ok || !strings.HasPrefix(reason, tc.reason) {
			t.Errorf("%s: ok=%v reason %q, want %v %q…", tc.name, ok, reason, tc.ok, tc.reason)
		}
	}
}
