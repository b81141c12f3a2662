package config

import (
	"testing"
	"time"
)

const alertBase = `frontends: [{name: web, listen: ":1", backend: api}]
backends:
  - name: api
    servers: [{address: "10.0.0.1:80"}, {address: "[::ffff:10.0.0.2]:80"}]
`

// TestAlertsParse: every kind with its unit, defaults (server_down's
// threshold 1, resolve_below = threshold, webhook timeout and retries),
// and a server scope written differently from the server list.
func TestAlertsParse(t *testing.T) {
	c := mustParse(t, alertBase+`alerts:
  - name: api-slow
    when: latency_p99
    scope: {backend: api}
    threshold: 250ms
    resolve_below: 200ms
    for: 1m
    notify: [{webhook: "https://hooks.example.com/sluice"}]
  - {name: down, when: server_down, scope: {backend: api, server: "10.0.0.2:80"}}
  - {name: errors, when: error_rate, scope: {frontend: web}, threshold: 5%}
  - {name: errors2, when: error_rate, threshold: 0.05}
  - {name: limited, when: rate_limited, threshold: 10}
  - {name: rss, when: resource, resource: rss, threshold: 512MiB}
  - {name: fds, when: resource, resource: fds, threshold: 1000}
  - {name: cpu, when: resource, resource: cpu, threshold: 90%, resolve_below: 0.5}
  - {name: conns, when: resource, resource: connections, scope: {frontend: web}, threshold: 5000, notify: [{webhook: "http://127.0.0.1:1/", timeout: 1s, retries: 0}]}
`)
	want := []struct {
		name        string
		th, resolve float64
	}{
		{"api-slow", 250, 200}, {"down", 1, 1}, {"errors", 0.05, 0.05}, {"errors2", 0.05, 0.05},
		{"limited", 10, 10}, {"rss", 512 << 20, 512 << 20}, {"fds", 1000, 1000}, {"cpu", 0.9, 0.5}, {"conns", 5000, 5000},
	}
	if len(c.Alerts) != len(want) {
		t.Fatalf("%d alerts", len(c.Alerts))
	}
	for i, w := range want {
		a := c.Alerts[i]
		if a.Name != w.name || a.ThresholdValue != w.th || a.ResolveValue != w.resolve {
			t.Errorf("alerts[%d] = %s %v/%v, want %s %v/%v", i, a.Name, a.ThresholdValue, a.ResolveValue, w.name, w.th, w.resolve)
		}
	}
	if a := c.Alerts[0]; a.For != time.Minute || len(a.Notify) != 1 || a.Notify[0].Timeout != 5*time.Second || a.Notify[0].Retries != 3 {
		t.Errorf("api-slow: for %v notify %+v", a.For, a.Notify)
	}
	if n := c.Alerts[8].Notify[0]; n.Timeout != time.Second || n.Retries != 0 {
		t.Errorf("conns notify %+v", n)
	}
	if c.Alerts[1].Threshold != "1" {
		t.Errorf("server_down default threshold %q", c.Alerts[1].Threshold)
	}
}

func TestAlertsValidate(t *testing.T) {
	checkErrs(t, alertBase+`alerts:
  - {name: a, when: latency_p99}
  - {name: a, when: server_up}
  - {name: b, when: resource}
  - {name: c, when: resource, resource: disk, threshold: 1}
  - {name: d, when: error_rate, resource: rss, threshold: 0.1}
  - {name: e, when: latency_p99, threshold: 250, resolve_below: 300ms}
  - {name: f, when: latency_p99, threshold: 250ms, resolve_below: 300ms}
  - {name: g, when: error_rate, threshold: -0.1}
  - {name: h, when: resource, resource: rss, threshold: 1 PB}
  - {name: i, when: server_down, scope: {frontend: web}}
  - {name: j, when: server_down, scope: {backend: nope}}
  - {name: k, when: server_down, scope: {backend: api, server: "10.0.0.3:80"}}
  - {name: l, when: server_down, scope: {server: "10.0.0.1:80"}}
  - {name: m, when: latency_p99, threshold: 1s, scope: {frontend: web, backend: api}}
  - {name: n, when: resource, resource: rss, threshold: 1GiB, scope: {backend: api}}
  - {name: o, when: rate_limited, threshold: 1, scope: {backend: api, server: "10.0.0.1:80"}}
  - {name: p, when: latency_p99, threshold: 1s, for: -1s, notify: [{webhook: "ftp://x/"}, {timeout: 0s, retries: 11}]}
  - {name: q, when: latency_p99, threshold: 1s, scope: {frontend: nope}}
`,
		`6:5: alerts[0].threshold: a threshold is required (duration: 99th percentile latency over the last minute (process: the highest frontend's))`,
		`7:12: alerts[1].name: duplicate alert name "a" (also alerts[0])`,
		`7:21: alerts[1].when: unknown value "server_up": want server_down, latency_p99, error_rate, rate_limited, resource`,
		`8:21: alerts[2].when: resource needs resource: rss, fds, cpu or connections`,
		`9:41: alerts[3].resource: unknown value "disk": want rss, fds, cpu, connections`,
		`10:43: alerts[4].resource: only applies to when: resource`,
		`11:45: alerts[5].threshold: invalid duration "250": use a Go duration like 250ms or 1.5s`,
		`12:67: alerts[6].resolve_below: must not be above threshold (250ms), got 300ms`,
		`13:44: alerts[7].threshold: invalid ratio "-0.1": use a fraction like 0.05 or a percentage like 5%`,
		`14:57: alerts[8].threshold: invalid size "1 PB": use a number of bytes or a number with KiB, MiB or GiB (like 64KiB)`,
		`15:52: alerts[9].scope.frontend: server_down cannot watch a frontend`,
		`16:51: alerts[10].scope.backend: unknown backend "nope"`,
		`17:64: alerts[11].scope.server: backend "api" has no server 10.0.0.3:80`,
		`18:50: alerts[12].scope.server: a server scope needs its backend too`,
		`19:67: alerts[13].scope.frontend: a scope is a frontend, a backend or a server (backend + address), not several`,
		`20:80: alerts[14].scope.backend: resource rss cannot watch a backend`,
		`21:79: alerts[15].scope.server: rate_limited cannot watch a server`,
		`22:54: alerts[16].for: must not be negative, got -1s`,
		`22:78: alerts[16].notify[0].webhook: must be an http or https URL, got "ftp://x/"`,
		`22:91: alerts[16].notify[1].webhook: a webhook URL is required`,
		`22:101: alerts[16].notify[1].timeout: must be greater than 0, got 0s`,
		`22:114: alerts[16].notify[1].retries: must be at most 10, got 11`,
		`23:67: alerts[17].scope.frontend: unknown frontend "nope"`,
	)
}
