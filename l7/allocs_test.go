//go:build !race

package l7

import "testing"

// TestProxyRequestAllocs: a proxied keep-alive GET allocates nothing in
// steady state. AllocsPerRun counts every goroutine of the process, so this
// covers the client, the proxy (accept excluded: one connection), the
// backend HostClient and the fasthttp backend together.
func TestProxyRequestAllocs(t *testing.T) {
	addr, _ := benchProxy(t)
	c := newBenchClient(addr)
	for i := 0; i < 2000; i++ {
		c.do(t)
	}
	if n := testing.AllocsPerRun(2000, func() { c.do(t) }); n != 0 {
		t.Fatalf("%.2f allocations per proxied request, want 0", n)
	}
}
