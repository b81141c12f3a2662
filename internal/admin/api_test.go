package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/state"
)

func TestStatusFrontendsBackends(t *testing.T) {
	e := newEnv(t, nil)
	v := e.keys[auth.RoleViewer]
	var st statusView
	e.do(req{method: "GET", path: "/api/v1/status", key: v}).json(t, &st)
	if st.Version != "test" || st.ConfigChecksum != "before" || st.Generation != 3 || st.LastReload.Result != "success" ||
		st.UptimeSeconds < 59 || st.Counts != (countsView{Frontends: 1, Backends: 2, Servers: 2, ServersUp: 1, ServersDown: 1,
		ActiveConnections: 4, RequestsPerSec: 120.5}) || st.Process.Goroutines != 30 {
		t.Fatalf("status %+v", st)
	}
	var fes struct{ Frontends []frontendView }
	e.do(req{method: "GET", path: "/api/v1/frontends", key: v}).json(t, &fes)
	if len(fes.Frontends) != 1 || fes.Frontends[0].Name != "web" || fes.Frontends[0].RequestsPerSec != 120.5 || fes.Frontends[0].Routes[0].Backend != "api" {
		t.Fatalf("frontends %+v", fes)
	}
	var b backendView
	e.do(req{method: "GET", path: "/api/v1/backends/web", key: v}).json(t, &b)
	want := []serverView{
		{Address: "10.0.0.1:80", Weight: 1, Enabled: true, Health: "up", ActiveUp: true, PassiveUp: true, EffectiveWeight: 1, ActiveConnections: 3, RequestsPerSec: 100},
		{Address: "10.0.0.2:80", Weight: 3, Enabled: true, Drain: true, Health: "down", PassiveUp: true, Draining: true, EffectiveWeight: 3, Reason: "connect refused"},
		{Address: "10.0.0.9:80", Health: "up", Draining: true, Removed: true, ActiveConnections: 1},
	}
	if b.Name != "web" || b.Algorithm != "round_robin" || fmt.Sprint(b.Servers) != fmt.Sprint(want) {
		t.Fatalf("backend web\n got %+v\nwant %+v", b.Servers, want)
	}
	var bs struct{ Backends []backendView }
	e.do(req{method: "GET", path: "/api/v1/backends", key: v}).json(t, &bs)
	if len(bs.Backends) != 2 || bs.Backends[1].Name != "api" || bs.Backends[1].Servers == nil || len(bs.Backends[1].Servers) != 0 {
		t.Fatalf("backends %+v", bs)
	}
	// A server not sampled yet has health "unknown".
	snap := *e.ctl.Snapshot()
	snap.Backends = []state.Backend{{Name: "web", Servers: []state.Server{{Address: "10.0.0.7:80", Weight: 1, Enabled: true}}}}
	e.ctl.snap.Store(&snap)
	e.do(req{method: "GET", path: "/api/v1/backends/web", key: v}).json(t, &b)
	if b.Servers[0].Health != "unknown" || b.Servers[len(b.Servers)-1].Address != "10.0.0.9:80" {
		t.Fatalf("new server %+v", b.Servers)
	}
	for _, p := range []string{"/api/v1/backends/nope", "/api/v1/frontends/nope"} {
		if r := e.do(req{method: "GET", path: p, key: v}); r.status != 404 || r.errCode() != codeNotFound {
			t.Fatalf("%s: %d %s", p, r.status, r.body)
		}
	}
	if r := e.do(req{method: "GET", path: "/api/v1/status?verbose=1", key: v}); r.status != 400 || !strings.Contains(string(r.body), "verbose") {
		t.Fatalf("unknown parameter: %d %s", r.status, r.body)
	}
}

func TestLogsEventsExplain(t *testing.T) {
	e := newEnv(t, nil)
	v := e.keys[auth.RoleViewer]
	var logs struct{ Entries []state.LogEntry }
	e.do(req{method: "GET", path: "/api/v1/logs?frontend=web&status=5xx&client_ip=10.0.0.0/8&q=%2Fx&limit=7", key: v}).json(t, &logs)
	if f := e.ctl.lastLogs; f != (state.LogFilter{Frontend: "web", Status: "5xx", ClientIP: "10.0.0.0/8", Q: "/x", Limit: 7}) {
		t.Fatalf("filter passed %+v", f)
	}
	e.do(req{method: "GET", path: "/api/v1/logs?status=503", key: v}).json(t, &logs)
	if len(logs.Entries) != 1 || logs.Entries[0].ID != 2 || e.ctl.lastLogs.Limit != 100 {
		t.Fatalf("logs %+v (limit %d)", logs, e.ctl.lastLogs.Limit)
	}
	for q, field := range map[string]string{"status=600": "status", "client_ip=nope": "client_ip", "limit=0": "limit",
		"limit=10001": "limit", "limt=5": "limt", "status=5xx&status=4xx": "status"} {
		r := e.do(req{method: "GET", path: "/api/v1/logs?" + q, key: v})
		if r.status != 400 || !strings.Contains(string(r.body), field) {
			t.Errorf("logs?%s: %d %s", q, r.status, r.body)
		}
	}
	var evs struct{ Events []state.Event }
	e.do(req{method: "GET", path: "/api/v1/events?after=2&limit=2", key: v}).json(t, &evs)
	if len(evs.Events) != 2 || evs.Events[0].ID != 3 || evs.Events[1].ID != 4 {
		t.Fatalf("events %+v", evs)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/events?after=-1", key: v}); r.status != 400 {
		t.Fatalf("events?after=-1: %d", r.status)
	}
	var ex state.Explanation
	e.do(req{method: "GET", path: "/api/v1/explain?frontend=web&method=GET&host=a.example&path=/api/x&client_ip=10.1.2.3" +
		"&header=x-forwarded-for:203.0.113.7&header=X-Api-Key:%20k1", key: v}).json(t, &ex)
	if want := (state.ExplainQuery{Frontend: "web", Method: "GET", Host: "a.example", Path: "/api/x", ClientIP: "10.1.2.3",
		Headers: map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Api-Key": "k1"}}); ex.Pick != "10.0.0.1:80" || !reflect.DeepEqual(e.ctl.explained[0], want) {
		t.Fatalf("explain %+v %+v", ex, e.ctl.explained)
	}
	for q, want := range map[string]int{"": 400, "frontend=web&path=x": 400, "frontend=web&client_ip=1.2.3": 400,
		"frontend=web&method=G%20T": 400, "frontend=nope": 404, "frontend=web&host=bad.example": 400,
		"frontend=web&header=NoColon": 400, "frontend=web&header=Bad%20Name:x": 400, "frontend=web&frontend=web": 400} {
		if r := e.do(req{method: "GET", path: "/api/v1/explain?" + q, key: v}); r.status != want {
			t.Errorf("explain?%s: %d %s, want %d", q, r.status, r.body, want)
		}
	}
}

func TestConfigEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	adm := e.keys[auth.RoleAdmin]
	r := e.do(req{method: "GET", path: "/api/v1/config", key: adm})
	if r.status != 200 || r.header.Get("ETag") != `"before"` || !strings.HasPrefix(r.header.Get("Content-Type"), "application/yaml") {
		t.Fatalf("GET config: %d %v", r.status, r.header)
	}
	text := "frontends: []\n"
	// Dry run: validate and diff, nothing applied, no audit line.
	r = e.do(req{method: "PUT", path: "/api/v1/config?dry_run=true", key: adm, body: text})
	var res state.Result
	r.json(t, &res)
	if c := e.ctl.lastChange(); r.status != 200 || !res.DryRun || res.Applied || c.Op != state.OpPutConfig || !c.DryRun || string(c.Text) != text {
		t.Fatalf("dry run: %d %+v %+v", r.status, res, c)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "audit.log")); err == nil {
		t.Fatal("a dry run was audited")
	}
	// If-Match: the running checksum, or 412.
	if r := e.do(req{method: "PUT", path: "/api/v1/config", key: adm, body: text, header: map[string]string{"If-Match": `"other"`}}); r.status != 412 {
		t.Fatalf("stale If-Match: %d", r.status)
	}
	r = e.do(req{method: "PUT", path: "/api/v1/config", key: adm, body: text, header: map[string]string{"If-Match": `"before"`}})
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	rec := lastAudit(t, e.dir)
	if rec.Action != audit.ActionPutConfig || rec.Actor.Name != "test-admin" || rec.Actor.Via != "key" || rec.Actor.Remote != "127.0.0.1" ||
		rec.ChecksumBefore != "before" || rec.ChecksumAfter != "after" || rec.Persisted != "file" || rec.Result != "ok" || len(rec.Changes) != 1 {
		t.Fatalf("audit %+v", rec)
	}
	if r := e.do(req{method: "PUT", path: "/api/v1/config?dry_run=maybe", key: adm, body: text}); r.status != 400 {
		t.Fatalf("dry_run=maybe: %d", r.status)
	}
	if r := e.do(req{method: "PUT", path: "/api/v1/config", key: adm}); r.status != 400 {
		t.Fatalf("empty PUT: %d", r.status)
	}
	// Invalid: 422 with every error and its line:col.
	errs := []state.ConfigError{{File: "api", Line: 3, Col: 5, Message: "backends[0].name: a backend needs a name"}, {Line: 9, Col: 1, Message: "x"}}
	e.ctl.mu.Lock()
	e.ctl.changeErr, e.ctl.invalid = &state.InvalidError{Errors: errs}, errs
	e.ctl.mu.Unlock()
	for _, p := range []string{"/api/v1/config", "/api/v1/config/validate"} {
		method := "PUT"
		if strings.HasSuffix(p, "validate") {
			method = "POST"
		}
		r := e.do(req{method: method, path: p, key: adm, body: "bad"})
		var ae struct{ Error apiError }
		r.json(t, &ae)
		if r.status != 422 || ae.Error.Code != codeInvalidConfig || len(ae.Error.Errors) != 2 || ae.Error.Errors[0].Line != 3 || ae.Error.Errors[0].Col != 5 ||
			!strings.Contains(ae.Error.Message, "3:5: backends[0].name") {
			t.Fatalf("%s invalid: %d %s", p, r.status, r.body)
		}
	}
	if rec := lastAudit(t, e.dir); rec.Result != audit.ResultRefused || rec.Status != 422 {
		t.Fatalf("refused change audited as %+v", rec)
	}
	e.ctl.mu.Lock()
	e.ctl.invalid = nil
	e.ctl.mu.Unlock()
	if r := e.do(req{method: "POST", path: "/api/v1/config/validate", key: adm, body: "ok"}); r.status != 200 || string(r.body) != "{\"valid\":true}\n" {
		t.Fatalf("valid: %d %s", r.status, r.body)
	}
	// Bodies are bounded: 8 MiB for a configuration, 1 MiB for JSON.
	if r := e.do(req{method: "POST", path: "/api/v1/config/validate", key: adm, body: strings.Repeat("#", MaxConfigBody+1)}); r.status != 413 || r.errCode() != codeTooLarge {
		t.Fatalf("9 MiB config: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "PATCH", path: "/api/v1/backends/web/servers/a:1", key: adm, body: `{"weight":1,` + strings.Repeat(" ", DefaultMaxBody) + `}`}); r.status != 413 {
		t.Fatalf("1 MiB JSON: %d %s", r.status, r.body)
	}
}

func lastAudit(t *testing.T, dir string) audit.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var rec audit.Record
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestServerChanges(t *testing.T) {
	e := newEnv(t, nil)
	adm, op := e.keys[auth.RoleAdmin], e.keys[auth.RoleOperator]
	r := e.do(req{method: "PATCH", path: "/api/v1/backends/web/servers/10.0.0.1:80", key: op, body: `{"weight":5,"drain":false}`})
	c := e.ctl.lastChange()
	if r.status != 200 || c.Op != state.OpPatchServer || c.Backend != "web" || c.Address != "10.0.0.1:80" || *c.Server.Weight != 5 || *c.Server.Drain || c.Server.Enabled != nil {
		t.Fatalf("patch: %d %+v", r.status, c)
	}
	rec := lastAudit(t, e.dir)
	if rec.Action != "patch_server" || rec.Target != "backends/web/servers/10.0.0.1:80" || rec.Request["weight"] != 5.0 || rec.Changes[0] != "backend web: weight of 10.0.0.1:80 1 → 5" || rec.Actor.Role != "operator" {
		t.Fatalf("audit %+v", rec)
	}
	r = e.do(req{method: "POST", path: "/api/v1/backends/api/servers", key: adm, body: `{"address":"10.0.0.5:8080","enabled":false}`})
	c = e.ctl.lastChange()
	if r.status != 201 || c.Op != state.OpAddServer || c.Backend != "api" || c.Server.Address != "10.0.0.5:8080" || *c.Server.Enabled {
		t.Fatalf("add: %d %+v", r.status, c)
	}
	r = e.do(req{method: "DELETE", path: "/api/v1/backends/api/servers/10.0.0.5:8080?dry_run=1", key: adm})
	c = e.ctl.lastChange()
	if r.status != 200 || c.Op != state.OpRemoveServer || c.Address != "10.0.0.5:8080" || !c.DryRun {
		t.Fatalf("remove: %d %+v", r.status, c)
	}
	// IPv6 addresses in the path.
	e.do(req{method: "PATCH", path: "/api/v1/backends/web/servers/%5B::1%5D:80", key: op, body: `{"enabled":true}`})
	if c := e.ctl.lastChange(); c.Address != "[::1]:80" {
		t.Fatalf("IPv6 address %q", c.Address)
	}
	// Bad bodies: 400 naming the field.
	for body, want := range map[string]string{
		`{}`:                              "nothing to change",
		`{"weight":"5"}`:                  `field "weight": expected a number, got string`,
		`{"weight":-1}`:                   `"weight" must not be negative`,
		`{"wieght":5}`:                    `unknown field "wieght"`,
		`{"drain":1}`:                     `field "drain": expected true or false`,
		`[1]`:                             "expected a JSON object",
		`{"weight":5} {"weight":6}`:       "unexpected data after the JSON object",
		`{"weight":5`:                     "cut short",
		`{"weight":5,}`:                   "invalid JSON at offset",
		``:                                "empty",
		`{"weight":99999999999999999999}`: `field "weight"`,
	} {
		r := e.do(req{method: "PATCH", path: "/api/v1/backends/web/servers/10.0.0.1:80", key: op, body: body})
		var ae struct{ Error apiError }
		r.json(t, &ae)
		if r.status != 400 || !strings.Contains(ae.Error.Message, want) {
			t.Errorf("PATCH %s: %d %q, want %q", body, r.status, ae.Error.Message, want)
		}
	}
	if r := e.do(req{method: "POST", path: "/api/v1/backends/web/servers", key: adm, body: `{"weight":1}`}); r.status != 400 || !strings.Contains(string(r.body), "address") {
		t.Fatalf("add without address: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "POST", path: "/api/v1/reload", key: op, body: `{"x":1}`}); r.status != 400 {
		t.Fatalf("reload with a body: %d", r.status)
	}
	// Errors of the change path.
	for err, want := range map[error]int{
		fmt.Errorf("backend %q: %w", "nope", state.ErrNotFound):          404,
		fmt.Errorf("weight comes from ${WEIGHT}: %w", state.ErrConflict): 409,
		state.ErrReadOnly:       409,
		state.ErrShuttingDown:   503,
		errors.New("disk full"): 500,
	} {
		e.ctl.mu.Lock()
		e.ctl.changeErr = err
		e.ctl.mu.Unlock()
		r := e.do(req{method: "POST", path: "/api/v1/reload", key: op})
		var ae struct{ Error apiError }
		r.json(t, &ae)
		if r.status != want || !strings.Contains(ae.Error.Message, strings.SplitN(err.Error(), ":", 2)[0]) {
			t.Errorf("%v: %d %s, want %d", err, r.status, r.body, want)
		}
	}
	e.ctl.mu.Lock()
	e.ctl.changeErr = nil
	e.ctl.mu.Unlock()
	// While shutting down changes answer 503, reads still work.
	e.s.BeginShutdown()
	if r := e.do(req{method: "POST", path: "/api/v1/reload", key: op}); r.status != 503 || r.errCode() != codeShuttingDown {
		t.Fatalf("change while stopping: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/status", key: op}); r.status != 200 {
		t.Fatalf("read while stopping: %d", r.status)
	}
}

// Without a Control (the process is starting) the API answers 503, still
// behind the role table.
func TestNoControl(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Control = nil })
	if r := e.do(req{method: "GET", path: "/api/v1/status"}); r.status != 401 {
		t.Fatalf("no credential: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/status", key: e.keys[auth.RoleViewer]}); r.status != 503 || r.errCode() != codeNotAvailable {
		t.Fatalf("no control: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/me", key: e.keys[auth.RoleViewer]}); r.status != 200 {
		t.Fatalf("me without control: %d", r.status)
	}
}
