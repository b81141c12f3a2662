package config

import (
	"slices"
	"testing"
	"time"
)

// The keys of contract §9 (rate_limit_store, servers by DNS, the PROXY
// protocol): defaults and every refusal, with positions.
func TestScaleKeys(t *testing.T) {
	c := mustParse(t, `frontends:
  - {name: f, listen: ":1", backend: b, proxy_protocol: true, trusted_proxies: [10.0.0.0/8]}
backends:
  - name: b
    servers:
      - {address: "app.internal:80", send_proxy: v2}
      - {address: _http._tcp.app.internal}
    health: {active: {type: tcp}}
rate_limit_store: {redis: "redis://127.0.0.1:6379/0"}
resolvers: ["127.0.0.1:5353", "::1"]
`)
	if st := c.RateLimitStore; st == nil || st.Sync != 100*time.Millisecond || st.Prefix != "sluice" {
		t.Errorf("rate_limit_store defaults: %+v", st)
	}
	b := c.Backends[0]
	if b.DNSRefresh != 30*time.Second || b.Servers[0].SendProxy != "v2" || b.Health.Active.SendProxy != "auto" || !c.Frontends[0].ProxyProtocol {
		t.Errorf("defaults: dns_refresh %v, send_proxy %q, check send_proxy %q", b.DNSRefresh, b.Servers[0].SendProxy, b.Health.Active.SendProxy)
	}
	if d := DefaultBackend(); d.DNSRefresh != DefaultDNSRefresh {
		t.Errorf("DefaultBackend dns_refresh %v", d.DNSRefresh)
	}
	if Defaults().RateLimitStore != nil {
		t.Error("rate_limit_store must be off by default")
	}

	got := errLines(t, `frontends:
  - {name: f, listen: ":1", backend: b, proxy_protocol: true}
backends:
  - name: b
    dns_refresh: 10ms
    servers:
      - {address: "a.internal:80", send_proxy: v3}
      - {address: _http._tcp.app.internal}
      - {address: _http._tcp.APP.internal}
      - {address: _http.app.internal}
    health: {active: {type: tcp, send_proxy: yes}}
rate_limit_store: {redis: "http://x", sync: 1ms, prefix: ""}
resolvers: ["dns.google", "127.0.0.1:0"]
`)
	want := []string{
		`2:57: frontends[0].proxy_protocol: needs trusted_proxies: the peers (load balancers) allowed to send a PROXY header`,
		`5:18: backends[0].dns_refresh: must be at least 100ms, got 10ms`,
		`7:48: backends[0].servers[0].send_proxy: unknown value "v3": want v1 or v2 (or no send_proxy key)`,
		`9:19: backends[0].servers[2].address: duplicate server _http._tcp.APP.internal (also servers[1])`,
		`10:19: backends[0].servers[3].address: invalid address "_http.app.internal": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
		`11:46: backends[0].health.active.send_proxy: unknown value "yes": want auto, none, v1, v2`,
		`12:27: rate_limit_store.redis: unknown scheme "http": want redis://, rediss:// or unix://`,
		`12:45: rate_limit_store.sync: must be between 10ms and 10s, got 1ms`,
		`12:58: rate_limit_store.prefix: must be a non-empty key prefix without spaces or control characters, got ""`,
		`13:13: resolvers[0]: invalid DNS server "dns.google": want an IP address with an optional port, like 127.0.0.1:53 or [::1]:53`,
		`13:27: resolvers[1]: invalid DNS server "127.0.0.1:0": want an IP address with an optional port, like 127.0.0.1:53 or [::1]:53`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", join2(got), join2(want))
	}
}

func join2(l []string) string {
	s := ""
	for _, x := range l {
		s += x + "\n"
	}
	return s
}
