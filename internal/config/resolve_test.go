package config

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	var calls atomic.Int32
	old := lookupHost
	t.Cleanup(func() { lookupHost = old })
	lookupHost = func(ctx context.Context, host string) ([]string, error) {
		calls.Add(1)
		if _, ok := ctx.Deadline(); !ok {
			t.Error("lookup without a deadline")
		}
		switch host {
		case "db.internal":
			return []string{"10.0.0.5", "10.0.0.5", "::ffff:10.0.0.6"}, nil
		case "slow.internal":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, errors.New("no such host")
	}
	c := mustParse(t, `frontends: [{name: f, mode: tcp, listen: ":1", backend: b}]
backends:
  - name: b
    servers:
      - address: db.internal:5432
      - address: 10.0.0.9:5432
      - address: nope.internal:5432
  - name: c
    servers:
      - address: db.internal:6432
      - address: slow.internal:1
`)
	if got := c.Backends[0].Servers[1].Addrs; len(got) != 1 || got[0] != netip.MustParseAddrPort("10.0.0.9:5432") {
		t.Fatalf("IP literal Addrs = %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := c.Resolve(ctx)
	want := "t.yaml:7:18: backends[0].servers[2].address: cannot resolve \"nope.internal\": no such host\n" +
		"t.yaml:11:18: backends[1].servers[1].address: cannot resolve \"slow.internal\": context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("lookups = %d, want 3 (db.internal once)", n)
	}
	wantDB := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.5:5432"), netip.MustParseAddrPort("10.0.0.6:5432")}
	if got := c.Backends[0].Servers[0].Addrs; len(got) != 2 || got[0] != wantDB[0] || got[1] != wantDB[1] {
		t.Errorf("db.internal Addrs = %v", got)
	}
	if got := c.Backends[1].Servers[0].Addrs; len(got) != 2 || got[0].Port() != 6432 {
		t.Errorf("db.internal:6432 Addrs = %v", got)
	}
	if len(c.Backends[0].Servers[2].Addrs) != 0 {
		t.Error("failed server must have no Addrs")
	}
}

// localhost resolves through the real resolver (/etc/hosts), no network.
func TestResolveLocalhost(t *testing.T) {
	c := mustParse(t, "frontends: [{name: f, mode: tcp, listen: \":1\", backend: b}]\nbackends: [{name: b, servers: [{address: \"localhost:80\"}]}]\n")
	if err := c.Resolve(context.Background()); err != nil {
		t.Skipf("no resolver for localhost here: %v", err)
	}
	for _, a := range c.Backends[0].Servers[0].Addrs {
		if !a.Addr().IsLoopback() || a.Port() != 80 {
			t.Errorf("localhost resolved to %v", a)
		}
	}
	if !strings.Contains(c.Backends[0].Servers[0].Address, "localhost") {
		t.Error("Address must stay as written")
	}
}
