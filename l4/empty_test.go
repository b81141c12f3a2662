package l4

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
)

// A backend with no servers (valid configuration, contract §2) refuses
// every connection; once a server is added (a reload updates the balancer
// in place) connections reach it.
func TestBackendWithoutServers(t *testing.T) {
	e, err := engine.New(engine.Options{Loops: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	bal := balance.New(balance.Options{}, nil)
	h := newRecHooks()
	f := New(Options{
		Name: "fe", Engine: e, Backend: &Backend{Name: "be", Balancer: bal, ConnectTimeout: time.Second},
		IdleTimeout: 10 * time.Second, Conns: gate.New(0), Global: gate.New(0),
		Admit: func(netip.Addr) Refusal { return 0 }, Hooks: h, Log: quiet,
	})
	ln, err := engine.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ln)
	t.Cleanup(func() {
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	addr := ln.Addr().String()
	if name, c := greet(t, addr); c != nil {
		c.Close()
		t.Fatalf("no servers: got greeting %q, want the connection refused", name)
	}
	waitFor(t, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.refused[RefusedNoServer] == 1
	})
	bal.Update(balance.Options{}, []*balance.Server{balance.NewServer("be", namedEcho(t, "a"), 1)})
	name, c := greet(t, addr)
	if c == nil || name != "a" {
		t.Fatalf("after adding a server: greeting %q", name)
	}
	c.Close()
}
