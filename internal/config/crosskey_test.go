package config

import (
	"strings"
	"testing"
	"time"
)

// Tests of the rule "a default never invalidates what the user wrote":
// each derived default adapts to the keys given, and each cross-key rule
// fires only between two written values, naming both keys and lines.

// backendWith is minimal with extra lines added to the backend "web".
func backendWith(extra string) string { return minimal + extra }

// TestHealthTimeoutDefaultFollowsInterval: interval alone never makes the
// default timeout (1s) invalid: timeout = min(1s, interval).
func TestHealthTimeoutDefaultFollowsInterval(t *testing.T) {
	for iv, want := range map[string]time.Duration{"1s": time.Second, "500ms": 500 * time.Millisecond, "10s": time.Second} {
		c := mustParse(t, backendWith("    health:\n      active: {type: http, interval: "+iv+"}\n"))
		if a := c.Backends[0].Health.Active; a.Timeout != want {
			t.Errorf("interval %s: timeout = %v, want %v", iv, a.Timeout, want)
		}
	}
	// An invalid interval is reported alone; the timeout keeps its default.
	checkErrs(t, backendWith("    health:\n      active: {interval: 0s}\n"),
		`10:26: backends[0].health.active.interval: must be greater than 0, got 0s`)
}

// TestHealthIntervalDefaultFollowsTimeout: timeout alone never makes the
// default interval (2s) invalid: interval = max(2s, timeout).
func TestHealthIntervalDefaultFollowsTimeout(t *testing.T) {
	for to, want := range map[string]time.Duration{"5s": 5 * time.Second, "500ms": 2 * time.Second, "2s": 2 * time.Second} {
		c := mustParse(t, backendWith("    health:\n      active: {timeout: "+to+"}\n"))
		if a := c.Backends[0].Health.Active; a.Interval != want {
			t.Errorf("timeout %s: interval = %v, want %v", to, a.Interval, want)
		}
	}
}

// TestHealthTimeoutLongerThanInterval: both written and in conflict: the
// message names both keys and both lines. Equal values are fine (a probe
// may use the whole interval, as HAProxy's default check timeout does).
func TestHealthTimeoutLongerThanInterval(t *testing.T) {
	checkErrs(t, backendWith(`    health:
      active:
        interval: 2s
        timeout: 5s
`), `12:18: backends[0].health.active.timeout: timeout 5s (line 12) must not be longer than interval 2s (line 11)`)
	mustParse(t, backendWith("    health:\n      active: {interval: 1s, timeout: 1s}\n"))
}

// TestTCPClientIdleDefault: a tcp frontend's idle sessions (database pools,
// subscribers) get 1h by default; http keep-alive keeps 60s; a written value
// wins for both.
func TestTCPClientIdleDefault(t *testing.T) {
	c := mustParse(t, `frontends:
  - {name: web, listen: ":1", backend: b}
  - {name: db, mode: tcp, listen: ":2", backend: b}
  - {name: db2, mode: tcp, listen: ":3", backend: b, timeouts: {client_header: 5s}}
  - {name: db3, mode: tcp, listen: ":4", backend: b, timeouts: {client_idle: 5m}}
  - {name: web2, mode: http, listen: ":5", backend: b, timeouts: {client_idle: 2h}}
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`)
	want := []time.Duration{60 * time.Second, time.Hour, time.Hour, 5 * time.Minute, 2 * time.Hour}
	for i, f := range c.Frontends {
		if f.Timeouts.ClientIdle != want[i] {
			t.Errorf("%s (%s): client_idle = %v, want %v", f.Name, f.Mode, f.Timeouts.ClientIdle, want[i])
		}
	}
	if DefaultTCPClientIdleTimeout != time.Hour || DefaultClientIdleTimeout != 60*time.Second {
		t.Errorf("defaults tcp %v http %v, want 1h and 60s", DefaultTCPClientIdleTimeout, DefaultClientIdleTimeout)
	}
}

// TestDefaultNamesAvoidWrittenNames: "route-N" and "rate-limit-N" never
// collide with a name the user gave another entry.
func TestDefaultNamesAvoidWrittenNames(t *testing.T) {
	c := mustParse(t, `frontends:
  - name: web
    listen: :1
    routes:
      - {name: route-2, backend: b}
      - {backend: b}
      - {name: route-2-2, backend: b}
      - {backend: b}
    rate_limits:
      - {rate: 1/s}
      - {name: rate-limit-1, rate: 2/s}
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`)
	var got []string
	for _, r := range c.Frontends[0].Routes {
		got = append(got, r.Name)
	}
	for _, r := range c.Frontends[0].RateLimits {
		got = append(got, r.Name)
	}
	if s := strings.Join(got, " "); s != "route-2 route-2-3 route-2-2 route-4 rate-limit-1-2 rate-limit-1" {
		t.Errorf("names %s", s)
	}
	// Two written names can still clash.
	checkErrs(t, `frontends:
  - {name: web, listen: ":1", routes: [{name: a, backend: b}, {name: a, backend: b}]}
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`, `2:70: frontends[0].routes[1].name: duplicate route name "a" (also routes[0])`)
}

// TestHashBalanceFactorMeansIPHash: hash_balance_factor alone selects
// ip_hash (the only algorithm it applies to) instead of being refused
// because of the default round_robin; with another algorithm written, the
// message names both.
func TestHashBalanceFactorMeansIPHash(t *testing.T) {
	c := mustParse(t, backendWith("    hash_balance_factor: 1.25\n"))
	if b := c.Backends[0]; b.Algorithm != AlgIPHash {
		t.Errorf("algorithm = %q, want ip_hash", b.Algorithm)
	}
	checkErrs(t, backendWith("    algorithm: least_connections\n    hash_balance_factor: 1.25\n"),
		`10:26: backends[0].hash_balance_factor: only applies to algorithm ip_hash; algorithm is least_connections (line 9)`)
}

// TestActiveHealthTypeFromKeys: an active block with path or expect_status
// and no type means http (the default tcp would ignore them). A written
// type wins: type tcp with a path left over from an http check is valid
// and checks tcp (as before; switching a check's type needs no other edit).
func TestActiveHealthTypeFromKeys(t *testing.T) {
	for _, blk := range []string{"{path: /healthz}", "{expect_status: 204}", "{}"} {
		c := mustParse(t, backendWith("    health:\n      active: "+blk+"\n"))
		want := HealthHTTP
		if blk == "{}" {
			want = HealthTCP
		}
		if typ := c.Backends[0].Health.Active.Type; typ != want {
			t.Errorf("active %s: type %q, want %q", blk, typ, want)
		}
	}
	c := mustParse(t, backendWith(`    health:
      active:
        type: tcp
        path: /healthz
        expect_status: 204
`))
	if typ := c.Backends[0].Health.Active.Type; typ != HealthTCP {
		t.Errorf("written type tcp became %q", typ)
	}
}

// TestExpectStatusForms: a code, a class, or a list of either; the default
// is any 2xx or 3xx.
func TestExpectStatusForms(t *testing.T) {
	for src, want := range map[string]string{
		"204": "204", `"2xx"`: "2xx", "2XX": "2xx", "[200, 301]": "200, 301", "[2xx, 304]": "2xx, 304", "": "2xx, 3xx",
	} {
		active := "{type: http}"
		if src != "" {
			active = "{type: http, expect_status: " + src + "}"
		}
		c := mustParse(t, backendWith("    health:\n      active: "+active+"\n"))
		if got := c.Backends[0].Health.Active.ExpectStatus.String(); got != want {
			t.Errorf("expect_status %s = %q, want %q", src, got, want)
		}
	}
	checkErrs(t, backendWith("    health:\n      active: {type: http, expect_status: [200, 6xx, 99, x, {a: 1}]}\n"),
		`10:49: backends[0].health.active.expect_status[1]: invalid status "6xx": want a code like 204 or a class like 2xx`,
		`10:54: backends[0].health.active.expect_status[2]: status 99 is not an HTTP status (100..599)`,
		`10:58: backends[0].health.active.expect_status[3]: invalid status "x": want a code like 204 or a class like 2xx`,
		`10:61: backends[0].health.active.expect_status[4]: expected a status code like 204 or a class like 2xx, got a mapping`)
	checkErrs(t, backendWith("    health:\n      active: {type: http, expect_status: []}\n"),
		`10:43: backends[0].health.active.expect_status: an empty list accepts no status; give codes or classes like [200, 3xx]`)
	sc := StatusCodes{{200, 299}, {301, 301}}
	for code, ok := range map[int]bool{199: false, 200: true, 299: true, 300: false, 301: true} {
		if sc.Match(code) != ok {
			t.Errorf("Match(%d) = %v", code, !ok)
		}
	}
}

// TestModeConflictsNameMode: keys that only http frontends take name the
// line of mode: tcp. Without mode (http by default) they are valid.
func TestModeConflictsNameMode(t *testing.T) {
	mustParse(t, `frontends:
  - {name: web, listen: ":1", backend: b, limits: {max_body_bytes: 1}, routes: [{backend: b}]}
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`)
	checkErrs(t, `frontends:
  - name: db
    listen: ":1"
    mode: tcp
    backend: b
    limits: {max_body_bytes: 1}
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`, `6:13: frontends[0].limits: limits are only for http frontends; mode is tcp (line 4)`)
}

// TestWRRWeightsNameAlgorithm: weights default to 1, so only written zero
// weights can leave weighted_round_robin nothing; the message names the
// algorithm's line.
func TestWRRWeightsNameAlgorithm(t *testing.T) {
	mustParse(t, backendWith("    algorithm: weighted_round_robin\n"))
	checkErrs(t, `frontends: [{name: f, listen: ":1", backend: b}]
backends:
  - name: b
    algorithm: weighted_round_robin
    servers: [{address: "127.0.0.1:1", weight: 0}]
`, `5:14: backends[0].servers: algorithm weighted_round_robin (line 4) needs at least one server with a weight above 0 (the default weight is 1)`)
}

// TestAdminListenDefaultNamed: a frontend on the admin port conflicts with
// the default admin.listen; the message says it is the default and how to
// move it (the two sockets cannot both be bound).
func TestAdminListenDefaultNamed(t *testing.T) {
	checkErrs(t, `frontends: [{name: f, listen: "127.0.0.1:9900", backend: b}]
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`, `1:31: frontends[0].listen: address 127.0.0.1:9900 is already used by admin.listen (by default; set admin.listen to move the admin listener)`)
	mustParse(t, `admin: {listen: "127.0.0.1:9901"}
frontends: [{name: f, listen: "127.0.0.1:9900", backend: b}]
backends: [{name: b, servers: [{address: "127.0.0.1:1"}]}]
`)
}

// TestUTF8BOM: a byte-order mark at the start of the file (Windows editors
// write one) is skipped; positions stay those an editor shows.
func TestUTF8BOM(t *testing.T) {
	c := mustParse(t, "\ufeffadmin: {listen: \"127.0.0.1:9901\"}\n"+minimal)
	if c.Admin.Listen != "127.0.0.1:9901" {
		t.Errorf("admin.listen = %q", c.Admin.Listen)
	}
	if !strings.HasPrefix(string(c.Raw), "\ufeff") {
		t.Error("Raw must keep the file as read")
	}
	checkErrs(t, "\ufeffshutdown_timeout: 0s\n"+minimal,
		`1:19: shutdown_timeout: must be greater than 0, got 0s`)
	checkErrs(t, "\ufeffadmn: {}\n"+minimal,
		`1:1: top level: unknown key "admn" (did you mean "admin"?)`)
}
