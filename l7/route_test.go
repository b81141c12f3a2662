package l7

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/sluicelb/sluice/balance"
)

func TestRouting(t *testing.T) {
	mk := func(name string) (*testBackend, *Backend) {
		tb := startBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(name)) })
		return tb, newBackend(t, name, BackendOptions{}, tb.addr)
	}
	_, api := mk("api")
	_, wild := mk("wild")
	_, post := mk("post")
	_, def := mk("default")
	_, addr := startProxy(t, Options{
		Routes: []Route{
			{Name: "api", Host: "api.example.com", PathPrefix: "/v1/", Backend: api},
			{Name: "wild", Host: "*.example.com", Backend: wild},
			{Name: "post", Methods: []string{"POST"}, Backend: post},
		},
		Default: def,
	})
	cases := []struct{ method, host, path, want string }{
		{"GET", "api.example.com", "/v1/x", "api"},
		{"GET", "API.Example.COM:8080", "/v1/x", "api"},
		{"GET", "api.example.com", "/v2/x", "wild"},
		{"GET", "a.b.example.com", "/", "wild"},
		{"GET", "example.com", "/", "default"},
		{"GET", "badexample.com", "/", "default"},
		{"POST", "other.org", "/", "post"},
		{"GET", "other.org", "/", "default"},
	}
	for _, c := range cases {
		res := rawExchange(t, addr, c.method+" "+c.path+" HTTP/1.1\r\nHost: "+c.host+"\r\nContent-Length: 0\r\n\r\n", false)
		if res.status != 200 || res.body != c.want {
			t.Errorf("%s %s%s: got %d %q, want %q", c.method, c.host, c.path, res.status, res.body, c.want)
		}
	}
	// absolute-form: routing and forwarding both use the URI host.
	res := rawExchange(t, addr, "GET http://api.example.com/v1/z HTTP/1.1\r\nHost: other.org\r\n\r\n", false)
	if res.body != "api" {
		t.Errorf("absolute-form routed to %q", res.body)
	}
}

func TestNoRoute404(t *testing.T) {
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{Routes: []Route{{Host: "a.com", Backend: newBackend(t, "a", BackendOptions{}, be.addr)}}})
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: b.com\r\n\r\n", false)
	if res.status != 404 {
		t.Fatal(res.status)
	}
}

func TestRouteCompileErrors(t *testing.T) {
	b := &Backend{}
	bad := []Route{
		{Name: "nobackend"},
		{Name: "h", Host: "a b.com", Backend: b},
		{Name: "h2", Host: "a.*.com", Backend: b},
		{Name: "p", PathPrefix: "v1", Backend: b},
		{Name: "m", Methods: []string{"GE T"}, Backend: b},
		{Name: "s", Backend: b, RequestHeaders: HeaderOps{Set: []HeaderField{{"Bad Name", "x"}}}},
		{Name: "s2", Backend: b, RequestHeaders: HeaderOps{Set: []HeaderField{{"X", "a\r\nb"}}}},
		{Name: "s3", Backend: b, ResponseHeaders: HeaderOps{Set: []HeaderField{{"Connection", "x"}}}},
	}
	for _, r := range bad {
		_, err := New(Options{Frontend: "f", Routes: []Route{r}})
		if err == nil || !strings.Contains(err.Error(), `route "`+r.Name+`"`) {
			t.Errorf("route %s: error %v", r.Name, err)
		}
	}
}

func TestHeadersForwardedAndOps(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend/1")
		w.Header().Set("X-Keep", "k")
		_, _ = w.Write([]byte("x"))
	})
	bk := newBackend(t, "web", BackendOptions{}, be.addr)
	_, addr := startProxy(t, Options{
		Routes: []Route{{Name: "r", Backend: bk,
			RequestHeaders:  HeaderOps{Set: []HeaderField{{"X-Env", "prod"}}, Remove: []string{"x-debug"}},
			ResponseHeaders: HeaderOps{Set: []HeaderField{{"X-Served-By", "sluice"}}, Remove: []string{"Server"}},
		}},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	// untrusted peer (127.0.0.1): spoofed forwarding headers are overwritten.
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: Front.Example\r\nX-Forwarded-For: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Debug: 1\r\n\r\n", false)
	r := be.lastRequest(t)
	checks := map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http",
		"X-Forwarded-Host": "front.example", "X-Env": "prod", "X-Debug": "",
	}
	for k, v := range checks {
		if got := r.Header.Get(k); got != v {
			t.Errorf("backend %s = %q, want %q", k, got, v)
		}
	}
	if !strings.EqualFold(r.Host, "front.example") {
		t.Errorf("Host %q", r.Host)
	}
	h := res.resp.Header
	if h.Get("Server") != "" || h.Get("X-Served-By") != "sluice" || h.Get("X-Keep") != "k" {
		t.Errorf("response headers %v", h)
	}

	// trusted peer: append.
	p, _ := New(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	tbl := p.table.Load()
	var req = newTestRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.5\r\nX-Forwarded-Proto: https\r\n\r\n")
	client, _ := setForwarded(tbl, &req.Header, netip.MustParseAddr("127.0.0.1"), true, false, []byte("a"), nil)
	if got := string(req.Header.Peek("X-Forwarded-For")); got != "203.0.113.9, 127.0.0.5, 127.0.0.1" {
		t.Errorf("XFF %q", got)
	}
	if client.String() != "203.0.113.9" || string(req.Header.Peek("X-Real-IP")) != "203.0.113.9" {
		t.Errorf("client %v", client)
	}
	if string(req.Header.Peek("X-Forwarded-Proto")) != "https" {
		t.Errorf("proto not kept from trusted proxy")
	}
}

// TestForwardedFromTrustedPeer: over the wire, a trusted peer's
// X-Forwarded-For is appended to, its X-Forwarded-Proto/-Host are kept, and
// X-Real-IP names the right-most untrusted address; Host is passed as sent.
func TestForwardedFromTrustedPeer(t *testing.T) {
	be := startBackend(t, okHandler)
	obs := &recObserver{}
	_, addr := startProxy(t, Options{
		Default:        newBackend(t, "web", BackendOptions{}, be.addr),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
		Observer:       obs,
	})
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: shop.example:8080\r\nX-Forwarded-For: 203.0.113.9, 10.1.1.1\r\n"+
		"X-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\nX-Real-IP: 6.6.6.6\r\n\r\n", false)
	if res.status != 200 {
		t.Fatal(res.status)
	}
	r := be.lastRequest(t)
	for k, v := range map[string]string{
		"X-Forwarded-For": "203.0.113.9, 10.1.1.1, 127.0.0.1", "X-Real-Ip": "203.0.113.9",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("backend %s = %q, want %q", k, got, v)
		}
	}
	if r.Host != "shop.example:8080" {
		t.Errorf("Host %q", r.Host)
	}
	if rec := obs.last(t); rec.ClientIP != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("record client %v", rec.ClientIP)
	}
}

// recObserver records Observer calls.
type recObserver struct {
	mu       sync.Mutex
	records  []Record
	attempts []Failure
}

func (o *recObserver) RequestDone(r *Record) {
	o.mu.Lock()
	c := *r
	c.Method = append([]byte(nil), r.Method...)
	c.Host = append([]byte(nil), r.Host...)
	c.Path = append([]byte(nil), r.Path...)
	o.records = append(o.records, c)
	o.mu.Unlock()
}

func (o *recObserver) BackendAttempt(s *balance.Server, f Failure) {
	o.mu.Lock()
	o.attempts = append(o.attempts, f)
	o.mu.Unlock()
}

func (o *recObserver) last(t testing.TB) Record {
	t.Helper()
	var r Record
	waitFor(t, 5e9, "a record", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		if len(o.records) == 0 {
			return false
		}
		r = o.records[len(o.records)-1]
		return true
	})
	return r
}

// TestTrustedProxyMappedPrefix: trusted_proxies written as an IPv4-mapped
// prefix (::ffff:127.0.0.0/104) trusts IPv4 peers, as the same prefix in an
// access list admits them (one matcher, package acl).
func TestTrustedProxyMappedPrefix(t *testing.T) {
	be := startBackend(t, okHandler)
	obs := &recObserver{}
	_, addr := startProxy(t, Options{
		Default:        newBackend(t, "web", BackendOptions{}, be.addr),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")},
		Observer:       obs,
	})
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n", false)
	if res.status != 200 {
		t.Fatal(res.status)
	}
	if got := be.lastRequest(t).Header.Get("X-Forwarded-For"); got != "203.0.113.9, 127.0.0.1" {
		t.Errorf("backend X-Forwarded-For = %q, want the trusted peer's list appended to", got)
	}
	if rec := obs.last(t); rec.ClientIP != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("record client %v, want 203.0.113.9", rec.ClientIP)
	}
}
