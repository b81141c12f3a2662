package config

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"syntax error", "frontends:\n  - name: a\n   listen: b\n",
			[]string{"3:4: YAML syntax error: value is not allowed in this context"}},
		{"unclosed flow", "frontends: [\n", []string{"1:12: YAML syntax error: sequence end token ']' not found"}},
		{"unknown keys, all of them", minimal + "shutdown_timout: 1s\nadmin:\n  listen: 127.0.0.1:1\n  pprf: true\n  color: red\n", []string{
			`9:1: top level: unknown key "shutdown_timout" (did you mean "shutdown_timeout"?)`,
			`12:3: admin: unknown key "pprf" (did you mean "pprof"?)`,
			`13:3: admin: unknown key "color"; known keys: listen, pprof, state_dir, tls, grpc_listen, users, protect_metrics`,
		}},
		{"unknown nested key", strings.Replace(minimal, "    backend: web\n", "    backend: web\n    timeouts: {client_idel: 1s}\n", 1), []string{
			`5:16: frontends[0].timeouts: unknown key "client_idel" (did you mean "client_idle"?)`,
		}},
		{"duplicate keys", "frontends:\n  - name: web\n    listen: :1\n    name: web2\n    backend: web\n    backend: x\nbackends: []\n", []string{
			`4:5: frontends[0]: duplicate key "name" (first at line 2)`,
			`5:14: frontends[0].backend: unknown backend "web" (no backends are defined)`,
			`6:5: frontends[0]: duplicate key "backend" (first at line 5)`,
		}},
		{"type errors", `shutdown_timeout: 5
max_connections: lots
admin: {listen: 127.0.0.1:1, pprof: "yes"}
logging: [info]
frontends:
  - name: [a]
    listen: 127.0.0.1:8080
    max_connections: 99999999999
    limits: {max_header_bytes: 64KB, max_body_bytes: true}
    timeouts: {client_idle: 5 seconds, client_read: 1.5}
    trusted_proxies: 10.0.0.0/8
    access: {allow: [10.0.0.0/8, 10.1.2.3/24, nonsense, [1]]}
    routes: {}
    rate_limits:
      - rate: 100
      - rate: 5/d
      - 7
backends:
  - name: b
    hash_balance_factor: fast
    servers: [{address: 127.0.0.1:1, weight: 1.5}]
`, []string{
			`1:19: shutdown_timeout: expected a duration with a unit like "250ms", "2s" or "1m", got an integer`,
			`2:18: max_connections: expected an integer, got a string`,
			`3:37: admin.pprof: expected true or false, got a string`,
			`4:10: logging: expected a mapping (key: value), got a list`,
			`6:11: frontends[0].name: expected a string, got a list`,
			`8:22: frontends[0].max_connections: integer 99999999999 is out of range`,
			`9:32: frontends[0].limits.max_header_bytes: invalid size "64KB": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
			`9:54: frontends[0].limits.max_body_bytes: expected a size like 65536 or "64KiB", got a boolean`,
			`10:29: frontends[0].timeouts.client_idle: invalid duration "5 seconds": use Go syntax like "250ms", "2s", "1m30s"`,
			`10:53: frontends[0].timeouts.client_read: expected a duration with a unit like "250ms", "2s" or "1m", got a number`,
			`11:22: frontends[0].trusted_proxies: expected a list of CIDRs like [10.0.0.0/8], got a string`,
			`12:34: frontends[0].access.allow[1]: CIDR "10.1.2.3/24" has host bits set (did you mean 10.1.2.0/24?)`,
			`12:47: frontends[0].access.allow[2]: invalid address or CIDR "nonsense"`,
			`12:57: frontends[0].access.allow[3]: expected an address or CIDR, got a list`,
			`13:13: frontends[0].routes: expected a list, got a mapping`,
			`15:15: frontends[0].rate_limits[0].rate: expected a rate like "100/s", "20/m" or "1000/h", got an integer`,
			`16:15: frontends[0].rate_limits[1].rate: invalid rate "5/d": use N/s, N/m or N/h (like 100/s)`,
			`17:9: frontends[0].rate_limits[2]: expected a mapping (key: value), got an integer`,
			`20:26: backends[0].hash_balance_factor: expected a number, got a string`,
			`21:46: backends[0].servers[0].weight: expected an integer, got a number`,
		}},
		{"multiple documents", minimal + "---\nfoo: 1\n", []string{"10:1: only one YAML document is allowed per file"}},
		{"empty file", "", []string{"1:1: frontends: at least one frontend is required"}},
		{"not a mapping", "- a\n", []string{"1:1: top level: expected a mapping (key: value), got a list"}},
		{"unknown alias", "frontends: *nope\n", []string{"1:12: frontends: unknown alias *nope"}},
		{"null list item", "frontends:\n  -\n  - name: a\n", []string{
			"2:4: frontends[0]: expected a mapping (key: value), got nothing",
			"3:5: frontends[1].listen: a listen address (host:port) is required"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrs(t, tc.src, tc.want...) })
	}
}

func TestDecodeFeatures(t *testing.T) {
	c := mustParse(t, `# top-level x-* keys are ignored: a place for anchors
x-health: &health
  active: {type: http, path: /ping, interval: 5s}
  passive: {unhealthy_threshold: 0}
x-server: &srv {weight: 2}
frontends:
  - name: web
    listen: ":8080"
    backend: a
backends:
  - name: a
    drain_timeout: 0              # integer 0 is a zero duration
    health: *health
    servers:
      - <<: *srv
        address: 10.0.0.1:80
      - {<<: *srv, address: 10.0.0.2:80, weight: 3}
  - name: b
    health:
      <<: *health
      passive: ~                  # null keeps the default
    servers: [{address: "b.internal:80"}]
`)
	a, b := c.Backends[0], c.Backends[1]
	if a.DrainTimeout != 0 {
		t.Errorf("drain_timeout = %v", a.DrainTimeout)
	}
	if h := a.Health.Active; h.Type != "http" || h.Path != "/ping" || h.Interval != 5*time.Second || h.Timeout != time.Second {
		t.Errorf("aliased active = %+v", h)
	}
	if a.Health.Passive.UnhealthyThreshold != 0 || a.Health.Passive.Cooldown != 10*time.Second {
		t.Errorf("aliased passive = %+v", a.Health.Passive)
	}
	if a.Servers[0].Weight != 2 || a.Servers[1].Weight != 3 || a.Servers[1].Address != "10.0.0.2:80" {
		t.Errorf("merged servers = %+v", a.Servers)
	}
	if b.Health.Active.Path != "/ping" || b.Health.Passive.UnhealthyThreshold != 5 {
		t.Errorf("merged health = %+v", b.Health)
	}
	if len(b.Servers[0].Addrs) != 0 {
		t.Errorf("a host name must not be resolved by Parse: %v", b.Servers[0].Addrs)
	}
}
