package config

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	var calls atomic.Int32
	old := systemResolver
	t.Cleanup(func() { systemResolver = old })
	systemResolver = fakeResolver(func(ctx context.Context, host string) ([]string, error) {
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
	})
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
	want := "t.yaml:7:18: backends[0].servers[2].address: cannot resolve \"nope.internal:5432\": no such host\n" +
		"t.yaml:11:18: backends[1].servers[1].address: cannot resolve \"slow.internal:1\": context deadline exceeded"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("lookups = %d, want 4 (one per name)", n)
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

// fakeResolver answers A/AAAA lookups with a function; SRV from srvs.
type fakeResolver func(ctx context.Context, host string) ([]string, error)

func (f fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	names, err := f(ctx, host)
	var out []netip.Addr
	for _, n := range names {
		out = append(out, netip.MustParseAddr(n))
	}
	return out, err
}

func (f fakeResolver) LookupSRV(ctx context.Context, _, _, name string) (string, []*net.SRV, error) {
	switch name {
	case "_http._tcp.app.internal":
		return "", []*net.SRV{
			{Target: "a.internal.", Port: 8080, Priority: 10, Weight: 60},
			{Target: "b.internal.", Port: 8081, Priority: 10, Weight: 0},
			{Target: "backup.internal.", Port: 9090, Priority: 20, Weight: 100},
		}, nil
	case "_big._tcp.app.internal":
		return "", []*net.SRV{
			{Target: "a.internal.", Port: 1, Priority: 0, Weight: 65535},
			{Target: "b.internal.", Port: 2, Priority: 0, Weight: 1000},
		}, nil
	case "_none._tcp.app.internal":
		return "", []*net.SRV{{Target: ".", Port: 0}}, nil
	}
	return "", nil, errors.New("no such host")
}

func TestResolveSRV(t *testing.T) {
	r := fakeResolver(func(_ context.Context, host string) ([]string, error) {
		switch host {
		case "a.internal":
			return []string{"10.0.0.1", "10.0.0.2"}, nil
		case "b.internal":
			return []string{"10.0.0.3"}, nil
		case "backup.internal":
			return []string{"10.0.0.9"}, nil
		}
		return nil, errors.New("no such host")
	})
	c := mustParse(t, `frontends: [{name: f, mode: tcp, listen: ":1", backend: b}]
backends:
  - name: b
    algorithm: weighted_round_robin
    servers:
      - address: _http._tcp.app.internal
        weight: 5
      - address: _big._tcp.app.internal
  - name: c
    servers:
      - address: _none._tcp.app.internal
`)
	err := c.ResolveWith(context.Background(), r)
	want := `t.yaml:11:18: backends[1].servers[0].address: cannot resolve "_none._tcp.app.internal": no SRV records with a target found`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	s := c.Backends[0].Servers[0]
	wantAddrs := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:8080"), netip.MustParseAddrPort("10.0.0.2:8080"), netip.MustParseAddrPort("10.0.0.3:8081")}
	if !slices.Equal(s.Addrs, wantAddrs) || !slices.Equal(s.AddrWeights, []int{60, 60, 1}) {
		t.Errorf("SRV Addrs %v weights %v; want %v [60 60 1] (priority 20 unused, weight 0 → 1)", s.Addrs, s.AddrWeights, wantAddrs)
	}
	if got := c.Backends[0].Servers[1].AddrWeights; !slices.Equal(got, []int{256, 256, 4}) {
		t.Errorf("scaled SRV weights %v, want [256 256 4]", got)
	}
}

func TestSRVNameSyntax(t *testing.T) {
	for s, want := range map[string]bool{
		"_http._tcp.app.internal": true, "_http._tcp.app.internal.": true, "_x._udp.svc.cluster.local": true,
		"_http.app.internal": false, "http._tcp.app.internal": false, "_http._tcp": false, "_._tcp.a": false,
		"_http._tcp.app.internal:80": false,
	} {
		if got := IsSRVName(s); got != want {
			t.Errorf("IsSRVName(%q) = %v", s, got)
		}
	}
}
