package app

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/proxyproto"
)

// ppBackend is an HTTP server that may require a PROXY protocol header; it
// answers each request with what it learnt: "src=<header source or -> xff=<X-Forwarded-For> real=<X-Real-IP>".
type ppBackend struct {
	addr    string
	require bool
	mu      sync.Mutex
	conns   int      // connections accepted
	headers []string // per connection: the header's source, "LOCAL", or "none"
}

func startPPBackend(t *testing.T, require bool) *ppBackend {
	b := &ppBackend{require: require}
	b.addr = obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		src := "-"
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		peek, _ := br.Peek(1)
		var kind string
		if ok, _ := proxyproto.HasSignature(peek); len(peek) > 0 && (peek[0] == 'P' || peek[0] == '\r') || ok {
			buf := make([]byte, 0, 256)
			for {
				ch, err := br.ReadByte()
				if err != nil {
					return
				}
				buf = append(buf, ch)
				h, _, err := proxyproto.Parse(buf)
				if errors.Is(err, proxyproto.ErrNeedMore) {
					continue
				}
				if err != nil {
					return
				}
				if h.HasAddrs() {
					src, kind = h.Source.String(), h.Source.String()
				} else {
					kind = "LOCAL"
				}
				break
			}
		} else {
			kind = "none"
		}
		b.mu.Lock()
		b.conns++
		b.headers = append(b.headers, kind)
		b.mu.Unlock()
		if b.require && kind == "none" {
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			body := fmt.Sprintf("src=%s xff=%s real=%s", src, req.Header.Get("X-Forwarded-For"), req.Header.Get("X-Real-IP"))
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	return b
}

func (b *ppBackend) seen() (int, []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns, append([]string(nil), b.headers...)
}

// dialFrom connects to addr from a given loopback address.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchangeRaw writes pre and a GET, and returns status and body, or the
// error (io.EOF: closed without an answer).
func exchangeRaw(c net.Conn, pre []byte, path string) (int, string, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := append(append([]byte(nil), pre...), "GET "+path+" HTTP/1.1\r\nHost: pp.test\r\n\r\n"...)
	if _, err := c.Write(msg); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), nil
}

var (
	ppClient = netip.MustParseAddrPort("203.0.113.7:41000")
	ppDest   = netip.MustParseAddrPort("198.51.100.1:443")
)

// TestProxyProtocolHTTPFrontend: a trusted peer's header names the client
// for X-Forwarded-For, X-Real-IP, access lists, rate limits and the access
// log; a trusted peer without one and a header from anyone else are closed
// without an answer.
func TestProxyProtocolHTTPFrontend(t *testing.T) {
	be := startPPBackend(t, false)
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	var alog bytes.Buffer
	var mu sync.Mutex
	obsStart(t, fmt.Sprintf(`admin: {listen: %q}
frontends:
  - name: web
    listen: %q
    backend: app
    proxy_protocol: true
    trusted_proxies: [127.0.0.1/32]
    access: {deny: [203.0.113.66/32]}
    rate_limits: [{name: per-ip, key: client_ip, rate: 1/h, burst: 2}]
backends: [{name: app, servers: [{address: %q}]}]
`, admin, web, be.addr), Options{AccessLogWriter: syncWriter{&mu, &alog}})
	obsWaitListening(t, web)

	for _, v := range []proxyproto.Version{proxyproto.V1, proxyproto.V2} {
		c := dialFrom(t, "127.0.0.1", web)
		src := netip.AddrPortFrom(ppClient.Addr(), ppClient.Port()+uint16(v))
		st, body, err := exchangeRaw(c, proxyproto.Append(nil, v, src, ppDest), "/")
		if err != nil || st != 200 || body != "src=- xff=203.0.113.7 real=203.0.113.7" {
			t.Fatalf("%v header: %d %q %v", v, st, body, err)
		}
	}
	// The rate limit counts the named client: its burst of 2 is spent.
	c := dialFrom(t, "127.0.0.1", web)
	if st, _, err := exchangeRaw(c, proxyproto.AppendV1(nil, ppClient, ppDest), "/"); err != nil || st != 429 {
		t.Fatalf("third request of 203.0.113.7: %d %v, want 429", st, err)
	}
	// Access lists judge the named client.
	c = dialFrom(t, "127.0.0.1", web)
	denied := netip.MustParseAddrPort("203.0.113.66:1")
	if st, _, err := exchangeRaw(c, proxyproto.AppendV2(nil, proxyproto.Proxy, denied, ppDest), "/"); err != nil || st != 403 {
		t.Fatalf("denied client: %d %v, want 403", st, err)
	}
	// LOCAL (a load balancer's own health check): the peer is the client.
	c = dialFrom(t, "127.0.0.1", web)
	if st, body, err := exchangeRaw(c, proxyproto.AppendLocal(nil, proxyproto.V2), "/"); err != nil || st != 200 || body != "src=- xff=127.0.0.1 real=127.0.0.1" {
		t.Fatalf("LOCAL header: %d %q %v", st, body, err)
	}
	// A trusted peer without a header: closed, nothing answered.
	c = dialFrom(t, "127.0.0.1", web)
	if st, _, err := exchangeRaw(c, nil, "/"); err == nil {
		t.Fatalf("trusted peer without a header got %d", st)
	}
	// A malformed header: closed.
	c = dialFrom(t, "127.0.0.1", web)
	if st, _, err := exchangeRaw(c, []byte("PROXY TCP4 1.2.3.4 nope 1 2\r\n"), "/"); err == nil {
		t.Fatalf("malformed header got %d", st)
	}
	// An untrusted peer: its header is refused, plain requests are served.
	c = dialFrom(t, "127.0.0.2", web)
	if st, _, err := exchangeRaw(c, proxyproto.AppendV1(nil, ppClient, ppDest), "/"); err == nil {
		t.Fatalf("header from an untrusted peer got %d", st)
	}
	c = dialFrom(t, "127.0.0.2", web)
	if st, body, err := exchangeRaw(c, nil, "/"); err != nil || st != 200 || body != "src=- xff=127.0.0.2 real=127.0.0.2" {
		t.Fatalf("untrusted peer without a header: %d %q %v", st, body, err)
	}
	obsEventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(alog.String(), `"client_ip":"203.0.113.7"`) {
			return fmt.Errorf("access log has no line for the named client:\n%s", alog.String())
		}
		return nil
	})
	if _, hs := be.seen(); len(hs) == 0 || slices.ContainsFunc(hs, func(h string) bool { return h != "none" }) {
		t.Errorf("the backend's connections started with %v, want no header (no send_proxy)", hs)
	}
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestProxyProtocolSendHTTP: servers with send_proxy get the client's
// address in a header before every request, each on its own connection,
// and health checks send a header (LOCAL) to a server that requires one.
func TestProxyProtocolSendHTTP(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			be := startPPBackend(t, true)
			admin, web := obsFreeAddr(t), obsFreeAddr(t)
			obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
frontends: [{name: web, listen: %q, backend: app}]
backends:
  - name: app
    servers: [{address: %q, send_proxy: %s}]
    health: {active: {type: http, path: /, interval: 100ms, timeout: 90ms, healthy_threshold: 1}}
`, admin, web, be.addr, v), Options{})
			obsWaitListening(t, web)
			obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", be.addr)
			obsEventually(t, 3*time.Second, func() error {
				if _, hs := be.seen(); !slices.Contains(hs, "LOCAL") {
					return fmt.Errorf("no probe with a LOCAL header yet: %v", hs)
				}
				return nil
			})
			c := dialFrom(t, "127.0.0.3", web)
			local := c.LocalAddr().(*net.TCPAddr).AddrPort()
			for i := range 3 {
				st, body, err := exchangeRaw(c, nil, "/")
				if err != nil || st != 200 || body != "src="+local.String()+" xff=127.0.0.3 real=127.0.0.3" {
					t.Fatalf("request %d: %d %q %v", i, st, body, err)
				}
			}
			_, hs := be.seen()
			var reqConns, probes int
			for _, h := range hs {
				switch h {
				case local.String():
					reqConns++
				case "LOCAL":
					probes++
				default:
					t.Errorf("a connection started with %q", h)
				}
			}
			if reqConns != 3 || probes < 1 {
				t.Errorf("%d request connections (want 3: one per request) and %d probes with a LOCAL header: %v", reqConns, probes, hs)
			}
		})
	}
}

// TestProxyProtocolTCP: a tcp frontend takes the client from a trusted
// peer's header (and forwards the bytes sent after it), and sends its own
// header to a server with send_proxy.
func TestProxyProtocolTCP(t *testing.T) {
	got := make(chan string, 4)
	echo := obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := br.ReadString('\n')
		got <- line
		rest, _ := br.ReadString('\n')
		io.WriteString(c, "echo "+rest)
	})
	admin, front := obsFreeAddr(t), obsFreeAddr(t)
	obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
frontends:
  - {name: tcp, mode: tcp, listen: %q, backend: b, proxy_protocol: true, trusted_proxies: [127.0.0.1/32], access: {deny: [203.0.113.66/32]}}
backends: [{name: b, servers: [{address: %q, send_proxy: v1}]}]
`, admin, front, echo), Options{})
	obsWaitListening(t, front)
	_, fport, _ := net.SplitHostPort(front)
	// Header and data in one write: the data after the header is not lost.
	c := dialFrom(t, "127.0.0.1", front)
	c.Write(append(proxyproto.AppendV2(nil, proxyproto.Proxy, ppClient, ppDest), "hello\n"...))
	line := <-got
	if want := "PROXY TCP4 203.0.113.7 198.51.100.1 41000 443\r\n"; line != want {
		t.Fatalf("server got header %q, want %q", line, want)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || reply != "echo hello\n" {
		t.Fatalf("reply %q %v", reply, err)
	}
	// An untrusted peer: its own address, sent on by send_proxy; a header from it is refused.
	c2 := dialFrom(t, "127.0.0.4", front)
	c2.Write([]byte("plain\n"))
	line = <-got
	if want := fmt.Sprintf("PROXY TCP4 127.0.0.4 127.0.0.1 %d %s\r\n", c2.LocalAddr().(*net.TCPAddr).Port, fport); line != want {
		t.Fatalf("untrusted peer: server got %q, want %q", line, want)
	}
	// A header from an untrusted peer is never believed. Sluice does not
	// wait for such a peer to speak (server-first protocols): it looks at
	// what has arrived once the server is dialled (docs/deploy.md). A header
	// there closes the connection (l4 TestPeekSignature pins that check);
	// one that comes later is passed on as data after sluice's own header
	// naming the peer. Either way the server never takes it as the client.
	c3 := dialFrom(t, "127.0.0.4", front)
	c3.Write(proxyproto.AppendV1(nil, ppClient, ppDest))
	_ = c3.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := c3.Read(make([]byte, 10)); err == nil {
		line := <-got
		want := fmt.Sprintf("PROXY TCP4 127.0.0.4 127.0.0.1 %d %s\r\n", c3.LocalAddr().(*net.TCPAddr).Port, fport)
		if line != want {
			t.Fatalf("an untrusted peer's header was served (%d bytes) with the server's header %q, want %q", n, line, want)
		}
		t.Logf("the untrusted header came after the dial: passed on as data behind %q", line)
	}
	// Trusted peer without a header, and a denied named client: refused.
	for _, pre := range [][]byte{[]byte("GET / HTTP/1.0\r\n\r\n"), proxyproto.AppendV1(nil, netip.MustParseAddrPort("203.0.113.66:5"), ppDest)} {
		c := dialFrom(t, "127.0.0.1", front)
		c.Write(pre)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		if n, err := c.Read(make([]byte, 10)); err == nil {
			t.Fatalf("%q was served (%d bytes)", pre, n)
		}
	}
	// The untrusted peer's header is seen once the server was dialled: that
	// connection is closed before anything is sent on it.
	for {
		select {
		case l := <-got:
			if l != "" {
				t.Fatalf("a refused connection sent %q to the server", l)
			}
			continue
		default:
		}
		break
	}
}
