//go:build !race

package l7

import (
	"strings"
	"testing"
	"time"
)

// TestProxyRequestAllocs: a proxied keep-alive request allocates nothing in
// steady state, with or without a body. AllocsPerRun counts every goroutine
// of the process, so this covers the client, the proxy (accept excluded:
// one connection), its backend connection pool and the fasthttp backend
// together.
func TestProxyRequestAllocs(t *testing.T) {
	addr, _ := benchProxy(t)
	get := newBenchClient(addr)
	post := newBenchClient(addr)
	post.req.Header.SetMethod("POST")
	post.req.SetBodyString(strings.Repeat("b", 4096))
	defer func(d time.Duration) { staleCheckAfter = d }(staleCheckAfter)
	for _, tc := range []struct {
		name  string
		c     *benchClient
		max   float64
		check time.Duration // staleCheckAfter
	}{{"GET", get, 0, staleCheckAfter}, {"POST", post, 0, staleCheckAfter},
		{"GET, every pooled connection peeked at", get, 0, 0}} {
		staleCheckAfter = tc.check
		for i := 0; i < 2000; i++ {
			tc.c.do(t)
		}
		if n := testing.AllocsPerRun(2000, func() { tc.c.do(t) }); n > tc.max {
			t.Errorf("%s: %.2f allocations per proxied request, want at most %v", tc.name, n, tc.max)
		}
	}
}

// TestStickyRequestAllocs: sticky sessions add no allocation, whether the
// request names its server (cookie parsed, PickPreferred) or not (a
// Set-Cookie prepared at build is added to the response).
func TestStickyRequestAllocs(t *testing.T) {
	secret := [32]byte{1}
	be := fastBackend(t)
	b := newBackend(t, "web", BackendOptions{Sticky: StickyOptions{Cookie: "S", Secret: secret}}, be)
	_, addr := startProxy(t, Options{Default: b})
	pinned := newBenchClient(addr)
	pinned.req.Header.Set("Cookie", "a=1; "+string(b.sticky.Load().setCookie(b.Balancer().Servers()[0], false)[:18]))
	fresh := newBenchClient(addr)
	for _, tc := range []struct {
		name string
		c    *benchClient
	}{{"pinned", pinned}, {"no cookie", fresh}} {
		for i := 0; i < 2000; i++ {
			tc.c.do(t)
		}
		hasSet := len(tc.c.resp.Header.PeekCookie("S")) > 0
		if hasSet != (tc.c == fresh) {
			t.Fatalf("%s: Set-Cookie present %v", tc.name, hasSet)
		}
		if n := testing.AllocsPerRun(2000, func() { tc.c.do(t) }); n > 0 {
			t.Errorf("%s: %.2f allocations per sticky request, want 0", tc.name, n)
		}
	}
}
