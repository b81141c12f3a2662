package l7

import (
	"strings"
	"testing"
)

// TestHopByHopTable has one subtest per hopHeaders entry, in both
// directions, with the name in odd case to prove case-insensitivity.
func TestHopByHopTable(t *testing.T) {
	for _, hh := range hopHeaders {
		t.Run(hh.name, func(t *testing.T) {
			odd := oddCase(hh.name)
			// Response direction: the backend sends the field.
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + odd + ": sluice-hop-value\r\n\r\nok"
			body := ""
			reqExtra := odd + ": sluice-hop-value\r\n"
			switch hh.name {
			case "Transfer-Encoding":
				resp = "HTTP/1.1 200 OK\r\n" + odd + ": chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
				reqExtra = odd + ": chunked\r\n"
				body = "3\r\nabc\r\n0\r\n\r\n"
			case "Connection":
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + odd + ": X-Resp-Hop\r\nX-Resp-Hop: sluice-hop-value\r\n\r\nok"
				reqExtra = odd + ": X-Req-Hop\r\nX-Req-Hop: sluice-hop-value\r\n"
			case "Upgrade":
				// Upgrade without "Connection: upgrade" is no upgrade request: just strip it.
			}
			rb := startRawBackend(t, resp)
			_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, rb.addr)})
			method := "GET"
			if body != "" {
				method = "POST"
			}
			head, _, _ := rawRoundTrip(t, addr, method+" / HTTP/1.1\r\nHost: example.com\r\n"+reqExtra+"\r\n"+body)
			bh := rb.lastHead(t)
			if strings.Contains(bh, "sluice-hop-value") {
				t.Errorf("backend received the hop-by-hop field %s:\n%s", hh.name, bh)
			}
			if strings.Contains(head, "sluice-hop-value") {
				t.Errorf("client received the hop-by-hop field %s:\n%s", hh.name, head)
			}
			if hh.name == "Transfer-Encoding" {
				// Re-framed by fasthttp: exactly one TE each way, never the client's own plus one.
				if n := countHeader(bh, "Transfer-Encoding"); n > 1 {
					t.Errorf("backend head has %d Transfer-Encoding fields:\n%s", n, bh)
				}
				if n := countHeader(head, "Transfer-Encoding"); n > 1 {
					t.Errorf("client head has %d Transfer-Encoding fields:\n%s", n, head)
				}
			} else {
				if countHeader(bh, hh.name) != 0 && hh.name != "Connection" {
					t.Errorf("backend head still has %s:\n%s", hh.name, bh)
				}
				if countHeader(head, hh.name) != 0 {
					t.Errorf("client head still has %s:\n%s", hh.name, head)
				}
			}
			if !strings.HasPrefix(head, "HTTP/1.1 200") {
				t.Fatalf("response %q", head)
			}
		})
	}
}

func oddCase(s string) string {
	b := []byte(strings.ToLower(s))
	for i := 0; i < len(b); i += 2 {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

// TestConnectionCloseSemantics: a client's Connection: close closes the client
// connection but not the pooled backend connection; a backend's
// Connection: close does not close the client connection.
func TestConnectionCloseSemantics(t *testing.T) {
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr)})
	res := rawExchange(t, addr, "GET /1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", true)
	if res.status != 200 || !res.closed {
		t.Fatalf("client close: status %d closed %v", res.status, res.closed)
	}
	res = rawExchange(t, addr, "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if res.status != 200 {
		t.Fatal(res.status)
	}
	if n := be.ln.accepted.Load(); n != 1 {
		t.Fatalf("backend saw %d connections; the client's close must not close the pooled one", n)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	for _, r := range be.reqs {
		if r.Close {
			t.Fatalf("backend got Connection: close")
		}
	}

	// Backend says close: the client connection stays open.
	rb := startRawBackend(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
	_, addr2 := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, rb.addr)})
	head, br, c := rawRoundTrip(t, addr2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if countHeader(head, "Connection") != 0 {
		t.Fatalf("client got Connection header: %q", head)
	}
	buf := make([]byte, 2)
	if _, err := br.Read(buf); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /again HTTP/1.1\r\nHost: a\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	l, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, "HTTP/1.1 200") {
		t.Fatalf("second request on the same client conn: %q %v", l, err)
	}
}
