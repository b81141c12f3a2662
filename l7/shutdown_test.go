package l7

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestShutdownBeforeServe: a Shutdown that comes before Serve has started
// (a frontend stopped right after it was started) makes Serve return at
// once instead of serving for ever; the listener is closed.
func TestShutdownBeforeServe(t *testing.T) {
	p, err := New(Options{Frontend: "web"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		_ = ln.Close()
		t.Fatal("Serve after Shutdown did not return")
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the listener still accepts after Shutdown")
	}
}
