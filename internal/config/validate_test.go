package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"unknown backend references", `frontends:
  - name: web
    listen: :8080
    backend: nope
    routes:
      - {backend: web}
      - {backend: missing}
      - {name: r3}
backends:
  - {name: web, servers: [{address: "127.0.0.1:1"}]}
`, []string{
			`4:14: frontends[0].backend: unknown backend "nope"; defined backends: web`,
			`7:19: frontends[0].routes[1].backend: unknown backend "missing"; defined backends: web`,
			`8:9: frontends[0].routes[2].backend: a route needs a backend`,
		}},
		{"duplicate names", `frontends:
  - {name: web, listen: ":1", routes: [{name: a, backend: b}, {name: a, backend: b}]}
  - {name: web, listen: ":2", backend: b}
backends:
  - {name: b, servers: [{address: "127.0.0.1:1"}]}
  - {name: b, servers: [{address: "127.0.0.1:1"}]}
`, []string{
			`2:70: frontends[0].routes[1].name: duplicate route name "a" (also routes[0])`,
			`3:12: frontends[1].name: duplicate frontend name "web" (also frontends[0])`,
			`6:12: backends[1].name: duplicate backend name "b" (also backends[0])`,
		}},
		{"names", `frontends:
  - {listen: ":1"}
  - {name: "a b", listen: ":2", rate_limits: [{name: "", rate: 1/s}]}
`, []string{
			`2:5: frontends[0].name: a frontend needs a name`,
			`3:12: frontends[1].name: invalid name "a b": use letters, digits, '.', '_' and '-' (at most 128)`,
			`3:54: frontends[1].rate_limits[0].name: a rate limit needs a name`,
		}},
		{"duplicate listen addresses", `admin: {listen: "127.0.0.1:9900"}
frontends:
  - {name: a, listen: "0.0.0.0:8080"}
  - {name: b, listen: "127.0.0.1:8080"}
  - {name: c, listen: ":9900"}
  - {name: d, listen: "[::1]:8081"}
  - {name: e, listen: "[::1]:8081"}
  - {name: f, listen: "127.0.0.1:8081"}
`, []string{
			`4:23: frontends[1].listen: address 127.0.0.1:8080 is already used by frontends[0] (a, line 3)`,
			`5:23: frontends[2].listen: address :9900 is already used by admin.listen (line 1)`,
			`7:23: frontends[4].listen: address [::1]:8081 is already used by frontends[3] (d, line 6)`,
		}},
		{"bad addresses", `admin: {listen: "localhost"}
frontends:
  - {name: a, listen: ":0", backend: b}
  - {name: c, listen: "1.2.3.4:65536"}
  - {name: d}
  - {name: e, listen: "[::1%]:80"}
backends:
  - name: b
    servers:
      - address: ":80"
      - address: "host_with space:80"
      - address: "10.0.0.1"
      - address: "10.0.0.1:http"
      - {weight: 1}
      - address: "1.2.3:80"
`, []string{
			`1:17: admin.listen: invalid address "localhost": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
			`3:23: frontends[0].listen: invalid port in ":0": want 1..65535`,
			`4:23: frontends[1].listen: invalid port in "1.2.3.4:65536": want 1..65535`,
			`5:5: frontends[2].listen: a listen address (host:port) is required`,
			`6:23: frontends[3].listen: invalid IP address "::1%" in "[::1%]:80"`,
			`10:18: backends[0].servers[0].address: missing host in ":80"`,
			`11:18: backends[0].servers[1].address: invalid host "host_with space" in "host_with space:80"`,
			`12:18: backends[0].servers[2].address: invalid address "10.0.0.1": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
			`13:18: backends[0].servers[3].address: invalid port in "10.0.0.1:http": want 1..65535`,
			`14:9: backends[0].servers[4].address: an address (host:port) is required`,
			`15:18: backends[0].servers[5].address: invalid host "1.2.3" in "1.2.3:80"`,
		}},
		{"servers", `frontends: [{name: f, listen: ":1"}]
backends:
  - name: empty
    servers: []
  - name: none
  - name: weights
    algorithm: weighted_round_robin
    servers:
      - {address: "10.0.0.1:80", weight: -1}
      - {address: "10.0.0.2:80", weight: 257}
      - {address: "10.0.0.2:80", weight: 0}
      - {address: "DB.example.com:5432", weight: 0}
      - {address: "db.example.com:5432", weight: 0}
      - {address: "[::ffff:10.0.0.1]:80", weight: 0}
`, []string{
			`9:7: backends[2].servers: algorithm weighted_round_robin (line 7) needs at least one server with a weight above 0 (the default weight is 1)`,
			`9:42: backends[2].servers[0].weight: must be between 0 and 256, got -1`,
			`10:42: backends[2].servers[1].weight: must be between 0 and 256, got 257`,
			`11:19: backends[2].servers[2].address: duplicate server 10.0.0.2:80 (also servers[1])`,
			`13:19: backends[2].servers[4].address: duplicate server db.example.com:5432 (also servers[3])`,
			`14:19: backends[2].servers[5].address: duplicate server [::ffff:10.0.0.1]:80 (also servers[0])`,
		}},
		{"too many servers", "frontends: [{name: f, listen: \":1\"}]\nbackends:\n  - name: big\n    servers:\n" + manyServers(257),
			[]string{`5:7: backends[0].servers: 257 servers is more than the limit of 256 per backend`}},
		{"tcp frontends", `frontends:
  - name: t
    mode: tcp
    listen: ":1"
    limits: {max_body_bytes: 1}
    routes: []
    rate_limits:
      - key: "header:X-Key"
        rate: 1/s
        match: {client_ip: [10.0.0.0/8], path_prefix: /a, methods: [GET], header: {name: X}}
  - {name: t2, mode: tcp, listen: ":2"}
  - {name: h, mode: http, listen: ":3"}
`, []string{
			`2:5: frontends[0].backend: a tcp frontend needs a backend (or routes matching sni); mode is tcp (line 3)`,
			`5:13: frontends[0].limits: limits are only for http frontends; mode is tcp (line 3)`,
			`8:14: frontends[0].rate_limits[0].key: a header key is only for http frontends (use client_ip or frontend); mode is tcp (line 3)`,
			`10:55: frontends[0].rate_limits[0].match.path_prefix: only client_ip can be matched on a tcp frontend; mode is tcp (line 3)`,
			`10:68: frontends[0].rate_limits[0].match.methods: only client_ip can be matched on a tcp frontend; mode is tcp (line 3)`,
			`10:83: frontends[0].rate_limits[0].match.header: only client_ip can be matched on a tcp frontend; mode is tcp (line 3)`,
			`11:5: frontends[1].backend: a tcp frontend needs a backend (or routes matching sni); mode is tcp (line 11)`,
		}},
		{"unknown enum values", `logging: {level: verbose, format: xml, access_log: ""}
frontends: [{name: f, listen: ":1", mode: udp}]
backends:
  - name: b
    algorithm: random
    health: {active: {type: grpc}}
    servers: [{address: "127.0.0.1:1"}]
`, []string{
			`1:18: logging.level: unknown value "verbose": want error, warn, info, debug, trace`,
			`1:35: logging.format: unknown value "xml": want json, text`,
			`1:52: logging.access_log: must be stdout, stderr, off or a file path`,
			`2:43: frontends[0].mode: unknown value "udp": want http, tcp`,
			`5:16: backends[0].algorithm: unknown value "random": want round_robin, weighted_round_robin, least_connections, ip_hash`,
			`6:29: backends[0].health.active.type: unknown value "grpc": want tcp, http, none`,
		}},
		{"health checks", `frontends: [{name: f, listen: ":1"}]
backends:
  - name: b
    servers: [{address: "127.0.0.1:1"}]
    health:
      active:
        type: http
        path: health
        expect_status: 600
        interval: 1s
        timeout: 2s
        healthy_threshold: 0
        unhealthy_threshold: -1
      passive: {unhealthy_threshold: -1}
  - name: c
    servers: [{address: "127.0.0.1:1"}]
    health:
      active: {interval: 0s, timeout: -1s}
      passive: {unhealthy_threshold: 2, cooldown: 0s}
  - name: d
    servers: [{address: "127.0.0.1:1"}]
    health:
      active: {type: none, interval: 0s}
`, []string{
			`8:15: backends[0].health.active.path: must start with / and contain no spaces or control characters, got "health"`,
			`9:24: backends[0].health.active.expect_status: status 600 is not an HTTP status (100..599)`,
			`11:18: backends[0].health.active.timeout: timeout 2s (line 11) must not be longer than interval 1s (line 10)`,
			`12:28: backends[0].health.active.healthy_threshold: must be at least 1, got 0`,
			`13:30: backends[0].health.active.unhealthy_threshold: must be at least 1, got -1`,
			`14:38: backends[0].health.passive.unhealthy_threshold: must be at least 0, got -1`,
			`18:26: backends[1].health.active.interval: must be greater than 0, got 0s`,
			`18:39: backends[1].health.active.timeout: must be greater than 0, got -1s`,
			`19:51: backends[1].health.passive.cooldown: must be greater than 0, got 0s`,
		}},
		{"negative and zero values", `shutdown_timeout: 0s
max_connections: -5
frontends:
  - name: f
    listen: ":1"
    max_connections: 0
    timeouts: {client_header: -1s}
    limits: {max_header_bytes: 512, max_body_bytes: -1}
  - name: g
    listen: ":2"
    limits: {max_header_bytes: 2MiB}
backends:
  - name: b
    servers: [{address: "127.0.0.1:1"}]
    max_connections_per_server: -1
    drain_timeout: -1s
    slow_start: -2s
    timeouts: {connect: 0s, response: -1ms, idle: 0s}
`, []string{
			`1:19: shutdown_timeout: must be greater than 0, got 0s`,
			`2:18: max_connections: must be at least 1, got -5`,
			`6:22: frontends[0].max_connections: must be at least 1, got 0`,
			`7:31: frontends[0].timeouts.client_header: must be greater than 0, got -1s`,
			`8:32: frontends[0].limits.max_header_bytes: must be between 1KiB and 1MiB, got 512`,
			`8:53: frontends[0].limits.max_body_bytes: must not be negative (0 = no limit)`,
			`11:32: frontends[1].limits.max_header_bytes: must be between 1KiB and 1MiB, got 2MiB`,
			`15:33: backends[0].max_connections_per_server: must be at least 0, got -1`,
			`16:20: backends[0].drain_timeout: must not be negative, got -1s`,
			`17:17: backends[0].slow_start: must not be negative, got -2s`,
			`18:25: backends[0].timeouts.connect: must be greater than 0, got 0s`,
			`18:39: backends[0].timeouts.response: must be greater than 0, got -1ms`,
			`18:51: backends[0].timeouts.idle: must be greater than 0, got 0s`,
		}},
		{"route matches and headers", `frontends:
  - name: f
    listen: ":1"
    routes:
      - match: {host: "*.example.com", path_prefix: /ok, methods: [GET, PURGE]}
        backend: b
      - match: {host: "a.*.com", path_prefix: nope, methods: [get, "G T", ""]}
        backend: b
      - match: {host: "exa mple.com", path_prefix: "/a b"}
        backend: b
        request_headers:
          set: {"X Bad": v, X-Ok: "a\r\nInjected: 1", x-ok: again}
          remove: [Good, "Bad:"]
        response_headers: {set: {"": v}}
      - match: {host: "*"}
        backend: b
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`, []string{
			`7:23: frontends[0].routes[1].match.host: invalid host "a.*.com": want a host name like api.example.com or a leading wildcard like *.example.com`,
			`7:47: frontends[0].routes[1].match.path_prefix: must start with / and contain no spaces or control characters, got "nope"`,
			`7:63: frontends[0].routes[1].match.methods[0]: invalid method "get": want an upper-case token like GET or POST`,
			`7:68: frontends[0].routes[1].match.methods[1]: invalid method "G T": want an upper-case token like GET or POST`,
			`7:75: frontends[0].routes[1].match.methods[2]: invalid method "": want an upper-case token like GET or POST`,
			`9:23: frontends[0].routes[2].match.host: invalid host "exa mple.com": want a host name like api.example.com or a leading wildcard like *.example.com`,
			`9:52: frontends[0].routes[2].match.path_prefix: must start with / and contain no spaces or control characters, got "/a b"`,
			`12:17: frontends[0].routes[2].request_headers.set: invalid header name "X Bad"`,
			`12:35: frontends[0].routes[2].request_headers.set.X-Ok: header value must not contain control characters (CR, LF, NUL)`,
			`12:55: frontends[0].routes[2].request_headers.set: header "x-ok" is set twice`,
			`13:26: frontends[0].routes[2].request_headers.remove[1]: invalid header name "Bad:"`,
			`14:34: frontends[0].routes[2].response_headers.set: invalid header name ""`,
			`15:23: frontends[0].routes[3].match.host: invalid host "*": want a host name like api.example.com or a leading wildcard like *.example.com`,
		}},
		{"backend extensions", `frontends: [{name: f, listen: ":1"}]
backends:
  - {name: a, algorithm: round_robin, hash_balance_factor: 1.5, servers: [{address: "127.0.0.1:1"}]}
  - {name: b, algorithm: ip_hash, hash_balance_factor: 1, servers: [{address: "127.0.0.1:1"}]}
  - {name: c, algorithm: ip_hash, hash_balance_factor: -2, servers: [{address: "127.0.0.1:1"}]}
  - {name: d, algorithm: ip_hash, hash_balance_factor: 1.25, servers: [{address: "127.0.0.1:1"}]}
`, []string{
			`3:60: backends[0].hash_balance_factor: only applies to algorithm ip_hash; algorithm is round_robin (line 3)`,
			`4:56: backends[1].hash_balance_factor: must be greater than 1 (like 1.25), or 0 to turn it off`,
			`5:56: backends[2].hash_balance_factor: must be greater than 1 (like 1.25), or 0 to turn it off`,
		}},
		{"rate limits", `frontends:
  - name: f
    listen: ":1"
    rate_limits:
      - {key: client_ip, rate: 1/s, burst: 0}
      - {key: ip, rate: 1/s}
      - {key: "header:", rate: 1/s}
      - {key: "header:X Y", rate: 1/s}
      - {key: frontend}
      - {rate: 1/s, match: {header: {value: "a\nb"}, path_prefix: x}}
      - {rate: 1/s, match: {header: {name: "X:"}}}
backends:
  - name: b
    servers: [{address: "127.0.0.1:1"}]
    rate_limit: {burst: -1}
`, []string{
			`5:44: frontends[0].rate_limits[0].burst: must be at least 1`,
			`6:15: frontends[0].rate_limits[1].key: unknown key "ip": want client_ip, frontend or header:NAME`,
			`7:15: frontends[0].rate_limits[2].key: invalid header name "" in key "header:"`,
			`8:15: frontends[0].rate_limits[3].key: invalid header name "X Y" in key "header:X Y"`,
			`9:9: frontends[0].rate_limits[4].rate: a rate is required, like 100/s, 20/m or 1000/h`,
			`10:37: frontends[0].rate_limits[5].match.header.name: a header match needs a name`,
			`10:45: frontends[0].rate_limits[5].match.header.value: header value must not contain control characters (CR, LF, NUL)`,
			`10:67: frontends[0].rate_limits[5].match.path_prefix: must start with / and contain no spaces or control characters, got "x"`,
			`11:44: frontends[0].rate_limits[6].match.header.name: invalid header name "X:"`,
			`15:17: backends[0].rate_limit.rate: a rate is required, like 100/s, 20/m or 1000/h`,
			`15:25: backends[0].rate_limit.burst: must be at least 1`,
		}},
		{"flap damping", `frontends: [{name: f, listen: ":1"}]
backends:
  - name: b
    health:
      flap: {max_transitions: 0, window: 0s, penalty: 1m, max_penalty: 30s}
  - name: c
    health:
      flap: {max_transitions: 1001, penalty: -1s}
`, []string{
			`5:31: backends[0].health.flap.max_transitions: must be at least 1, got 0`,
			`5:42: backends[0].health.flap.window: must be greater than 0, got 0s`,
			`5:72: backends[0].health.flap.max_penalty: must not be shorter than penalty (1m0s), got 30s`,
			`8:31: backends[1].health.flap.max_transitions: must be at most 1000, got 1001`,
			`8:46: backends[1].health.flap.penalty: must be greater than 0, got -1s`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrs(t, tc.src, tc.want...) })
	}
}

func manyServers(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "      - address: 10.0.%d.%d:80\n", i/250, i%250+1)
	}
	return b.String()
}

// An http frontend with neither backend nor routes is valid (404s).
func TestHTTPFrontendWithoutBackend(t *testing.T) {
	c := mustParse(t, "frontends: [{name: f, listen: \":1\"}]\n")
	if len(c.Backends) != 0 || c.Frontends[0].Backend != "" || !c.Frontends[0].IsHTTP() {
		t.Fatalf("%+v", c.Frontends[0])
	}
}

// Every error is reported, not just the first, in position order.
func TestAllErrorsSorted(t *testing.T) {
	got := errLines(t, `backends: [{name: b, servers: [{address: "x"}]}]
frontends:
  - {name: f, listen: bad, mode: tpc, backend: z}
admin: {listen: "nope", pprof: 1}
`)
	want := []string{
		`1:42: backends[0].servers[0].address: invalid address "x": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
		`3:23: frontends[0].listen: invalid address "bad": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
		`3:34: frontends[0].mode: unknown value "tpc": want http, tcp`,
		`3:48: frontends[0].backend: unknown backend "z"; defined backends: b`,
		`4:17: admin.listen: invalid address "nope": want host:port, like 127.0.0.1:8080 or [::1]:8080`,
		`4:32: admin.pprof: expected true or false, got an integer`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s", strings.Join(got, "\n"))
	}
}

// Validate works on a Config built in code (no positions).
func TestValidateInCode(t *testing.T) {
	c := Defaults()
	c.File = "code"
	f := DefaultFrontend()
	f.Name, f.Listen, f.Backend = "f", "127.0.0.1:1", "b"
	c.Frontends = append(c.Frontends, f)
	b := DefaultBackend()
	b.Name = "b"
	c.Backends = append(c.Backends, b)
	c.ShutdownTimeout = 0
	err := c.Validate()
	if err == nil || err.Error() != "code: shutdown_timeout: must be greater than 0, got 0s" {
		t.Fatalf("got %v", err)
	}
	c.ShutdownTimeout = time.Second
	if err := c.Validate(); err != nil { // a backend with no servers is valid
		t.Fatal(err)
	}
	c.Backends[0].Servers = []Server{{Address: "127.0.0.1:2", Weight: 1}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsFormat(t *testing.T) {
	es := Errors{{File: "a.yaml", Line: 3, Col: 1, Msg: "x"}, {File: "a.yaml", Msg: "y"}, {File: "a.yaml", Line: 1, Col: 9, Msg: "z"}}
	if got := es.err().Error(); got != "a.yaml: y\na.yaml:1:9: z\na.yaml:3:1: x" {
		t.Fatalf("%q", got)
	}
	if (Errors{}).err() != nil {
		t.Fatal("empty Errors must be a nil error")
	}
}
