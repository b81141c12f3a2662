//go:build !race

package l7

import (
	"strings"
	"testing"
	"time"
)

// TestProxyRequestAllocs: a proxied keep-alive request allocates nothing in
// steady state. AllocsPerRun counts every goroutine of the process, so this
// covers the client, the proxy (accept excluded: one connection), its
// backend connection pool and the fasthttp backend together.
//
// A request WITH a body costs one 24-byte allocation that is not sluice's:
// after every handler, fasthttp v1.77.0's server drains the streamed request
// body with io.CopyN (streaming.go, requestStream.discard), whose
// io.LimitReader escapes, even when the body was already read to its end.
// The POST case pins that at exactly one.
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
	}{{"GET", get, 0, staleCheckAfter}, {"POST", post, 1, staleCheckAfter},
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
