package l7

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// wsBackend answers an upgrade request with 101 and then echoes every byte;
// when it reads "bye" it closes. It reports each received head on heads and
// signals on closed when a tunnel's client side went away (EOF).
type wsBackend struct {
	addr   string
	heads  chan string
	closed chan struct{}
}

func startWSBackend(t testing.TB) *wsBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	b := &wsBackend{addr: ln.Addr().String(), heads: make(chan string, 8), closed: make(chan struct{}, 8)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *wsBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var head strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return
		}
		head.WriteString(l)
		if l == "\r\n" {
			break
		}
	}
	b.heads <- head.String()
	_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhi!")
	buf := make([]byte, 4096)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], []byte("bye")) {
				return // the server ends the tunnel
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			b.closed <- struct{}{}
			return
		}
	}
}

const wsReq = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

// TestWebSocketTunnel: the upgrade request reaches the backend with Upgrade
// and Connection, the 101 and the bytes the backend sent right after it
// reach the client, bytes are echoed both ways, and either side's close ends
// the tunnel.
func TestWebSocketTunnel(t *testing.T) {
	be := startWSBackend(t)
	obs := &recObserver{}
	p, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr), Observer: obs})

	open := func() (net.Conn, *bufio.Reader) {
		head, br, c := rawRoundTrip(t, addr, wsReq)
		if !strings.HasPrefix(head, "HTTP/1.1 101") || !strings.Contains(head, "Upgrade: websocket") {
			t.Fatalf("client got %q", head)
		}
		bh := <-be.heads
		if !strings.Contains(bh, "Upgrade: websocket") || !strings.Contains(strings.ToLower(bh), "connection: upgrade") ||
			!strings.Contains(bh, "Sec-Websocket-Key: dGhlIHNhbXBsZSBub25jZQ==") && !strings.Contains(bh, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==") {
			t.Fatalf("backend got %q", bh)
		}
		if got := string(readN(t, br, 3)); got != "hi!" {
			t.Fatalf("early server bytes %q", got)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, msg := range []string{"ping", strings.Repeat("x", 100<<10)} {
			if _, err := io.WriteString(c, msg); err != nil {
				t.Fatal(err)
			}
			if got := string(readN(t, br, len(msg))); got != msg {
				t.Fatalf("echo of %d bytes differs", len(msg))
			}
		}
		return c, br
	}

	// 1) The client closes: the backend sees EOF, the tunnel ends.
	c, _ := open()
	waitFor(t, 5*time.Second, "tunnel counted", func() bool { return p.Stats().Tunnels == 1 })
	c.Close()
	select {
	case <-be.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("backend did not see the client's close")
	}
	waitFor(t, 5*time.Second, "tunnel gone", func() bool { return p.Stats().Tunnels == 0 })
	if r := obs.last(t); r.Status != 101 || r.BytesOut < 3+4+100<<10 {
		t.Fatalf("record status %d bytes out %d", r.Status, r.BytesOut)
	}

	// 2) The backend closes: the client sees EOF.
	c, br := open()
	if _, err := io.WriteString(c, "bye"); err != nil {
		t.Fatal(err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("client still open after the backend closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("client not closed after the backend closed")
	}
	waitFor(t, 5*time.Second, "tunnel gone", func() bool { return p.Stats().Tunnels == 0 && p.Stats().ActiveConns == 0 })
}
