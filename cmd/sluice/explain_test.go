package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

const explainConf = `frontends:
  - name: web
    listen: 127.0.0.1:18080
    trusted_proxies: [10.0.0.0/8]
    access: {deny: [192.0.2.0/24]}
    routes:
      - {name: api, match: {host: api.example.com, path_prefix: /v1/}, backend: api}
      - {name: tenants, match: {host: "*.example.com"}, backend: tenants}
    backend: web
  - {name: db, mode: tcp, listen: 127.0.0.1:15432, backend: api}
backends:
  - name: api
    servers: [{address: 10.0.1.1:80}]
  - name: tenants
    algorithm: ip_hash
    servers:
      - {address: 10.0.2.1:80}
      - {address: 10.0.2.2:80, enabled: false}
      - {address: 10.0.2.3:80, drain: true}
      - {address: 10.0.2.4:80, weight: 0}
  - name: web
    servers: []
`

// sluice explain answers offline: routes and why, the client behind a
// trusted proxy, each server's standing from the file, the pick; 1 on a bad
// file, flag or frontend.
func TestExplainCommand(t *testing.T) {
	conf := writeFile(t, t.TempDir(), "sluice.yaml", explainConf)
	out, errOut, code := sluiceCmd(t, "explain", "-c", conf, "--frontend", "web", "--host", "a.example.com", "--path", "/v1/x",
		"--client-ip", "10.1.1.1", "--header", "X-Forwarded-For: 203.0.113.7")
	want := `offline: every server is taken as up (no health check has run); enabled and drain are as in the file
frontend web (http), client 203.0.113.7: access allowed
routes, first match wins:
  api      no: host "a.example.com" does not match "api.example.com"
  tenants  matches
route tenants: backend tenants
servers:
  10.0.2.1:80  eligible
  10.0.2.2:80  disabled
  10.0.2.3:80  draining
  10.0.2.4:80  weight 0
pick: 10.0.2.1:80
`
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d\n%s\nstderr %s\nwant\n%s", code, out, errOut, want)
	}
	out, _, code = sluiceCmd(t, "explain", "-c", conf, "--frontend", "web", "--host", "other", "--client-ip", "192.0.2.9", "--json")
	var ex state.Explanation
	if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil {
		t.Fatalf("json: exit %d %v\n%s", code, err, out)
	}
	if ex.Status != 403 || !strings.HasPrefix(ex.Access, "denied") || ex.Backend != "web" || ex.Pick != "" || len(ex.Routes) != 2 {
		t.Fatalf("denied client: %+v", ex)
	}
	out, _, code = sluiceCmd(t, "explain", "-c", conf, "--frontend", "db", "--client-ip", "198.51.100.1")
	if code != 0 || !strings.Contains(out, "frontend db (tcp), client 198.51.100.1: access allowed\nbackend api\n") || !strings.HasSuffix(out, "pick: 10.0.1.1:80\n") {
		t.Fatalf("tcp: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"explain", "-c", conf},                                          // no --frontend
		{"explain", "-c", conf, "--frontend", "nope"},                    // unknown frontend
		{"explain", "-c", conf, "--frontend", "web", "--client-ip", "x"}, // bad address
		{"explain", "-c", conf + ".missing", "--frontend", "web"},        // no file
	} {
		if out, errOut, code := sluiceCmd(t, args...); code != 1 || out != "" || errOut == "" {
			t.Errorf("%v: exit %d out %q err %q", args, code, out, errOut)
		}
	}
	if _, errOut, _ := sluiceCmd(t, "explain", "-c", conf, "--frontend", "nope"); !strings.Contains(errOut, `has no frontend named "nope" (it has web, db)`) {
		t.Errorf("unknown frontend: %q", errOut)
	}
}
