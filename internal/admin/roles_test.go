package admin

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicelb/sluice/internal/auth"
)

// contractRoles is contract §8's table, written out independently of
// routes.go: every endpoint of the admin listener and its minimum role.
var contractRoles = map[string]auth.Role{
	"GET /healthz":       auth.RoleNone,
	"GET /readyz":        auth.RoleNone,
	"GET /metrics":       auth.RoleNone, // viewer with admin.protect_metrics (TestProtectMetrics)
	"POST /api/v1/login": auth.RoleNone,

	"POST /api/v1/logout": auth.RoleViewer,
	"GET /api/v1/me":      auth.RoleViewer,

	"GET /api/v1/status":                               auth.RoleViewer,
	"GET /api/v1/frontends":                            auth.RoleViewer,
	"GET /api/v1/frontends/{name}":                     auth.RoleViewer,
	"GET /api/v1/backends":                             auth.RoleViewer,
	"GET /api/v1/backends/{name}":                      auth.RoleViewer,
	"POST /api/v1/backends/{name}/servers":             auth.RoleAdmin,
	"PATCH /api/v1/backends/{name}/servers/{address}":  auth.RoleOperator,
	"DELETE /api/v1/backends/{name}/servers/{address}": auth.RoleAdmin,
	"GET /api/v1/config":                               auth.RoleViewer,
	"PUT /api/v1/config":                               auth.RoleAdmin,
	"POST /api/v1/config/validate":                     auth.RoleAdmin,
	"POST /api/v1/reload":                              auth.RoleOperator,
	"GET /api/v1/logs":                                 auth.RoleViewer,
	"GET /api/v1/events":                               auth.RoleViewer,
	"GET /api/v1/explain":                              auth.RoleViewer,
	"GET /api/v1/stream":                               auth.RoleViewer,
	"GET /api/v1/alerts":                               auth.RoleViewer,
	"GET /api/v1/alerts/{name}":                        auth.RoleViewer,
	"POST /api/v1/alerts":                              auth.RoleAdmin,
	"PUT /api/v1/alerts/{name}":                        auth.RoleAdmin,
	"DELETE /api/v1/alerts/{name}":                     auth.RoleAdmin,
	"GET /api/v1/keys":                                 auth.RoleAdmin,
	"POST /api/v1/keys":                                auth.RoleAdmin,
	"DELETE /api/v1/keys/{id}":                         auth.RoleAdmin,
	"GET /debug/pprof/":                                auth.RoleAdmin, // pprof moved behind the admin role
	"GET /debug/pprof/cmdline":                         auth.RoleAdmin,
	"GET /debug/pprof/profile":                         auth.RoleAdmin,
	"GET /debug/pprof/symbol":                          auth.RoleAdmin,
	"POST /debug/pprof/symbol":                         auth.RoleAdmin,
	"GET /debug/pprof/trace":                           auth.RoleAdmin,
}

// sample is one request that the endpoint answers with ok when allowed.
type sample struct {
	path, body string
	ok         int
	okKey      int                 // when different with a Bearer key
	prepare    func(e *env) string // returns the path, for requests that consume something
	ws         bool                // a WebSocket handshake (ok = 101)
}

var samples = map[string]sample{
	"GET /healthz":       {path: "/healthz", ok: 200},
	"GET /readyz":        {path: "/readyz", ok: 200},
	"GET /metrics":       {path: "/metrics", ok: 200},
	"POST /api/v1/login": {path: "/api/v1/login", body: `{"username":"alice","password":"` + pwAdmin + `"}`, ok: 200},

	"POST /api/v1/logout": {path: "/api/v1/logout", ok: 200, okKey: 400},
	"GET /api/v1/me":      {path: "/api/v1/me", ok: 200},

	"GET /api/v1/status":                               {path: "/api/v1/status", ok: 200},
	"GET /api/v1/frontends":                            {path: "/api/v1/frontends", ok: 200},
	"GET /api/v1/frontends/{name}":                     {path: "/api/v1/frontends/web", ok: 200},
	"GET /api/v1/backends":                             {path: "/api/v1/backends", ok: 200},
	"GET /api/v1/backends/{name}":                      {path: "/api/v1/backends/web", ok: 200},
	"POST /api/v1/backends/{name}/servers":             {path: "/api/v1/backends/web/servers", body: `{"address":"10.0.0.3:80","weight":2}`, ok: 201},
	"PATCH /api/v1/backends/{name}/servers/{address}":  {path: "/api/v1/backends/web/servers/10.0.0.1:80", body: `{"weight":5}`, ok: 200},
	"DELETE /api/v1/backends/{name}/servers/{address}": {path: "/api/v1/backends/web/servers/10.0.0.1:80", ok: 200},
	"GET /api/v1/config":                               {path: "/api/v1/config", ok: 200},
	"PUT /api/v1/config":                               {path: "/api/v1/config", body: "frontends: []\n", ok: 200},
	"POST /api/v1/config/validate":                     {path: "/api/v1/config/validate", body: "frontends: []\n", ok: 200},
	"POST /api/v1/reload":                              {path: "/api/v1/reload", ok: 200},
	"GET /api/v1/logs":                                 {path: "/api/v1/logs?status=5xx", ok: 200},
	"GET /api/v1/events":                               {path: "/api/v1/events?after=2", ok: 200},
	"GET /api/v1/explain":                              {path: "/api/v1/explain?frontend=web&path=/api/x", ok: 200},
	"GET /api/v1/stream":                               {path: "/api/v1/stream", ok: 101, ws: true},
	"GET /api/v1/alerts":                               {path: "/api/v1/alerts", ok: 200},
	"GET /api/v1/alerts/{name}":                        {path: "/api/v1/alerts/api-slow", ok: 200},
	"POST /api/v1/alerts":                              {path: "/api/v1/alerts", body: `{"name":"down","when":"server_down","scope":{"backend":"web"}}`, ok: 201},
	"PUT /api/v1/alerts/{name}":                        {path: "/api/v1/alerts/api-slow", body: `{"when":"latency_p99","threshold":"300ms"}`, ok: 200},
	"DELETE /api/v1/alerts/{name}":                     {path: "/api/v1/alerts/api-slow", ok: 200},
	"GET /api/v1/keys":                                 {path: "/api/v1/keys", ok: 200},
	"POST /api/v1/keys":                                {path: "/api/v1/keys", body: `{"name":"ci","role":"viewer","expires":"720h"}`, ok: 201},
	"DELETE /api/v1/keys/{id}": {ok: 200, prepare: func(e *env) string {
		_, k, err := e.s.keys.Create("to-revoke", auth.RoleViewer, 0, "test")
		if err != nil {
			e.t.Fatal(err)
		}
		return "/api/v1/keys/" + k.ID
	}},
	"GET /debug/pprof/":        {path: "/debug/pprof/", ok: 200},
	"GET /debug/pprof/cmdline": {path: "/debug/pprof/cmdline", ok: 200},
	"GET /debug/pprof/profile": {path: "/debug/pprof/profile?seconds=1", ok: 200},
	"GET /debug/pprof/symbol":  {path: "/debug/pprof/symbol", ok: 200},
	"POST /debug/pprof/symbol": {path: "/debug/pprof/symbol", ok: 200},
	"GET /debug/pprof/trace":   {path: "/debug/pprof/trace?seconds=0.05", ok: 200},
}

// credential is one way of asking.
type credential struct {
	name string
	set  func(e *env, r *req)
	// expect returns the status for an endpoint needing role need, whose
	// answer when allowed is ok (okKey with a key) and that changes state
	// or not.
	expect func(need auth.Role, ok, okKey int, change bool) int
}

func keyCred(role auth.Role) credential {
	return credential{name: role.String() + " key",
		set: func(e *env, r *req) { r.key = e.keys[role] },
		expect: func(need auth.Role, ok, okKey int, _ bool) int {
			if role < need {
				return 403
			}
			return okKey
		}}
}

func sessionCred(user string, role auth.Role, withCSRF bool) credential {
	name := role.String() + " cookie"
	if !withCSRF {
		name += " without CSRF token"
	}
	return credential{name: name,
		set: func(e *env, r *req) {
			tok, sess, err := e.s.sessions.Create(user) // a fresh one: logout ends it
			if err != nil {
				e.t.Fatal(err)
			}
			r.cookie = tok
			if withCSRF {
				r.csrf = sess.CSRF
			}
		},
		expect: func(need auth.Role, ok, _ int, change bool) int {
			switch {
			case need == auth.RoleNone:
				return ok
			case role < need:
				return 403
			case change && !withCSRF:
				return 403
			}
			return ok
		}}
}

func publicOr(status int) func(need auth.Role, ok, _ int, _ bool) int {
	return func(need auth.Role, ok, _ int, _ bool) int {
		if need == auth.RoleNone {
			return ok
		}
		return status
	}
}

var credentials = []credential{
	{name: "no credential", set: func(*env, *req) {}, expect: publicOr(401)},
	{name: "bad key", set: func(_ *env, r *req) { r.key = "sluice_0123456789abcdef_" + strings.Repeat("A", 43) }, expect: publicOr(401)},
	{name: "expired key", set: func(e *env, r *req) { r.key = e.keys[0] }, expect: publicOr(401)},
	keyCred(auth.RoleViewer), keyCred(auth.RoleOperator), keyCred(auth.RoleAdmin),
	sessionCred("victor", auth.RoleViewer, true), sessionCred("olga", auth.RoleOperator, true),
	sessionCred("alice", auth.RoleAdmin, true), sessionCred("alice", auth.RoleAdmin, false),
}

// TestRoleTable walks the role table: every endpoint × every credential
// gets the status contract §8 says (401 without a valid credential, 403
// with too low a role or a cookie without its CSRF token on a change, the
// endpoint's answer otherwise).
func TestRoleTable(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Pprof = true
		o.LoginLimit = LoginLimit{PerClientRate: 1000, PerClientBurst: 1000, PerUserRate: 1000, PerUserBurst: 1000}
	})
	// An expired admin key (keys[0] is unused by the role keys).
	tok, _, err := e.s.keys.Create("expired", auth.RoleAdmin, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	e.keys[0] = tok
	e.clk.Add(2 * time.Minute)

	routes := e.s.Routes()
	seen := map[string]bool{}
	for _, rt := range routes {
		p := rt.pattern()
		seen[p] = true
		want, ok := contractRoles[p]
		if !ok {
			t.Errorf("route %s is not in the contract's table (add it to contractRoles and samples)", p)
			continue
		}
		if rt.role != want && !(p == "GET /metrics" && rt.role == roleMetrics) {
			t.Errorf("route %s needs %s, the contract says %s", p, rt.role, want)
		}
	}
	for p := range contractRoles {
		if !seen[p] {
			t.Errorf("the contract's endpoint %s is not served", p)
		}
	}
	for _, rt := range routes {
		p := rt.pattern()
		sm, ok := samples[p]
		if !ok {
			t.Errorf("no sample request for %s", p)
			continue
		}
		need := contractRoles[p]
		for _, c := range credentials {
			okKey := sm.ok
			if sm.okKey != 0 {
				okKey = sm.okKey
			}
			want := c.expect(need, sm.ok, okKey, changes(rt.method))
			r := req{method: rt.method, path: sm.path, body: sm.body}
			if sm.prepare != nil {
				r.path = sm.prepare(e)
			}
			c.set(e, &r)
			var got int
			if sm.ws {
				got = e.wsStatus(r)
			} else {
				res := e.do(r)
				got = res.status
				if got == 401 && res.header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s with %s: 401 without WWW-Authenticate", p, c.name)
				}
				if got >= 400 && !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
					t.Errorf("%s with %s: error %d is not JSON: %s", p, c.name, got, res.body)
				}
				if c.name == "expired key" && got == 401 && res.errCode() != codeKeyExpired {
					t.Errorf("%s with an expired key: code %q", p, res.errCode())
				}
				if strings.Contains(c.name, "without CSRF") && want == 403 && res.errCode() != codeCSRF {
					t.Errorf("%s with a cookie without CSRF token: code %q", p, res.errCode())
				}
			}
			if got != want {
				t.Errorf("%s %s with %s: %d, want %d", rt.method, r.path, c.name, got, want)
			}
		}
	}
}

// wsStatus opens a WebSocket with r's credentials and returns the
// handshake status (101 on success).
func (e *env) wsStatus(r req) int {
	e.t.Helper()
	h := http.Header{}
	if r.key != "" {
		h.Set("Authorization", "Bearer "+r.key)
	}
	if r.cookie != "" {
		h.Set("Cookie", CookieName+"="+r.cookie)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, e.base+r.path, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		c.CloseNow()
		return res.StatusCode
	}
	if res == nil {
		e.t.Fatalf("dial %s: %v", r.path, err)
	}
	return res.StatusCode
}

// TestFallback: an unknown path or a wrong method answers 401 to anyone
// without a credential, then 404 or 405 (with Allow), as JSON.
func TestFallback(t *testing.T) {
	e := newEnv(t, nil)
	v := e.keys[auth.RoleViewer]
	for _, c := range []struct {
		r     req
		want  int
		allow string
	}{
		{req{method: "GET", path: "/nope"}, 401, ""},
		{req{method: "GET", path: "/"}, 401, ""},
		{req{method: "GET", path: "/api/v1/nope"}, 401, ""},
		{req{method: "DELETE", path: "/api/v1/status"}, 401, ""},
		{req{method: "GET", path: "/nope", key: v}, 404, ""},
		{req{method: "GET", path: "/debug/pprof/", key: e.keys[auth.RoleAdmin]}, 404, ""}, // pprof off
		{req{method: "DELETE", path: "/api/v1/status", key: v}, 405, "GET"},
		{req{method: "GET", path: "/api/v1/backends/web/servers/1.2.3.4:80", key: v}, 405, "PATCH, DELETE"},
		{req{method: "POST", path: "/healthz"}, 405, "GET"},
		{req{method: "PUT", path: "/api/v1/login"}, 405, "POST"},
	} {
		res := e.do(c.r)
		if res.status != c.want || res.header.Get("Allow") != c.allow || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d Allow=%q %s, want %d Allow=%q", c.r.method, c.r.path, res.status, res.header.Get("Allow"), res.body, c.want, c.allow)
		}
	}
}

// TestNoUsersNoKeys: with nobody configured, everything but /metrics,
// /healthz and /readyz answers 401, and the log says how to create the
// first admin.
func TestNoUsersNoKeys(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Settings.Users = nil; o.StateDir = "" })
	for _, rt := range e.s.Routes() {
		sm := samples[rt.pattern()]
		if sm.ws || sm.prepare != nil {
			continue
		}
		res := e.do(req{method: rt.method, path: sm.path, body: sm.body})
		want := 401
		switch rt.pattern() {
		case "GET /metrics", "GET /healthz", "GET /readyz":
			want = 200
		}
		if res.status != want {
			t.Errorf("%s: %d, want %d", rt.pattern(), res.status, want)
		}
	}
	if !strings.Contains(e.log.String(), "sluice hash-password") || !strings.Contains(e.log.String(), "admin.users") {
		t.Fatalf("start-up log does not say how to create the first admin:\n%s", e.log.String())
	}
	// With a user, the hint is not logged.
	e2 := newEnv(t, nil)
	if strings.Contains(e2.log.String(), "hash-password") {
		t.Fatal("hint logged although users exist")
	}
}

func TestProtectMetrics(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Settings.ProtectMetrics = true })
	if r := e.do(req{method: "GET", path: "/metrics"}); r.status != 401 {
		t.Fatalf("protected /metrics without credential: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/metrics", key: e.keys[auth.RoleViewer]}); r.status != 200 || string(r.body) != "sluice_up 1\n" {
		t.Fatalf("protected /metrics with a viewer key: %d %s", r.status, r.body)
	}
	// A reload turns it off.
	commit, err := e.s.Configure(Settings{Users: testUsers()})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "GET", path: "/metrics"}); r.status != 401 {
		t.Fatalf("Configure applied before commit: %d", r.status)
	}
	commit()
	if r := e.do(req{method: "GET", path: "/metrics"}); r.status != 200 {
		t.Fatalf("unprotected /metrics: %d", r.status)
	}
}
