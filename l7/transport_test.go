package l7

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// scriptBackend answers each request with the raw response named by its
// path (responses["/x"]); a response ending in "<close>" is followed by a
// close. It counts connections.
func scriptBackend(t testing.TB, responses map[string]string) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					r := responses[req.URL.Path]
					closeAfter := strings.HasSuffix(r, "<close>")
					r = strings.TrimSuffix(r, "<close>")
					if _, err := io.WriteString(c, r); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), &conns
}

// TestResponseFraming: every way a response body can be framed reaches the
// client intact, and the backend connection is reused whenever the framing
// allows it.
func TestResponseFraming(t *testing.T) {
	addrB, conns := scriptBackend(t, map[string]string{
		"/cl":      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"/empty":   "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nX-T: 1\r\n\r\n",
		"/204":     "HTTP/1.1 204 No Content\r\n\r\n",
		"/304":     "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
		"/head":    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
		"/100":     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"/eof":     "HTTP/1.1 200 OK\r\n\r\nuntil close<close>",
	})
	bk := newBackend(t, "web", BackendOptions{}, addrB)
	_, addr := startProxy(t, Options{Default: bk})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	cases := []struct{ method, path, body string }{
		{"GET", "/cl", "hello"}, {"GET", "/empty", ""}, {"GET", "/chunked", "hello"},
		{"GET", "/204", ""}, {"GET", "/304", ""}, {"HEAD", "/head", ""}, {"GET", "/100", "hello"},
		{"GET", "/cl", "hello"},
	}
	for _, tc := range cases {
		if _, err := io.WriteString(c, tc.method+" "+tc.path+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(tc.method, "http://a"+tc.path, nil)
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != tc.body {
			t.Fatalf("%s %s: body %q %v", tc.method, tc.path, b, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("backend saw %d connections for keep-alive responses, want 1", n)
	}
	// Until-close framing: the body is complete, the backend conn is not reused.
	for i := 0; i < 2; i++ {
		if _, err := io.WriteString(c, "GET /eof HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "until close" {
			t.Fatalf("eof body %q %v", b, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2 (the pooled one ends with the first until-close response)", n)
	}
	checkReleased(t, bk)
}

// TestBadChunkedResponse: a malformed chunked response from the backend cuts
// the client response (it never gets a wrong body) and the backend connection
// is not reused.
func TestBadChunkedResponse(t *testing.T) {
	addrB, conns := scriptBackend(t, map[string]string{
		"/bad": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n",
		"/ok":  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	})
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, addrB)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /bad HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		if b, err := io.ReadAll(resp.Body); err == nil {
			t.Fatalf("client got a complete body %q", b)
		}
	}
	if r := obs.last(t); r.Failure != FailReset {
		t.Fatalf("failure %v", r.Failure)
	}
	if res := rawExchange(t, addr, "GET /ok HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 200 || res.body != "ok" {
		t.Fatalf("next request: %d %q", res.status, res.body)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("backend saw %d connections, want 2 (the broken one is not reused)", n)
	}
	checkReleased(t, bk)
}
