package l7

import (
	"net"
	"slices"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBackend is a fasthttp server answering every request with a small
// fixed body: it allocates nothing per request, so allocations measured
// around a proxied request are the proxy's (and the client's, also fasthttp).
func fastBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte("hello, world")
	srv := &fasthttp.Server{
		Handler:               func(ctx *fasthttp.RequestCtx) { ctx.Response.SetBodyRaw(body) },
		NoDefaultServerHeader: true,
		NoDefaultDate:         true,
		NoDefaultContentType:  true,
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// benchClient is one keep-alive client connection and a reusable request.
type benchClient struct {
	hc   *fasthttp.HostClient
	req  *fasthttp.Request
	resp *fasthttp.Response
}

func newBenchClient(addr string) *benchClient {
	c := &benchClient{
		hc:   &fasthttp.HostClient{Addr: addr, MaxConns: 1, NoDefaultUserAgentHeader: true},
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	c.req.SetRequestURI("http://" + addr + "/bench/path?x=1")
	c.req.Header.Set("X-Client", "bench")
	return c
}

func (c *benchClient) do(tb testing.TB) {
	if err := c.hc.Do(c.req, c.resp); err != nil || c.resp.StatusCode() != 200 || len(c.resp.Body()) != 12 {
		tb.Fatalf("request failed: %v %d %q", err, c.resp.StatusCode(), c.resp.Body())
	}
}

func benchProxy(tb testing.TB) (proxied, direct string) {
	be := fastBackend(tb)
	_, addr := startProxy(tb, Options{
		Default: newBackend(tb, "web", BackendOptions{}, be),
		Logger:  nil,
	})
	return addr, be
}

// runLatency does b.N sequential keep-alive requests and reports requests/s
// and the p50/p99 latency.
func runLatency(b *testing.B, addr string) {
	c := newBenchClient(addr)
	for i := 0; i < 1000; i++ { // warm pools and buffers
		c.do(b)
	}
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		c.do(b)
		lat[i] = time.Since(t0)
	}
	el := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkProxyRequest: client → proxy → backend over loopback, one
// keep-alive connection each side, sequential. allocs/op counts the whole
// process (client, proxy and backend are fasthttp and allocation-free in
// steady state), so it is an upper bound of the proxy's allocations.
func BenchmarkProxyRequest(b *testing.B) {
	addr, _ := benchProxy(b)
	runLatency(b, addr)
}

// BenchmarkDirectRequest is the same client against the backend directly.
func BenchmarkDirectRequest(b *testing.B) {
	_, be := benchProxy(b)
	runLatency(b, be)
}

// BenchmarkProxyPOST is BenchmarkProxyRequest with a 4 KiB request body.
func BenchmarkProxyPOST(b *testing.B) {
	addr, _ := benchProxy(b)
	c := newBenchClient(addr)
	c.req.Header.SetMethod("POST")
	c.req.SetBodyString(string(make([]byte, 4096)))
	for i := 0; i < 1000; i++ {
		c.do(b)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.do(b)
	}
}
