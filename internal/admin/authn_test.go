package admin

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/auth"
)

func TestLoginSessionCookie(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"olga","password":"` + pwOperator + `"}`})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	var a loginAnswer
	r.json(t, &a)
	if a.User != "olga" || a.Role != auth.RoleOperator || len(a.CSRFToken) != 43 || a.Expires.IsZero() {
		t.Fatalf("login answer %+v", a)
	}
	raw := r.header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(raw, want) {
			t.Errorf("Set-Cookie %q lacks %q", raw, want)
		}
	}
	if strings.Contains(raw, "Secure") {
		t.Errorf("Secure cookie over plain HTTP: %q", raw)
	}
	cookie := (&http.Response{Header: r.header}).Cookies()[0].Value
	// me: who, role, CSRF token.
	var me meAnswer
	e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}).json(t, &me)
	if me.User != "olga" || me.Role != auth.RoleOperator || me.Via != "session" || me.CSRFToken != a.CSRFToken || me.Expires == nil {
		t.Fatalf("me = %+v", me)
	}
	// A change: 403 without the token, 403 with another session's token,
	// 200 with it; a Bearer key needs none.
	patch := req{method: "PATCH", path: "/api/v1/backends/web/servers/10.0.0.1:80", body: `{"drain":true}`, cookie: cookie}
	if r := e.do(patch); r.status != 403 || r.errCode() != codeCSRF {
		t.Fatalf("change without CSRF token: %d %s", r.status, r.body)
	}
	_, other := e.login("alice", pwAdmin)
	patch.csrf = other
	if r := e.do(patch); r.status != 403 {
		t.Fatalf("change with another session's CSRF token: %d", r.status)
	}
	patch.csrf = a.CSRFToken
	if r := e.do(patch); r.status != 200 {
		t.Fatalf("change with CSRF token: %d %s", r.status, r.body)
	}
	if c := e.ctl.lastChange(); c.Actor.Name != "olga" || c.Actor.Via != "session" || c.Actor.Role != "operator" || c.Actor.Remote != "127.0.0.1" {
		t.Fatalf("actor %+v", c.Actor)
	}
	if r := e.do(req{method: "PATCH", path: patch.path, body: `{"drain":false}`, key: e.keys[auth.RoleOperator]}); r.status != 200 {
		t.Fatalf("change with a key and no CSRF token: %d %s", r.status, r.body)
	}
	// Logout ends the session and clears the cookie.
	if r := e.do(req{method: "POST", path: "/api/v1/logout", cookie: cookie}); r.status != 403 {
		t.Fatalf("logout without CSRF token: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/api/v1/logout", cookie: cookie, csrf: a.CSRFToken})
	if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
	if r := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); r.status != 401 {
		t.Fatalf("after logout: %d", r.status)
	}
}

func TestLoginRefused(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		body, code string
		status     int
	}{
		{`{"username":"alice","password":"wrong"}`, codeUnauthorized, 401},
		{`{"username":"nobody","password":"x"}`, codeUnauthorized, 401},
		{`{"username":"alice"}`, codeBadRequest, 400},
		{`{"username":"alice","password":"x","remember":true}`, codeBadRequest, 400},
		{`{"username":1,"password":"x"}`, codeBadRequest, 400},
		{``, codeBadRequest, 400},
		{`{"username":"alice","password":"` + strings.Repeat("x", 5000) + `"}`, codeTooLarge, 413},
	} {
		r := e.do(req{method: "POST", path: "/api/v1/login", body: c.body})
		if r.status != c.status || r.errCode() != c.code || r.header.Get("Set-Cookie") != "" {
			t.Errorf("login %.60s: %d %s", c.body, r.status, r.body)
		}
	}
	// Another origin (a login CSRF) is refused; the same origin is fine.
	r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"alice","password":"` + pwAdmin + `"}`,
		header: map[string]string{"Origin": "https://evil.example"}})
	if r.status != 403 {
		t.Fatalf("cross-origin login: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"alice","password":"` + pwAdmin + `"}`,
		header: map[string]string{"Origin": e.base}})
	if r.status != 200 {
		t.Fatalf("same-origin login: %d %s", r.status, r.body)
	}
}

// Login attempts are limited per user name and per client address: 429
// with Retry-After, and the right password does not get through either.
func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.LoginLimit = LoginLimit{PerClientRate: 1.0 / 3600, PerClientBurst: 8, PerUserRate: 1.0 / 3600, PerUserBurst: 3}
	})
	bad := `{"username":"alice","password":"guess"}`
	for i := 0; i < 3; i++ {
		if r := e.do(req{method: "POST", path: "/api/v1/login", body: bad}); r.status != 401 {
			t.Fatalf("attempt %d: %d", i+1, r.status)
		}
	}
	r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"alice","password":"` + pwAdmin + `"}`})
	if r.status != 429 || r.errCode() != codeRateLimited || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt for alice: %d %s Retry-After=%q", r.status, r.body, r.header.Get("Retry-After"))
	}
	// Another user from the same client still may, until the client's
	// budget (8) is spent.
	for i := 0; i < 4; i++ {
		if r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"u` + string(rune('a'+i)) + `","password":"x"}`}); r.status != 401 {
			t.Fatalf("other user %d: %d", i, r.status)
		}
	}
	if r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"olga","password":"` + pwOperator + `"}`}); r.status != 429 {
		t.Fatalf("9th attempt from the client: %d %s", r.status, r.body)
	}
	if !strings.Contains(e.log.String(), `"action":"login_failed"`) {
		t.Fatal("failed logins not audited")
	}
}

// Sessions end after the idle time and after their lifetime, through the
// API; a user removed by a reload loses their session, a demoted one their
// rights.
func TestSessionsExpireThroughAPI(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SessionIdle = 10 * time.Minute; o.SessionLifetime = 30 * time.Minute })
	cookie, _ := e.login("victor", pwViewer)
	me := req{method: "GET", path: "/api/v1/me", cookie: cookie}
	for i := 0; i < 3; i++ {
		e.clk.Add(9 * time.Minute)
		if r := e.do(me); r.status != 200 {
			t.Fatalf("after %d×9 min: %d", i+1, r.status)
		}
	}
	e.clk.Add(3 * time.Minute) // 30 minutes after login
	r := e.do(me)
	if r.status != 401 || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("after the lifetime: %d %q", r.status, r.header.Get("Set-Cookie"))
	}
	cookie, _ = e.login("victor", pwViewer)
	e.clk.Add(10 * time.Minute)
	if r := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); r.status != 401 {
		t.Fatalf("after the idle time: %d", r.status)
	}
	// Role changes and removals apply at the next request.
	cookie, csrf := e.login("olga", pwOperator)
	users := testUsers()
	users[1].Role = auth.RoleViewer
	commit, _ := e.s.Configure(Settings{Users: users})
	commit()
	if r := e.do(req{method: "POST", path: "/api/v1/reload", cookie: cookie, csrf: csrf}); r.status != 403 {
		t.Fatalf("demoted operator reloads: %d", r.status)
	}
	commit, _ = e.s.Configure(Settings{Users: users[:1]})
	commit()
	if r := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); r.status != 401 {
		t.Fatalf("removed user: %d", r.status)
	}
}

// Sessions survive a restart of the admin server on the same state_dir
// (the binary upgrade case).
func TestSessionsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, func(o *Options) { o.StateDir = dir })
	cookie, csrf := e.login("alice", pwAdmin)
	e2 := newEnv(t, func(o *Options) { o.StateDir = dir })
	var me meAnswer
	r := e2.do(req{method: "GET", path: "/api/v1/me", cookie: cookie})
	r.json(t, &me)
	if r.status != 200 || me.User != "alice" || me.CSRFToken != csrf {
		t.Fatalf("session after restart: %d %+v", r.status, me)
	}
	// The session files hold no token.
	ents, _ := os.ReadDir(filepath.Join(dir, "sessions"))
	if len(ents) != 1 {
		t.Fatalf("%d session files", len(ents))
	}
	b, _ := os.ReadFile(filepath.Join(dir, "sessions", ents[0].Name()))
	if strings.Contains(string(b)+ents[0].Name(), cookie) {
		t.Fatal("the session file holds the token")
	}
}

func TestKeysAPI(t *testing.T) {
	e := newEnv(t, nil)
	adm := e.keys[auth.RoleAdmin]
	r := e.do(req{method: "POST", path: "/api/v1/keys", key: adm, body: `{"name":"deploy-bot","role":"operator","expires":"1h"}`})
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var raw map[string]any
	r.json(t, &raw)
	if raw["key"] == nil || raw["id"] == nil || raw["role"] != "operator" || raw["name"] != "deploy-bot" || raw["expires"] == nil || raw["created_by"] != "test-admin" {
		t.Fatalf("create answer %s", r.body)
	}
	key := raw["key"].(string)
	id := raw["id"].(string)
	// It works, with its role.
	if r := e.do(req{method: "POST", path: "/api/v1/reload", key: key}); r.status != 200 {
		t.Fatalf("operator key reloads: %d", r.status)
	}
	if r := e.do(req{method: "PUT", path: "/api/v1/config", key: key, body: "x: 1\n"}); r.status != 403 {
		t.Fatalf("operator key puts config: %d", r.status)
	}
	if c := e.ctl.lastChange(); c.Actor.Name != "deploy-bot" || c.Actor.Via != "key" {
		t.Fatalf("actor %+v", c.Actor)
	}
	// Never shown again: the list has no secret.
	r = e.do(req{method: "GET", path: "/api/v1/keys", key: adm})
	if r.status != 200 || strings.Contains(string(r.body), key[len(key)-43:]) || !strings.Contains(string(r.body), `"deploy-bot"`) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	// Expiry.
	e.clk.Add(time.Hour)
	if r := e.do(req{method: "GET", path: "/api/v1/me", key: key}); r.status != 401 || r.errCode() != codeKeyExpired {
		t.Fatalf("expired key: %d %s", r.status, r.body)
	}
	var list struct{ Keys []keyView }
	e.do(req{method: "GET", path: "/api/v1/keys", key: adm}).json(t, &list)
	for _, k := range list.Keys {
		if k.ID == id && !k.Expired {
			t.Fatal("expired key not marked expired")
		}
	}
	// Revocation.
	if r := e.do(req{method: "DELETE", path: "/api/v1/keys/" + id, key: adm}); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "DELETE", path: "/api/v1/keys/" + id, key: adm}); r.status != 404 {
		t.Fatalf("revoke twice: %d", r.status)
	}
	r = e.do(req{method: "POST", path: "/api/v1/keys", key: adm, body: `{"name":"v","role":"viewer"}`})
	raw = nil
	r.json(t, &raw)
	vkey, vid := raw["key"].(string), raw["id"].(string)
	if raw["expires"] != nil {
		t.Fatalf("key without expiry: %s", r.body)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/status", key: vkey}); r.status != 200 {
		t.Fatalf("new viewer key: %d", r.status)
	}
	e.do(req{method: "DELETE", path: "/api/v1/keys/" + vid, key: adm})
	if r := e.do(req{method: "GET", path: "/api/v1/status", key: vkey}); r.status != 401 {
		t.Fatalf("revoked key: %d", r.status)
	}
	// Bad bodies name the field.
	for body, field := range map[string]string{
		`{"role":"viewer"}`:                           `"name"`,
		`{"name":"x"}`:                                `"role"`,
		`{"name":"x","role":"root"}`:                  `"role"`,
		`{"name":"x","role":"viewer","expires":"1d"}`: `"expires"`,
		`{"name":"x","role":"viewer","secret":"s"}`:   `"secret"`,
		`{"name":"x","role":"viewer","expires":30}`:   `"expires"`,
	} {
		r := e.do(req{method: "POST", path: "/api/v1/keys", key: adm, body: body})
		var ae struct{ Error apiError }
		json.Unmarshal(r.body, &ae)
		if r.status != 400 || !strings.Contains(ae.Error.Message, field) {
			t.Errorf("POST keys %s: %d %s", body, r.status, r.body)
		}
	}
	// Audit: created and revoked, never the secret.
	audit, _ := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	if !strings.Contains(string(audit), `"action":"key_created"`) || !strings.Contains(string(audit), `"action":"key_revoked"`) {
		t.Fatalf("audit.log: %s", audit)
	}
	for _, secret := range []string{key, vkey, key[len(key)-43:]} {
		if strings.Contains(string(audit), secret) || strings.Contains(e.log.String(), secret) {
			t.Fatal("a key appears in the audit or process log")
		}
	}
}

// Without a state_dir keys cannot be made (409, saying why).
func TestKeysNeedStateDir(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.StateDir = "" })
	cookie, csrf := e.login("alice", pwAdmin)
	r := e.do(req{method: "POST", path: "/api/v1/keys", cookie: cookie, csrf: csrf, body: `{"name":"x","role":"viewer"}`})
	if r.status != 409 || !strings.Contains(string(r.body), "state_dir") {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// No secret (password, hash for non-admins, session token, CSRF token, API
// key) appears in an answer where it does not belong, or in the logs.
func TestSecretsNeverLeak(t *testing.T) {
	e := newEnv(t, nil)
	cookie, csrf := e.login("alice", pwAdmin)
	e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"alice","password":"wrong-secret-pw"}`})
	r := e.do(req{method: "POST", path: "/api/v1/keys", cookie: cookie, csrf: csrf, body: `{"name":"k","role":"admin"}`})
	var nk map[string]any
	r.json(t, &nk)
	key := nk["key"].(string)
	secrets := []string{pwAdmin, "wrong-secret-pw", cookie, csrf, key, key[len(key)-43:], hashes[pwAdmin]}
	// The config for a viewer and an operator has its hashes redacted.
	for _, k := range []string{e.keys[auth.RoleViewer], e.keys[auth.RoleOperator]} {
		r := e.do(req{method: "GET", path: "/api/v1/config", key: k})
		if r.status != 200 || strings.Contains(string(r.body), "$2a$") || strings.Count(string(r.body), `"<redacted>"`) != 2 {
			t.Fatalf("config for a non-admin: %d\n%s", r.status, r.body)
		}
	}
	if r := e.do(req{method: "GET", path: "/api/v1/config", key: e.keys[auth.RoleAdmin]}); !strings.Contains(string(r.body), "$2a$04$abcdefghijklmnopqrstuv") {
		t.Fatalf("config for an admin: %s", r.body)
	}
	var answers []string
	for _, p := range []string{"/api/v1/status", "/api/v1/frontends", "/api/v1/backends", "/api/v1/keys", "/api/v1/events", "/api/v1/logs"} {
		answers = append(answers, string(e.do(req{method: "GET", path: p, key: e.keys[auth.RoleAdmin]}).body))
	}
	answers = append(answers, string(e.do(req{method: "GET", path: "/api/v1/me", key: key}).body))
	audit, _ := os.ReadFile(filepath.Join(e.dir, "audit.log"))
	keysFile, _ := os.ReadFile(filepath.Join(e.dir, "keys.json"))
	for _, s := range secrets {
		for _, a := range answers {
			if strings.Contains(a, s) {
				t.Errorf("secret %.12q… in an answer: %.200s", s, a)
			}
		}
		if strings.Contains(e.log.String(), s) || strings.Contains(string(audit), s) {
			t.Errorf("secret %.12q… in the process or audit log", s)
		}
		if s != hashes[pwAdmin] && strings.Contains(string(keysFile), s) {
			t.Errorf("secret %.12q… in keys.json", s)
		}
	}
	// The audit log has the logins.
	sc := bufio.NewScanner(strings.NewReader(string(audit)))
	var actions []string
	for sc.Scan() {
		var rec struct{ Action string }
		json.Unmarshal(sc.Bytes(), &rec)
		actions = append(actions, rec.Action)
	}
	if strings.Join(actions, ",") != "login,login_failed,key_created" {
		t.Fatalf("audit actions %v", actions)
	}
}

func TestRedactSecrets(t *testing.T) {
	in := "admin:\n  users:\n    - {name: a, password_hash: \"$2a$12$x\", role: admin}\n    - {name: b, password_hash: '$2a$12$y', role: admin}\n" +
		"    - name: c\n      password_hash: $2a$12$z # comment\n    - name: d\n      password_hash:   \"$2a$12$w\\\"q\"\n"
	out := string(redactSecrets([]byte(in)))
	for _, s := range []string{"$2a$12$x", "$2a$12$y", "$2a$12$z", "$2a$12$w"} {
		if strings.Contains(out, s) {
			t.Fatalf("%s not redacted:\n%s", s, out)
		}
	}
	if strings.Count(out, `"<redacted>"`) != 4 || !strings.Contains(out, "# comment") || !strings.Contains(out, "role: admin}") {
		t.Fatalf("redacted text:\n%s", out)
	}
}
