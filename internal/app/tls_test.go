package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testcert"
	"github.com/sluicelb/sluice/internal/testtool"
)

// tlsFile writes src to a config file in a temporary directory.
func tlsFile(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sluice.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsGet does one HTTPS GET through addr with SNI name, trusting ca; it
// returns the status, body and the serial of the certificate served.
func tlsGet(t *testing.T, addr, sni string, ca *testcert.CA, path string) (int, string, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: sni, RootCAs: ca.Pool()},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get("https://" + sni + path)
	if err != nil {
		t.Fatalf("GET https://%s%s via %s: %v", sni, path, addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS.PeerCertificates[0].SerialNumber.String()
}

// SNI picks the right certificate for a Go client, openssl s_client and
// curl --resolve; a reload swaps a certificate on the same listener; the
// TLS metrics count handshakes (full, resumed) and show expiries;
// redirect_from answers 308 to https with the path and query kept.
func TestTLSFrontend(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	a1 := ca.Issue(t, "a.example.com")
	w := ca.Issue(t, "*.example.org")
	be := obsHTTPBackend(t, 200, "hello")
	admin, web, plain := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	conf := func(a *testcert.Leaf) string {
		return fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - name: web
    listen: %q
    backend: app
    tls:
      certificates:
        - {cert: %s, key: %s}
        - {cert: %s, key: %s}
      redirect_from: %q
      hsts: 1h
backends:
  - name: app
    servers: [{address: %q}]
`, admin, web, a.CertFile, a.KeyFile, w.CertFile, w.KeyFile, plain, be)
	}
	file := tlsFile(t, conf(a1))
	app := obsStartFile(t, file, Options{})
	obsWaitListening(t, web)

	for _, tc := range []struct{ sni, serial string }{
		{"a.example.com", a1.X509.SerialNumber.String()},
		{"www.example.org", w.X509.SerialNumber.String()},
	} {
		code, body, serial := tlsGet(t, web, tc.sni, ca, "/")
		if code != 200 || body != "hello" || serial != tc.serial {
			t.Fatalf("%s: %d %q serial %s, want %s", tc.sni, code, body, serial, tc.serial)
		}
	}
	// openssl s_client and curl --resolve, as an operator checks.
	openssl := testtool.Need(t, "openssl")
	for _, tc := range []struct{ sni, want string }{{"a.example.com", "a.example.com"}, {"x.example.org", "*.example.org"}} {
		cmd := exec.Command(openssl, "s_client", "-connect", web, "-servername", tc.sni, "-CAfile", ca.File, "-verify_return_error")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verify return code: 0 (ok)") ||
			!strings.Contains(string(out), "subject=CN="+tc.want) && !strings.Contains(string(out), "subject=CN = "+tc.want) {
			t.Fatalf("openssl s_client -servername %s: %v\n%s", tc.sni, err, out)
		}
	}
	curl := testtool.Need(t, "curl")
	_, port, _ := net.SplitHostPort(web)
	out, err := exec.Command(curl, "-sS", "--cacert", ca.File, "--resolve", "a.example.com:"+port+":127.0.0.1",
		"-D", "-", "https://a.example.com:"+port+"/x").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("hello")) || !bytes.Contains(bytes.ToLower(out), []byte("strict-transport-security: max-age=3600")) {
		t.Fatalf("curl --resolve: %v\n%s", err, out)
	}

	// redirect_from: 308 to https, path and query kept.
	c, err := net.Dial("tcp", plain)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /p/a?q=1&r=2 HTTP/1.1\r\nHost: a.example.com\r\nContent-Length: 0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil || resp.StatusCode != 308 || resp.Header.Get("Location") != "https://a.example.com:"+port+"/p/a?q=1&r=2" {
		t.Fatalf("redirect: %v %v %q", err, resp.StatusCode, resp.Header.Get("Location"))
	}

	// A reload swaps a.example.com's certificate on the same listener.
	a2 := ca.Issue(t, "a.example.com")
	os.WriteFile(file, []byte(conf(a2)), 0o600)
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	if _, _, serial := tlsGet(t, web, "a.example.com", ca, "/"); serial != a2.X509.SerialNumber.String() {
		t.Fatalf("after the reload serial %s, want %s", serial, a2.X509.SerialNumber)
	}

	// Resumption, then the metrics.
	cache := tls.NewLRUClientSessionCache(4)
	for i := 0; i < 2; i++ {
		conn, err := tls.Dial("tcp", web, &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool(), ClientSessionCache: cache})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: a.example.com\r\nConnection: close\r\n\r\n")
		io.ReadAll(conn)
		if st := conn.ConnectionState(); i == 1 && !st.DidResume {
			t.Fatal("the second connection did not resume")
		}
		conn.Close()
	}
	obsEventually(t, 5*time.Second, func() error {
		ms := obsMetrics(t, admin)
		if v, _ := obsFind(ms, "sluice_tls_handshakes_total", obsLabels("frontend", "web", "resumed", "true")); v < 1 {
			return fmt.Errorf("resumed handshakes %v", v)
		}
		if v, _ := obsFind(ms, "sluice_tls_handshakes_total", obsLabels("frontend", "web", "resumed", "false")); v < 5 {
			return fmt.Errorf("full handshakes %v", v)
		}
		exp, ok := obsFind(ms, "sluice_tls_certificate_expiry_seconds", obsLabels("frontend", "web", "name", "a.example.com"))
		if !ok || exp < 20*3600 || exp > 25*3600 {
			return fmt.Errorf("expiry of a.example.com = %v (found %v)", exp, ok)
		}
		if _, ok := obsFind(ms, "sluice_tls_handshake_failures_total", obsLabels("frontend", "web", "reason", "timeout")); !ok {
			return fmt.Errorf("no failure series")
		}
		return nil
	})
}

// A reload that swaps the certificate while a 1 GiB download runs over
// TLS: the download completes intact on its connection, new connections
// get the new certificate, the listener is never rebound.
func TestTLSReloadDuringLongDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer")
	}
	const size = 1 << 30
	ca := testcert.NewCA(t, "sluice-test")
	c1, c2 := ca.Issue(t, "a.example.com"), ca.Issue(t, "a.example.com")
	// The backend streams a deterministic pattern: byte i is pattern(i).
	be := obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if err := obsReadHead(br); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		for off := 0; off < size; {
			n := min(len(tlsPattern)-off%len(tlsPattern), size-off)
			if _, err := c.Write(tlsPattern[off%len(tlsPattern):][:n]); err != nil {
				return
			}
			off += n
		}
	})
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	conf := func(l *testcert.Leaf) string {
		return fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - name: web
    listen: %q
    backend: app
    timeouts: {client_write: 30s}
    tls: {certificates: [{cert: %s, key: %s}]}
backends:
  - name: app
    timeouts: {response: 30s}
    servers: [{address: %q}]
`, admin, web, l.CertFile, l.KeyFile, be)
	}
	file := tlsFile(t, conf(c1))
	app := obsStartFile(t, file, Options{})
	obsWaitListening(t, web)

	conn, err := tls.Dial("tcp", web, &tls.Config{ServerName: "a.example.com", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if conn.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(c1.X509.SerialNumber) != 0 {
		t.Fatal("not the first certificate")
	}
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	br := bufio.NewReaderSize(conn, 256<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("response: %v %+v", err, resp)
	}
	var got atomic.Int64
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		off := 0
		for off < size {
			n, err := io.ReadFull(resp.Body, buf[:min(len(buf), len(tlsPattern)-off%len(tlsPattern))])
			if n > 0 {
				if !bytes.Equal(buf[:n], tlsPattern[off%len(tlsPattern):][:n]) {
					done <- fmt.Errorf("corrupt bytes at offset %d", off)
					return
				}
				off += n
				got.Store(int64(off))
			}
			if err != nil {
				if off < size {
					done <- fmt.Errorf("after %d bytes: %v", off, err)
					return
				}
				break
			}
		}
		done <- nil
	}()
	obsEventually(t, time.Minute, func() error {
		if got.Load() < 64<<20 {
			return fmt.Errorf("only %d bytes so far", got.Load())
		}
		return nil
	})
	os.WriteFile(file, []byte(conf(c2)), 0o600)
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	if _, _, serial := tlsGet(t, web, "a.example.com", ca, "/"); serial == c1.X509.SerialNumber.String() {
		t.Fatal("new connections still get the old certificate after the reload")
	}
	if got.Load() >= size {
		t.Log("the download finished before the reload was checked (fast machine)")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatalf("download stuck at %d bytes", got.Load())
	}
}

// tlsPattern is what the long download repeats: random bytes of a length
// that divides nothing else in the test, so a lost, repeated or misplaced
// chunk shows.
var tlsPattern = func() []byte {
	b := make([]byte, 1<<20+7)
	for i := range b {
		x := uint32(i) * 2654435761
		b[i] = byte(x>>24 ^ x>>11)
	}
	return b
}()

// tlsHTTPSBackend is an HTTPS server with a certificate for names signed
// by ca; it answers its name and counts the TLS connections it accepted.
func tlsHTTPSBackend(t *testing.T, ca *testcert.CA, accepted *atomic.Int64, names ...string) string {
	t.Helper()
	leaf := ca.Issue(t, names...)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secure "+r.TLS.ServerName)
	}), ConnState: func(c net.Conn, s http.ConnState) {
		if s == http.StateNew && accepted != nil {
			accepted.Add(1)
		}
	}, IdleTimeout: time.Minute}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TLS to a backend: verified against the configured CA — requests and
// health checks — and refused (health checks down, 503) against the wrong
// one; a reload that leaves the tls block unchanged keeps the pooled
// connections, one that changes the CA file's content does not.
func TestBackendTLSVerifiesAndKeepsPools(t *testing.T) {
	ca := testcert.NewCA(t, "backends")
	wrong := testcert.NewCA(t, "wrong")
	var accepted atomic.Int64
	be := tlsHTTPSBackend(t, ca, &accepted, "app.internal")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o600)
	admin, web, web2 := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	conf := func(extra string) string {
		return fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - {name: web, listen: %q, backend: app}
%sbackends:
  - name: app
    timeouts: {idle: 1m}
    tls: {enabled: true, server_name: app.internal, ca: %s}
    health: {active: {type: http, path: /, interval: 200ms, timeout: 150ms, healthy_threshold: 1, unhealthy_threshold: 1}}
    servers: [{address: %q}]
`, admin, web, extra, caFile, be)
	}
	file := tlsFile(t, conf(""))
	app := obsStartFile(t, file, Options{})
	obsWaitListening(t, web)
	c := obsNewClient(web)
	get := func() (int, string) {
		c.req.SetRequestURI("http://" + web + "/")
		if err := c.hc.Do(c.req, c.resp); err != nil {
			t.Fatal(err)
		}
		return c.resp.StatusCode(), string(c.resp.Body())
	}
	if code, body := get(); code != 200 || body != "secure app.internal" {
		t.Fatalf("through TLS: %d %q", code, body)
	}
	// Reload with an unchanged backend (a frontend added): the backend and
	// its pools are kept.
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", be)
	pooled := app.backends["app"].l7
	os.WriteFile(file, []byte(conf(fmt.Sprintf("  - {name: web2, listen: %q, backend: app}\n", web2))), 0o600)
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(); code != 200 {
		t.Fatal("after an unchanged reload")
	}
	if app.backends["app"].l7 != pooled {
		t.Fatal("an unchanged tls block replaced the backend's pools")
	}
	// The CA file now holds the wrong CA: new pools, requests refused, and
	// the health check takes the server down.
	os.WriteFile(caFile, wrong.PEM, 0o600)
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	if app.backends["app"].l7 == pooled {
		t.Fatal("a changed CA kept the old pools")
	}
	obsWant(t, admin, 0, "sluice_backend_health", "backend", "app", "server", be)
	if code, _ := get(); code != 503 {
		t.Fatalf("with the wrong CA: status %d, want 503 (server down)", code)
	}
	// Back to the right CA: healthy again, served.
	os.WriteFile(caFile, ca.PEM, 0o600)
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", be)
	if code, body := get(); code != 200 || body != "secure app.internal" {
		t.Fatalf("after restoring the CA: %d %q", code, body)
	}
}

// A certificate that expires within 14 days is a warning at start and at
// every reload (naming the frontend, the certificate and the file).
func TestCertificateExpiryWarning(t *testing.T) {
	ca := testcert.NewCA(t, "sluice-test")
	soon := ca.IssueWith(t, testcert.Options{NotAfter: time.Now().Add(5 * 24 * time.Hour)}, "soon.example.com")
	later := ca.IssueWith(t, testcert.Options{NotAfter: time.Now().Add(60 * 24 * time.Hour)}, "later.example.com")
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	src := fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - name: web
    listen: %q
    backend: app
    tls: {certificates: [{cert: %s, key: %s}, {cert: %s, key: %s}]}
backends:
  - {name: app}
`, admin, web, later.CertFile, later.KeyFile, soon.CertFile, soon.KeyFile)
	file := tlsFile(t, src)
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	var buf obsBuffer
	app, err := New(Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(cfg); err != nil {
		t.Fatal(err)
	}
	defer app.Shutdown(context.Background())
	count := func() int {
		return strings.Count(strings.Join(buf.Lines(), "\n"), `msg="certificate expires soon" frontend=web name=soon.example.com file=`+soon.CertFile)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d warnings at start:\n%s", n, strings.Join(buf.Lines(), "\n"))
	}
	if strings.Contains(strings.Join(buf.Lines(), "\n"), "name=later.example.com") {
		t.Fatal("a certificate valid for 60 days was warned about")
	}
	if err := app.Reload(file); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d warnings after a reload, want 2", n)
	}
}

// tcp routes by SNI from the configuration: each session is counted and
// logged under the backend it reached.
func TestSNIRoutesCountedPerBackend(t *testing.T) {
	echo := func(name string) string {
		return obsServe(t, func(c net.Conn) {
			b := make([]byte, 4096)
			if _, err := c.Read(b); err == nil { // the ClientHello, replayed
				io.WriteString(c, name)
			}
		})
	}
	db1, def := echo("db1"), echo("default")
	admin, pg := obsFreeAddr(t), obsFreeAddr(t)
	var alog obsBuffer
	a := obsStart(t, fmt.Sprintf(`admin: {listen: %q}
frontends:
  - name: pg
    mode: tcp
    listen: %q
    backend: other
    routes:
      - {match: {sni: [db1.example.com]}, backend: db1}
backends:
  - {name: db1, servers: [{address: %q}]}
  - {name: other, servers: [{address: %q}]}
`, admin, pg, db1, def), Options{AccessLogWriter: &alog})
	_ = a
	obsWaitListening(t, pg)
	for _, tc := range []struct{ sni, want string }{{"db1.example.com", "db1"}, {"", "default"}} {
		c, err := net.Dial("tcp", pg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// The TLS client only writes its hello: the echo's answer is read
		// here alone (a handshake reading c too could take it).
		hs := &helloOnly{Conn: c, done: make(chan struct{})}
		go tls.Client(hs, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true}).Handshake()
		var got [16]byte
		n, _ := io.ReadAtLeast(c, got[:], len(tc.want))
		close(hs.done)
		c.Close()
		if string(got[:n]) != tc.want {
			t.Fatalf("SNI %q reached %q, want %q", tc.sni, got[:n], tc.want)
		}
	}
	obsWant(t, admin, 1, "sluice_tcp_sessions_total", "frontend", "pg", "backend", "db1")
	obsWant(t, admin, 1, "sluice_tcp_sessions_total", "frontend", "pg", "backend", "other")
	obsEventually(t, 5*time.Second, func() error {
		log := strings.Join(alog.Lines(), "\n")
		if !strings.Contains(log, `"backend":"db1"`) || !strings.Contains(log, `"backend":"other"`) {
			return fmt.Errorf("access log: %s", log)
		}
		return nil
	})
}

// helloOnly lets a TLS client write its ClientHello on Conn but never read
// from it: Read waits until done is closed.
type helloOnly struct {
	net.Conn
	done chan struct{}
}

func (h *helloOnly) Read([]byte) (int, error) { <-h.done; return 0, io.EOF }
