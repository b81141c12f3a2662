package l7

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/valyala/fasthttp"
)

// countingListener counts accepted conns and bytes read by a test backend,
// to assert that a rejected request reached NO backend.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
	bytes    atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.bytes.Add(int64(n))
	return n, err
}

// testBackend is a net/http server on 127.0.0.1:0.
type testBackend struct {
	addr string
	ln   *countingListener
	srv  *http.Server
	mu   sync.Mutex
	reqs []*http.Request // headers of received requests (bodies not kept)
}

func startBackend(t testing.TB, h http.HandlerFunc) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{addr: ln.Addr().String(), ln: &countingListener{Listener: ln}}
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.reqs = append(b.reqs, r.Clone(context.Background()))
			b.mu.Unlock()
			h(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = b.srv.Serve(b.ln) }()
	t.Cleanup(func() { _ = b.srv.Close() })
	return b
}

func (b *testBackend) lastRequest(t testing.TB) *http.Request {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		t.Fatal("backend received no request")
	}
	return b.reqs[len(b.reqs)-1]
}

func (b *testBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("X-Backend", "yes")
	_, _ = io.WriteString(w, "hello from "+r.URL.Path)
}

// newBackend builds an l7 Backend over the given addresses.
func newBackend(t testing.TB, name string, o BackendOptions, addrs ...string) *Backend {
	t.Helper()
	var ss []*balance.Server
	for _, a := range addrs {
		ss = append(ss, balance.NewServer(name, a, 1))
	}
	o.Name = name
	// As internal/app wires it: the balancer skips servers at the limit.
	b, err := NewBackend(o, balance.New(balance.Options{MaxConnsPerServer: int64(o.MaxConnsPerServer)}, ss))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startProxy runs a Proxy on 127.0.0.1:0 and returns it and its address.
func startProxy(t testing.TB, o Options) (*Proxy, string) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		// A draining proxy keeps idle keep-alive connections open until its
		// deadline (see Shutdown): let the shared client close its own.
		testClient.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return p, ln.Addr().String()
}

// rawResult is what a raw-socket exchange produced.
type rawResult struct {
	status int
	resp   *http.Response
	body   string
	closed bool // the proxy closed the connection after the response
}

// rawExchange writes raw to addr and reads one response, then checks whether
// the connection is closed (EOF within 2s).
func rawExchange(t testing.TB, addr, raw string, checkClose bool) rawResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return rawExchangeOn(t, c, raw, checkClose)
}

// rawExchangeOn is rawExchange on a connection already made (plain or
// TLS); it closes c.
func rawExchangeOn(t testing.TB, c net.Conn, raw string, checkClose bool) rawResult {
	t.Helper()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	res := rawResult{status: resp.StatusCode, resp: resp, body: string(body)}
	if !checkClose {
		return res
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err == io.EOF || isReset(err) {
		res.closed = true
	}
	return res
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func get(t testing.TB, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, string(b)
}

var testClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

func newTestRequest(raw string) *fasthttp.Request {
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		panic(err)
	}
	return &req
}

func startsWith(s, p string) bool { return strings.HasPrefix(s, p) }

// readN reads exactly n bytes from br.
func readN(t testing.TB, br *bufio.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// readResponse reads one whole response from br.
func readResponse(t testing.TB, br *bufio.Reader) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading response body: %v", err)
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp
}

// parseHeadTest parses head with fasthttp as parseHead does, without a loop.
func (ex *exchange) parseHeadTest(head []byte) error {
	return ex.req.Header.Read(bufio.NewReaderSize(bytes.NewReader(head), len(head)+4096))
}
