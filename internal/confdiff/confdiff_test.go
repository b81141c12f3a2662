package confdiff

import (
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/config"
)

const base = `admin: {listen: 127.0.0.1:9900}
logging: {level: info}
frontends:
  - name: web
    listen: 127.0.0.1:8080
    trusted_proxies: [10.0.0.0/8]
    access: {deny: [10.1.0.0/16]}
    timeouts: {client_idle: 60s}
    rate_limits:
      - {name: per-ip, rate: 100/s, burst: 20}
    routes:
      - name: api
        match: {host: api.example.com, path_prefix: /v1/}
        backend: api
        request_headers: {set: {X-Env: prod}}
      - name: static
        match: {path_prefix: /static/}
        backend: web
    backend: web
  - name: db
    mode: tcp
    listen: 127.0.0.1:5432
    backend: pg
backends:
  - name: web
    algorithm: weighted_round_robin
    servers:
      - {address: 10.0.0.1:80, weight: 3}
      - {address: 10.0.0.2:80}
    health: {active: {type: http, path: /health}}
  - name: api
    servers: [{address: 10.0.1.1:80}]
  - name: pg
    servers: [{address: 10.0.2.1:5432}]
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.Parse("t.yaml", []byte(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	return c
}

// edit applies old→new string replacements to base.
func edit(t *testing.T, pairs ...string) string {
	t.Helper()
	s := base
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("base has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return s
}

// Every kind of change is reported, each in one line an operator reads.
func TestDiffKinds(t *testing.T) {
	cases := []struct {
		name string
		new  string
		want []string
	}{
		{"nothing", base, nil},
		{"servers", edit(t,
			"{address: 10.0.0.1:80, weight: 3}", "{address: 10.0.0.1:80, weight: 5, enabled: false}",
			"{address: 10.0.0.2:80}", "{address: 10.0.0.3:80, weight: 2}",
			"servers: [{address: 10.0.1.1:80}]", "servers: [{address: 10.0.1.1:80, drain: true}]"),
			[]string{
				"backend web: weight of 10.0.0.1:80 3 → 5",
				"backend web: server 10.0.0.1:80 disabled (out of rotation, its connections finish)",
				"backend web: server 10.0.0.3:80 added (weight 2)",
				"backend web: server 10.0.0.2:80 removed (drains up to 30s)",
				"backend api: server 10.0.1.1:80 draining (no new connections, its connections finish)",
			}},
		{"listeners", edit(t,
			"listen: 127.0.0.1:5432", "listen: 127.0.0.1:5433",
			"backends:", "  - {name: admin2, listen: 0.0.0.0:8443, backend: api}\nbackends:"),
			[]string{
				"frontend db: listen 127.0.0.1:5432 → 127.0.0.1:5433: listener 127.0.0.1:5433 would be bound, 127.0.0.1:5432 closed",
				"frontend admin2 added (http, backend api): listener 0.0.0.0:8443 would be bound",
			}},
		{"frontend removed, mode", edit(t,
			"  - name: db\n    mode: tcp\n    listen: 127.0.0.1:5432\n    backend: pg\n", "",
			"    listen: 127.0.0.1:8080\n", "    listen: 127.0.0.1:8080\n    max_connections: 100\n"),
			[]string{
				"frontend web: a new listener on 127.0.0.1:8080 would be bound, the old one closed (max_connections and a larger limits.max_header_bytes need one)",
				"frontend web: max_connections 10000 → 100",
				"frontend db removed: listener 127.0.0.1:5432 would be closed (connections finish within shutdown_timeout)",
			}},
		{"routes", edit(t,
			"      - name: api\n        match: {host: api.example.com, path_prefix: /v1/}\n        backend: api\n        request_headers: {set: {X-Env: prod}}\n",
			"",
			"      - name: static\n        match: {path_prefix: /static/}\n        backend: web\n",
			"      - name: admin\n        match: {path_prefix: /admin/, methods: [GET]}\n        backend: api\n      - name: static\n        match: {path_prefix: /assets/}\n        backend: api\n        response_headers: {remove: [Server]}\n"),
			[]string{
				"frontend web: route admin (path /admin/, methods GET) → api added at position 1",
				"frontend web: route static: backend web → api",
				"frontend web: route static: match.path_prefix /static/ → /assets/",
				"frontend web: route static: response_headers.remove [] → [Server]",
				"frontend web: route api (host api.example.com, path /v1/) → api removed",
			}},
		{"route order and headers", edit(t,
			"      - name: api\n        match: {host: api.example.com, path_prefix: /v1/}\n        backend: api\n        request_headers: {set: {X-Env: prod}}\n      - name: static\n        match: {path_prefix: /static/}\n        backend: web\n",
			"      - name: static\n        match: {path_prefix: /static/}\n        backend: web\n      - name: api\n        match: {host: api.example.com, path_prefix: /v1/}\n        backend: api\n        request_headers: {set: {X-Env: staging, X-New: 1}}\n"),
			[]string{
				"frontend web: route api: request_headers.set X-Env: prod → staging",
				"frontend web: route api: request_headers.set X-New: 1 added",
				"frontend web: routes reordered (first match wins): api, static → static, api",
			}},
		{"client side", edit(t,
			"trusted_proxies: [10.0.0.0/8]", "trusted_proxies: [10.0.0.0/8, 192.168.0.0/16]",
			"access: {deny: [10.1.0.0/16]}", "access: {allow: [10.0.0.0/8]}\n    limits: {max_body_bytes: 1MiB}",
			"timeouts: {client_idle: 60s}", "timeouts: {client_idle: 30s, client_header: 1m}",
			"{name: per-ip, rate: 100/s, burst: 20}", "{name: per-ip, rate: 200/s, burst: 20}\n      - {name: api, rate: 10/m, match: {path_prefix: /api/}}",
			"backend: web\n  - name: db", "backend: api\n  - name: db"),
			[]string{
				"frontend web: default backend web → api",
				"frontend web: timeouts.client_header 10s → 1m",
				"frontend web: timeouts.client_idle 1m → 30s",
				"frontend web: limits.max_body_bytes 0 → 1MiB",
				"frontend web: trusted_proxies [10.0.0.0/8] → [10.0.0.0/8, 192.168.0.0/16]",
				"frontend web: access.allow [] → [10.0.0.0/8]",
				"frontend web: access.deny [10.1.0.0/16] → []",
				"frontend web: rate limit per-ip: rate 100/s → 200/s",
				"frontend web: rate limit api added (key client_ip, rate 10/m, burst 1)",
			}},
		{"backends", edit(t,
			"    algorithm: weighted_round_robin\n", "    algorithm: least_connections\n    drain_timeout: 5s\n    rate_limit: {rate: 1000/s, burst: 100}\n",
			"health: {active: {type: http, path: /health}}", "health: {active: {type: http, path: /ready, interval: 3s}, passive: {unhealthy_threshold: 0}}",
			"  - name: pg\n    servers: [{address: 10.0.2.1:5432}]\n", "  - name: pg\n    servers: [{address: 10.0.2.1:5432}]\n  - name: spare\n    servers: []\n",
			"  - name: api\n    servers: [{address: 10.0.1.1:80}]\n", ""),
			[]string{
				"frontend web: route api: backend api → web",
				"backend web: algorithm weighted_round_robin → least_connections",
				"backend web: drain_timeout 30s → 5s",
				"backend web: health.active.path /health → /ready",
				"backend web: health.active.interval 2s → 3s",
				"backend web: health.passive.unhealthy_threshold 5 → 0",
				"backend web: rate_limit added (rate 1000/s, burst 100)",
				"backend spare added (round_robin, 0 servers)",
				"backend api removed: its 1 server drain (up to 30s)",
			}},
		{"process", edit(t,
			"admin: {listen: 127.0.0.1:9900}", "admin: {listen: 127.0.0.1:9901}\nshutdown_timeout: 10s\nmax_connections: 1000",
			"logging: {level: info}", "logging: {level: debug, access_log: off}"),
			[]string{
				"admin.listen 127.0.0.1:9900 → 127.0.0.1:9901",
				"logging.level info → debug",
				"logging.access_log stdout → off",
				"shutdown_timeout 30s → 10s",
				"max_connections 50000 → 1000",
			}},
		{"alerts and flap damping", edit(t,
			"health: {active: {type: http, path: /health}}", "health: {active: {type: http, path: /health}, flap: {max_transitions: 3}}",
			"  - name: pg\n    servers: [{address: 10.0.2.1:5432}]\n",
			"  - name: pg\n    servers: [{address: 10.0.2.1:5432}]\nalerts:\n  - {name: slow, when: latency_p99, scope: {backend: web}, threshold: 250ms}\n"),
			[]string{
				"alert slow added (when latency_p99, threshold 250ms)",
				"backend web: health.flap added (max_transitions 3, window 1m, penalty 30s, max_penalty 10m)",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			newText := c.new
			if c.name == "backends" { // the route to the removed backend follows it
				newText = strings.Replace(newText, "        backend: api\n        request_headers", "        backend: web\n        request_headers", 1)
			}
			got := Diff(parse(t, base), parse(t, newText))
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// The same addresses written differently are the same servers.
func TestDiffServerIdentity(t *testing.T) {
	a := parse(t, strings.Replace(base, "{address: 10.0.0.2:80}", "{address: \"[::ffff:10.0.0.2]:80\"}", 1))
	got := Diff(a, parse(t, base))
	if len(got) != 1 || got[0] != "backend web: server [::ffff:10.0.0.2]:80 written as 10.0.0.2:80" {
		t.Fatalf("%q", got)
	}
}
