package l7

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// fakeGuard denies connections from deny and limits requests carrying the
// header X-Limit, counting calls.
type fakeGuard struct {
	deny       netip.Addr
	retryAfter atomic.Int64
	conns      atomic.Int64
	reqs       atomic.Int64
	lastClient atomic.Value // netip.Addr

	mu     sync.Mutex
	judged []netip.Addr // AllowClient's arguments, in order
}

func (g *fakeGuard) AllowClient(client netip.Addr) bool {
	g.conns.Add(1)
	g.mu.Lock()
	g.judged = append(g.judged, client)
	g.mu.Unlock()
	return client != g.deny
}

func (g *fakeGuard) judgedClients() []netip.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]netip.Addr(nil), g.judged...)
}

func (g *fakeGuard) AllowRequest(req *fasthttp.Request, client netip.Addr) (bool, int) {
	g.reqs.Add(1)
	g.lastClient.Store(client)
	if len(req.Header.Peek("X-Limit")) > 0 {
		return false, int(g.retryAfter.Load())
	}
	return true, 0
}

const okResp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func TestGuardDenyConn403(t *testing.T) {
	rb := startRawBackend(t, okResp)
	g := &fakeGuard{deny: netip.MustParseAddr("127.0.0.1")}
	obs := &recObserver{}
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, rb.addr), Guard: g, Observer: obs})
	res := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", true)
	if res.status != 403 || !res.closed {
		t.Fatalf("status %d closed %v, want 403 and closed", res.status, res.closed)
	}
	if r := obs.last(t); r.Failure != FailDenied || r.Status != 403 || r.Server != nil {
		t.Fatalf("record %+v", r)
	}
	if n := rb.connsBefore(t); n != 0 {
		t.Fatalf("backend got %d connections (%d bytes)", n, rb.bytes.Load())
	}
	if g.conns.Load() != 1 || g.reqs.Load() != 0 {
		t.Fatalf("AllowClient calls %d, AllowRequest calls %d", g.conns.Load(), g.reqs.Load())
	}
}

func TestGuardRateLimit429(t *testing.T) {
	rb := startRawBackend(t, okResp)
	g := &fakeGuard{}
	g.retryAfter.Store(7)
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, rb.addr), Guard: g})
	// Allowed first, then limited, on the same keep-alive connection.
	head, br, c := rawRoundTrip(t, addr, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n")
	if !startsWith(head, "HTTP/1.1 200") {
		t.Fatalf("allowed request: %q", head)
	}
	readN(t, br, 2)
	if _, err := c.Write([]byte("GET /no HTTP/1.1\r\nHost: a\r\nX-Limit: 1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp := readResponse(t, br)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || resp.Close {
		t.Fatalf("limited: %d Retry-After %q close %v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close)
	}
	if got := g.lastClient.Load().(netip.Addr); got != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("client passed to AllowRequest %v", got)
	}
	// Final already: the proxy answers a forwarded request only after the
	// backend recorded its head and replied.
	rb.mu.Lock()
	n := len(rb.heads)
	rb.mu.Unlock()
	if n != 1 {
		t.Fatalf("backend got %d requests, want 1 (the limited one must not reach it)", n)
	}

	// A retryAfter below 1 is sent as 1.
	g.retryAfter.Store(0)
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Limit: 1\r\n\r\n", false); res.status != 429 || res.resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("got %d Retry-After %q", res.status, res.resp.Header.Get("Retry-After"))
	}
}

func TestGuardSwappedByUpdate(t *testing.T) {
	rb := startRawBackend(t, okResp)
	bk := newBackend(t, "web", BackendOptions{}, rb.addr)
	p, addr := startProxy(t, Options{Default: bk})
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Limit: 1\r\n\r\n", false); res.status != 200 {
		t.Fatalf("no guard: %d", res.status)
	}
	g := &fakeGuard{}
	g.retryAfter.Store(3)
	if err := p.Update(Options{Default: bk, Guard: g}); err != nil {
		t.Fatal(err)
	}
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Limit: 1\r\n\r\n", false); res.status != 429 {
		t.Fatalf("after Update: %d", res.status)
	}
}

func TestBackendRateLimit429(t *testing.T) {
	rb := startRawBackend(t, okResp)
	rule, err := ratelimit.NewRule(ratelimit.RuleOptions{Name: "web", Rate: 0.1, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	obs := &recObserver{}
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{RateLimit: rule}, rb.addr), Observer: obs})
	for i := 0; i < 2; i++ {
		if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 {
			t.Fatalf("request %d within burst: %d", i, res.status)
		}
	}
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if res.status != 429 {
		t.Fatalf("over the backend limit: %d", res.status)
	}
	// rate 0.1/s: the next event is 10s away.
	if ra := res.resp.Header.Get("Retry-After"); ra != "10" && ra != "9" {
		t.Fatalf("Retry-After %q", ra)
	}
	if r := obs.last(t); r.Failure != FailRateLimited || r.Backend != "web" || r.Server != nil {
		t.Fatalf("record %+v", r)
	}
	rb.mu.Lock() // final: see TestGuardRateLimit429
	n := len(rb.heads)
	rb.mu.Unlock()
	if n != 2 {
		t.Fatalf("backend got %d requests, want 2", n)
	}
}

func TestGlobalGate503(t *testing.T) {
	rb := startRawBackend(t, okResp)
	g := gate.New(1)
	p, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, rb.addr), Global: g})
	// The first connection holds the only place.
	c1, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "first conn accepted", func() bool { return g.Count() == 1 })
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true)
	if res.status != 503 || !res.closed {
		t.Fatalf("over the global gate: %d closed %v", res.status, res.closed)
	}
	if p.Stats().Refused != 1 {
		t.Fatalf("Refused %d", p.Stats().Refused)
	}
	if rb.accepted.Load() != 0 {
		t.Fatal("backend contacted")
	}
	// Closing the holder frees the place.
	c1.Close()
	waitFor(t, 5*time.Second, "place released", func() bool { return g.Count() == 0 })
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 {
		t.Fatalf("after release: %d", res.status)
	}
	waitFor(t, 5*time.Second, "place released again", func() bool { return g.Count() == 0 })
}

// TestGuardTrustedProxyPerRequest: from a trusted proxy, the access lists
// judge each request's client (the one X-Forwarded-For names), once per
// request and never the proxy at accept; a refused client gets 403 and the
// proxy's connection stays open for the next client.
func TestGuardTrustedProxyPerRequest(t *testing.T) {
	rb := startRawBackend(t, okResp)
	g := &fakeGuard{deny: netip.MustParseAddr("10.1.2.3")}
	obs := &recObserver{}
	_, addr := startProxy(t, Options{
		Default: newBackend(t, "web", BackendOptions{}, rb.addr), Guard: g, Observer: obs,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	head, br, c := rawRoundTrip(t, addr, "GET /a HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.1.2.3\r\n\r\n")
	if !startsWith(head, "HTTP/1.1 403") || strings.Contains(strings.ToLower(head), "connection: close") {
		t.Fatalf("denied relayed client: %q, want 403 on an open connection", head)
	}
	if r := obs.last(t); r.Failure != FailDenied || r.ClientIP != netip.MustParseAddr("10.1.2.3") || r.Server != nil {
		t.Fatalf("record %+v", r)
	}
	readN(t, br, len("403 Forbidden\n"))
	for _, req := range []string{
		"GET /b HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.1.2.3, 10.5.5.5\r\n\r\n", // right-most untrusted decides
		"GET /c HTTP/1.1\r\nHost: a\r\n\r\n",                                        // no XFF: the proxy itself is the client
	} {
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if resp := readResponse(t, br); resp.StatusCode != 200 {
			t.Fatalf("%q: status %d, want 200", req, resp.StatusCode)
		}
	}
	want := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.5.5.5"), netip.MustParseAddr("127.0.0.1")}
	if got := g.judgedClients(); !slices.Equal(got, want) {
		t.Fatalf("AllowClient calls %v, want %v (once per request, none at accept)", got, want)
	}
	rb.mu.Lock()
	n := len(rb.heads)
	rb.mu.Unlock()
	if n != 2 {
		t.Fatalf("backend got %d requests, want 2 (the denied one must not reach it)", n)
	}
}

// TestGuardTrustRemovedByUpdate: a connection accepted from a trusted proxy
// skipped the accept-time check; when a reload stops trusting that peer,
// its next request is judged by the peer's own address.
func TestGuardTrustRemovedByUpdate(t *testing.T) {
	rb := startRawBackend(t, okResp)
	g := &fakeGuard{deny: netip.MustParseAddr("127.0.0.1")}
	bk := newBackend(t, "web", BackendOptions{}, rb.addr)
	p, addr := startProxy(t, Options{Default: bk, Guard: g,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	const req = "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.5.5.5\r\n\r\n"
	head, br, c := rawRoundTrip(t, addr, req)
	if !startsWith(head, "HTTP/1.1 200") {
		t.Fatalf("relayed allowed client: %q", head)
	}
	readN(t, br, 2)
	if err := p.Update(Options{Default: bk, Guard: g}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if resp := readResponse(t, br); resp.StatusCode != 403 {
		t.Fatalf("untrusted peer after Update: status %d, want 403 (its own address decides)", resp.StatusCode)
	}
}
