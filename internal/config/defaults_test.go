package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// TestDefaults pins every default to the contract value (literals, not the
// constants, so a changed constant fails here).
func TestDefaults(t *testing.T) {
	c := mustParse(t, minimal+`    health:
      active: {}
`)
	eq := func(name string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", name, got, want)
		}
	}
	eq("admin.listen", c.Admin.Listen, "127.0.0.1:9900")
	eq("admin.pprof", c.Admin.Pprof, false)
	eq("admin.tls", [2]string{c.Admin.TLS.Cert, c.Admin.TLS.Key}, [2]string{"", ""})
	eq("admin.grpc_listen", c.Admin.GRPCListen, "")
	eq("admin.state_dir", c.Admin.StateDir, "")
	eq("admin.users", len(c.Admin.Users), 0)
	eq("admin.protect_metrics", c.Admin.ProtectMetrics, false)
	eq("logging.level", c.Logging.Level, "info")
	eq("logging.format", c.Logging.Format, "json")
	eq("logging.access_log", c.Logging.AccessLog, "stdout")
	eq("shutdown_timeout", c.ShutdownTimeout, 30*time.Second)
	eq("max_connections", c.MaxConnections, 50000)

	f := c.Frontends[0]
	eq("mode", f.Mode, "http")
	eq("frontend max_connections", f.MaxConnections, 10000)
	eq("client_header", f.Timeouts.ClientHeader, 10*time.Second)
	eq("client_idle", f.Timeouts.ClientIdle, 60*time.Second)
	eq("client_read", f.Timeouts.ClientRead, 30*time.Second)
	eq("client_write", f.Timeouts.ClientWrite, 30*time.Second)
	eq("max_header_bytes", f.Limits.MaxHeaderBytes, Size(64*1024))
	eq("max_body_bytes", f.Limits.MaxBodyBytes, Size(0))
	eq("trusted_proxies", len(f.TrustedProxies), 0)
	eq("access", len(f.Access.Allow)+len(f.Access.Deny), 0)

	b := c.Backends[0]
	eq("algorithm", b.Algorithm, "round_robin")
	eq("connect", b.Timeouts.Connect, 2*time.Second)
	eq("response", b.Timeouts.Response, 30*time.Second)
	eq("idle", b.Timeouts.Idle, time.Second) // below servers' keep-alive timeouts
	eq("max_connections_per_server", b.MaxConnectionsPerServer, 0)
	eq("drain_timeout", b.DrainTimeout, 30*time.Second)
	eq("weight", b.Servers[0].Weight, 1)
	eq("enabled", b.Servers[0].Enabled, true)
	eq("drain", b.Servers[0].Drain, false)
	eq("addrs", b.Servers[0].Addrs, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:9001")})
	eq("slow_start", b.SlowStart, time.Duration(0))
	eq("hash_balance_factor", b.HashBalanceFactor, 0.0)
	eq("rate_limit", b.RateLimit, (*BackendRateLimit)(nil))
	a := b.Health.Active
	eq("active (block without type)", a.Type, "tcp")
	eq("path", a.Path, "/health")
	eq("expect_status", a.ExpectStatus, StatusCodes{{200, 299}, {300, 399}})
	eq("interval", a.Interval, 2*time.Second)
	eq("timeout", a.Timeout, time.Second)
	eq("healthy_threshold", a.HealthyThreshold, 2)
	eq("unhealthy_threshold", a.UnhealthyThreshold, 3)
	eq("passive threshold", b.Health.Passive.UnhealthyThreshold, 5)
	eq("passive cooldown", b.Health.Passive.Cooldown, 10*time.Second)

	// No active block: type none.
	c = mustParse(t, minimal)
	eq("active (no block)", c.Backends[0].Health.Active.Type, "none")
	eq("active (no block) interval", c.Backends[0].Health.Active.Interval, 2*time.Second)

	// Defaults() and the element defaults agree with what decoding produced.
	d := Defaults()
	eq("Defaults().Admin.Listen", d.Admin.Listen, "127.0.0.1:9900")
	eq("Defaults().ShutdownTimeout", d.ShutdownTimeout, 30*time.Second)
	df := DefaultFrontend()
	eq("DefaultFrontend().Timeouts", df.Timeouts.ClientIdle, f.Timeouts.ClientIdle)
	eq("DefaultBackend().Passive", DefaultBackend().Health.Passive.UnhealthyThreshold, 5)
}

func TestDerivedDefaults(t *testing.T) {
	c := mustParse(t, `frontends:
  - name: web
    listen: :8080
    routes:
      - match: {host: API.Example.COM}
        backend: web
      - name: named
        backend: web
      - backend: web
    rate_limits:
      - rate: 2.5/s
      - rate: 10/m
        key: frontend
      - rate: 100/s
        burst: 7
backends:
  - name: web
    rate_limit: {rate: 50/s}
    servers: [{address: "[::1]:80", weight: 0}]
`)
	f := c.Frontends[0]
	if f.Routes[0].Name != "route-1" || f.Routes[1].Name != "named" || f.Routes[2].Name != "route-3" {
		t.Errorf("route names: %q %q %q", f.Routes[0].Name, f.Routes[1].Name, f.Routes[2].Name)
	}
	if f.Routes[0].Match.Host != "api.example.com" {
		t.Errorf("host not lower-cased: %q", f.Routes[0].Match.Host)
	}
	rl := f.RateLimits
	if rl[0].Name != "rate-limit-1" || rl[0].Key != "client_ip" || rl[0].Burst != 3 {
		t.Errorf("rl0 = %+v", rl[0])
	}
	if rl[1].Key != "frontend" || rl[1].Burst != 1 || rl[2].Burst != 7 {
		t.Errorf("rl1/2 = %+v %+v", rl[1], rl[2])
	}
	if b := c.Backends[0]; b.RateLimit.Burst != 50 || b.Servers[0].Weight != 0 ||
		b.Servers[0].Addrs[0] != netip.MustParseAddrPort("[::1]:80") {
		t.Errorf("backend = %+v", b)
	}
}

// TestFlapDefaults: flap damping is off without a flap block; an empty
// block turns it on with the contract's example values; max_penalty
// follows a longer penalty unless written.
func TestFlapDefaults(t *testing.T) {
	c := mustParse(t, "frontends: [{name: f, listen: \":1\", backend: b}]\nbackends:\n  - name: b\n  - name: c\n    health: {flap: {}}\n  - name: d\n    health: {flap: {max_transitions: 2, window: 10s}}\n  - name: e\n    health: {flap: {penalty: 1h}}\n")
	if c.Backends[0].Health.Flap != nil {
		t.Fatalf("flap damping on without a flap block: %+v", c.Backends[0].Health.Flap)
	}
	want := FlapHealth{MaxTransitions: 4, Window: time.Minute, Penalty: 30 * time.Second, MaxPenalty: 10 * time.Minute}
	if f := c.Backends[1].Health.Flap; f == nil || f.MaxTransitions != want.MaxTransitions || f.Window != want.Window ||
		f.Penalty != want.Penalty || f.MaxPenalty != want.MaxPenalty {
		t.Fatalf("flap: {} = %+v, want %+v", f, want)
	}
	if f := c.Backends[2].Health.Flap; f.MaxTransitions != 2 || f.Window != 10*time.Second || f.Penalty != 30*time.Second {
		t.Fatalf("partial flap block = %+v", f)
	}
	if f := c.Backends[3].Health.Flap; f.Penalty != time.Hour || f.MaxPenalty != time.Hour {
		t.Fatalf("penalty 1h alone: %+v (max_penalty follows it)", f)
	}
}
