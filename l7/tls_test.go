package l7

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/certs"
	"github.com/sluicelb/sluice/internal/testcert"
)

// tlsFront is a certs.Server for a.example.com (the default) and
// *.b.example.com, signed by ca.
type tlsFront struct {
	ca  *testcert.CA
	srv *certs.Server
}

func newTLSFront(t testing.TB) *tlsFront {
	t.Helper()
	ca := testcert.NewCA(t, "front")
	var pairs []*certs.Pair
	for _, n := range []string{"a.example.com", "*.b.example.com"} {
		l := ca.Issue(t, n)
		p, err := certs.LoadPair(l.CertFile, l.KeyFile, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, p)
	}
	return &tlsFront{ca: ca, srv: certs.NewServer(certs.Settings{Store: certs.NewStore(pairs)})}
}

func (f *tlsFront) client(sni string) *tls.Config {
	return &tls.Config{ServerName: sni, RootCAs: f.ca.Pool()}
}

// tlsObs records handshake outcomes.
type tlsObs struct {
	mu       sync.Mutex
	ok       map[bool]int
	failures map[string]int
}

func newTLSObs() *tlsObs { return &tlsObs{ok: map[bool]int{}, failures: map[string]int{}} }
func (o *tlsObs) TLSHandshake(resumed bool) {
	o.mu.Lock()
	o.ok[resumed]++
	o.mu.Unlock()
}
func (o *tlsObs) TLSHandshakeFailed(reason string) {
	o.mu.Lock()
	o.failures[reason]++
	o.mu.Unlock()
}
func (o *tlsObs) failed(reason string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failures[reason]
}

// rawTLSExchange is rawExchange over TLS.
func rawTLSExchange(t testing.TB, addr string, cfg *tls.Config, raw string, checkClose bool) rawResult {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rawExchangeOn(t, c, raw, checkClose)
}

// The smuggling and strictness table of TestStrictRejects, over TLS: the
// same statuses, the connection closed, nothing reaches the backend.
func TestStrictRejectsOverTLS(t *testing.T) {
	front := newTLSFront(t)
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rb := startRawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			_, addr := startProxy(t, Options{
				Default: newBackend(t, "web", BackendOptions{}, rb.addr),
				Limits:  Limits{MaxHeaderBytes: 1024, MaxBodyBytes: 1024},
				TLS:     front.srv.Config(),
			})
			res := rawTLSExchange(t, addr, front.client("a.example.com"), tc.raw, true)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", res.status, tc.status, res.body)
			}
			if !res.closed {
				t.Fatalf("connection not closed after %d", res.status)
			}
			if n := rb.connsBefore(t); n != 0 {
				t.Fatalf("backend got %d connections (%d bytes)", n, rb.bytes.Load())
			}
		})
	}
}

// SNI picks the certificate; the backend sees X-Forwarded-Proto: https;
// HSTS is added; ALPN is http/1.1; handshakes are counted.
func TestTLSTermination(t *testing.T) {
	front := newTLSFront(t)
	be := startBackend(t, okHandler)
	obs := newTLSObs()
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr),
		TLS: front.srv.Config(), TLSObserver: obs, HSTS: 48 * time.Hour})
	for _, tc := range []struct{ sni, want string }{
		{"a.example.com", "a.example.com"},
		{"x.b.example.com", "*.b.example.com"},
		{"", "a.example.com"},
	} {
		cfg := front.client(tc.sni)
		if tc.sni == "" {
			cfg.InsecureSkipVerify = true
		}
		cfg.NextProtos = []string{"h2", "http/1.1"}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + addr + "/p?q=1")
		if err != nil {
			t.Fatalf("%q: %v", tc.sni, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		if got := resp.TLS.PeerCertificates[0].DNSNames[0]; got != tc.want {
			t.Fatalf("SNI %q: certificate %s, want %s", tc.sni, got, tc.want)
		}
		if resp.TLS.NegotiatedProtocol != "http/1.1" || resp.ProtoMajor != 1 {
			t.Fatalf("ALPN %q proto %s", resp.TLS.NegotiatedProtocol, resp.Proto)
		}
		if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=172800" {
			t.Fatalf("HSTS = %q", h)
		}
		if r := be.lastRequest(t); r.Header.Get("X-Forwarded-Proto") != "https" || r.URL.RawQuery != "q=1" {
			t.Fatalf("backend saw X-Forwarded-Proto %q query %q", r.Header.Get("X-Forwarded-Proto"), r.URL.RawQuery)
		}
	}
	waitFor(t, 5*time.Second, "3 handshakes counted", func() bool {
		obs.mu.Lock()
		defer obs.mu.Unlock()
		return obs.ok[false] == 3
	})
}

// A client that opens TLS and stalls is closed at client_header; a plain
// HTTP request to the TLS port gets a readable 400; both are counted by
// reason, and neither holds up another client.
func TestTLSHandshakeBounded(t *testing.T) {
	front := newTLSFront(t)
	be := startBackend(t, okHandler)
	obs := newTLSObs()
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr),
		TLS: front.srv.Config(), TLSObserver: obs, Timeouts: Timeouts{ClientHeader: 400 * time.Millisecond}})

	stalled := make([]net.Conn, 0, 20)
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 0 {
			c.Write([]byte{0x16, 0x03, 0x01, 0x02}) // half a record header, then nothing
		}
		stalled = append(stalled, c)
	}
	// Meanwhile a real client is served at once.
	tr := &http.Transport{TLSClientConfig: front.client("a.example.com")}
	defer tr.CloseIdleConnections()
	start := time.Now()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + addr + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("a good client: %v", err)
	}
	resp.Body.Close()
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("a good client waited %v behind stalled handshakes", d)
	}
	for _, c := range stalled {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		t0 := time.Now()
		_, err := c.Read(make([]byte, 1))
		if err == nil {
			t.Fatal("a stalled client got bytes")
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("a stalled handshake was not closed within 5s")
		}
		_ = t0
	}
	waitFor(t, 5*time.Second, "20 timeouts counted", func() bool { return obs.failed(certs.ReasonTimeout) == 20 })

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("plain HTTP to the TLS port: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Fatalf("body %q", body)
	}
	waitFor(t, 5*time.Second, "not_tls counted", func() bool { return obs.failed(certs.ReasonNotTLS) == 1 })
	if be.count() != 1 {
		t.Fatalf("backend got %d requests, want 1", be.count())
	}
}

// tlsBackend is an HTTPS test server with a certificate for names signed
// by ca; it answers "tls <path>" and counts upgrades.
func tlsBackend(t testing.TB, ca *testcert.CA, names ...string) *httptest.Server {
	t.Helper()
	leaf := ca.Issue(t, names...)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" {
			hj, _ := w.(http.Hijacker)
			c, brw, _ := hj.Hijack()
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			line, _ := brw.ReadString('\n')
			brw.WriteString("echo " + line)
			brw.Flush()
			return
		}
		io.WriteString(w, "tls "+r.URL.Path+" "+r.TLS.ServerName)
	}))
	s.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// TLS to a backend: verified against the configured CA (pooled requests
// and WebSocket tunnels), refused against the wrong CA or name (502), and
// accepted anyway with InsecureSkipVerify.
func TestBackendTLS(t *testing.T) {
	ca := testcert.NewCA(t, "backends")
	wrong := testcert.NewCA(t, "wrong")
	s := tlsBackend(t, ca, "app.internal", "127.0.0.1")
	addr := strings.TrimPrefix(s.URL, "https://")
	for _, tc := range []struct {
		name   string
		o      TLSOptions
		status int
		sni    string
	}{
		{"ca and name", TLSOptions{Enabled: true, ServerName: "app.internal", RootCAs: ca.Pool()}, 200, "app.internal"},
		{"ca and ip", TLSOptions{Enabled: true, RootCAs: ca.Pool()}, 200, ""},
		{"wrong ca", TLSOptions{Enabled: true, ServerName: "app.internal", RootCAs: wrong.Pool()}, 502, ""},
		{"wrong name", TLSOptions{Enabled: true, ServerName: "other.internal", RootCAs: ca.Pool()}, 502, ""},
		{"system pool", TLSOptions{Enabled: true, ServerName: "app.internal"}, 502, ""},
		{"insecure", TLSOptions{Enabled: true, ServerName: "x", InsecureSkipVerify: true}, 200, "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, paddr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{TLS: tc.o}, addr)})
			for i := 0; i < 3; i++ { // pooled connections are reused
				res := rawExchange(t, paddr, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", false)
				if res.status != tc.status {
					t.Fatalf("status %d, want %d (%s)", res.status, tc.status, res.body)
				}
				if tc.status == 200 && res.body != "tls /x "+tc.sni {
					t.Fatalf("body %q", res.body)
				}
			}
			// The WebSocket tunnel dials with the same TLS.
			c, err := net.Dial("tcp", paddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 502 {
				if resp.StatusCode != 502 {
					t.Fatalf("upgrade status %d, want 502", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != 101 {
				t.Fatalf("upgrade status %d", resp.StatusCode)
			}
			io.WriteString(c, "ping\n")
			if line, _ := br.ReadString('\n'); line != "echo ping\n" {
				t.Fatalf("tunnel answered %q", line)
			}
		})
	}
}

func TestBackendOptionsEqual(t *testing.T) {
	ca := testcert.NewCA(t, "x")
	a := BackendOptions{Name: "b", TLS: TLSOptions{Enabled: true, RootCAs: ca.Pool(), RootsID: [32]byte{1}}}
	b := a
	b.TLS.RootCAs = ca.Pool() // another load of the same file
	if !a.Equal(b) {
		t.Fatal("options differing only by the pool pointer are not Equal")
	}
	b.TLS.RootsID[0] = 2
	if a.Equal(b) {
		t.Fatal("options with another CA are Equal")
	}
}

// A PROXY protocol header comes before TLS: read from the raw connection,
// then the handshake continues with the bytes that followed it.
func TestTLSAfterProxyHeader(t *testing.T) {
	front := newTLSFront(t)
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr),
		TLS: front.srv.Config(), ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	// Header and ClientHello in one write: the hello's first bytes are read
	// with the header.
	c := tls.Client(&firstWrite{Conn: raw, pre: []byte("PROXY TCP4 203.0.113.7 127.0.0.1 40000 443\r\n")}, front.client("a.example.com"))
	io.WriteString(c, "GET /pp HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	r := be.lastRequest(t)
	if r.Header.Get("X-Forwarded-For") != "203.0.113.7" || r.Header.Get("X-Forwarded-Proto") != "https" {
		t.Fatalf("backend saw X-Forwarded-For %q, -Proto %q", r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	}
}

// firstWrite prepends pre to the first write.
type firstWrite struct {
	net.Conn
	pre []byte
}

func (f *firstWrite) Write(b []byte) (int, error) {
	if f.pre != nil {
		_, err := f.Conn.Write(append(f.pre, b...))
		f.pre = nil
		return len(b), err
	}
	return f.Conn.Write(b)
}
