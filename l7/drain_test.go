package l7

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestShutdownDrainsKeepAlive: Shutdown stops accepting at once, but never
// closes a keep-alive connection between two requests: a connection idle
// when the drain begins is answered on its next request (with Connection:
// close, and closed after the response), a request in flight finishes with
// Connection: close, and Shutdown returns once both are closed. A
// connection that stays idle is closed only at the drain's deadline.
func TestShutdownDrainsKeepAlive(t *testing.T) {
	release := make(chan struct{})
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	p, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr)})

	idle, idleBR, err := dialKeepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if resp := rawGetOn(t, idle, idleBR, "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: %d close %v", resp.StatusCode, resp.Close)
	}
	busy, busyBR, err := dialKeepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the slow request at the backend", func() bool { return be.count() == 2 })

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- p.Shutdown(ctx)
	}()
	waitFor(t, 5*time.Second, "the listener closed", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight and an idle keep-alive connection", err)
	default:
	}
	// The idle connection is still open: its next request is served.
	resp := rawGetOn(t, idle, idleBR, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("next request on the idle connection: %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
	expectEOF(t, idle, idleBR)
	close(release)
	resp = readResponse(t, busyBR)
	if resp.StatusCode != 200 || !resp.Close {
		t.Fatalf("request in flight: %d, close %v; want 200 and Connection: close", resp.StatusCode, resp.Close)
	}
	expectEOF(t, busy, busyBR)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return once every connection had closed")
	}
}

// TestShutdownClosesIdleAtDeadline: a keep-alive connection that sends
// nothing more is left open until the drain's deadline, then closed.
func TestShutdownClosesIdleAtDeadline(t *testing.T) {
	be := startBackend(t, okHandler)
	p, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr)})
	c, br, err := dialKeepAlive(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp := rawGetOn(t, c, br, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("before the drain: %d close %v", resp.StatusCode, resp.Close)
	}
	const deadline = 400 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	if err := p.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the deadline", err)
	}
	if d := time.Since(start); d < deadline-50*time.Millisecond {
		t.Fatalf("Shutdown returned after %v, before its deadline", d)
	}
	expectEOF(t, c, br)
}

func dialKeepAlive(addr string) (net.Conn, *bufio.Reader, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c), nil
}

func rawGetOn(t *testing.T, c net.Conn, br *bufio.Reader, req string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("writing %q: %v", strings.Fields(req)[1], err)
	}
	return readResponse(t, br)
}

// expectEOF checks that the proxy closed the connection cleanly (a FIN,
// not a reset).
func expectEOF(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last response: %v, want EOF", err)
	}
}
