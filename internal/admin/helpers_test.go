package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluicelb/sluice/internal/auth"
)

// testClock is a settable clock for sessions and keys.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Passwords of the test users (bcrypt.MinCost hashes, made once).
const (
	pwAdmin    = "admin-password"
	pwOperator = "operator-password"
	pwViewer   = "viewer-password"
)

var (
	hashOnce sync.Once
	hashes   map[string]string
)

func testUsers() []auth.UserSpec {
	hashOnce.Do(func() {
		hashes = map[string]string{}
		for _, pw := range []string{pwAdmin, pwOperator, pwViewer} {
			h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			hashes[pw] = string(h)
		}
	})
	return []auth.UserSpec{{Name: "alice", PasswordHash: hashes[pwAdmin], Role: auth.RoleAdmin},
		{Name: "olga", PasswordHash: hashes[pwOperator], Role: auth.RoleOperator},
		{Name: "victor", PasswordHash: hashes[pwViewer], Role: auth.RoleViewer}}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a started admin server with a fake Control, three users, a state
// directory and a test clock.
type env struct {
	t     *testing.T
	s     *Server
	base  string
	ctl   *fakeControl
	clk   *testClock
	dir   string
	log   *syncBuffer
	keys  map[auth.Role]string // a Bearer key per role
	httpc *http.Client
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, ctl: newFakeControl(), clk: &testClock{t: time.Now()}, dir: t.TempDir(), log: &syncBuffer{},
		httpc: &http.Client{Timeout: 10 * time.Second}}
	o := Options{Addr: "127.0.0.1:0", Control: e.ctl, StateDir: e.dir, Now: e.clk.Now,
		Settings: Settings{Users: testUsers()}, Metrics: func(w io.Writer) { io.WriteString(w, "sluice_up 1\n") },
		Logger: slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&o)
	}
	e.s = New(o)
	if err := e.s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.s.Shutdown(ctx)
	})
	scheme := "http://"
	if o.Settings.TLSCert != "" {
		scheme = "https://"
	}
	e.base = scheme + e.s.Addr().String()
	e.keys = map[auth.Role]string{}
	for _, r := range []auth.Role{auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin} {
		if e.s.keys == nil || o.StateDir == "" {
			break
		}
		tok, _, err := e.s.keys.Create("test-"+r.String(), r, 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[r] = tok
	}
	return e
}

// req is one request of a test.
type req struct {
	method, path string
	body         string
	key          string // Bearer key
	cookie       string // session token
	csrf         string
	header       map[string]string
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, r.body)
	}
}

// errCode is the "code" of an error answer.
func (r resp) errCode() string {
	var e struct {
		Error apiError `json:"error"`
	}
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (e *env) do(r req) resp {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.base+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: CookieName, Value: r.cookie})
	}
	if r.csrf != "" {
		hr.Header.Set("X-CSRF-Token", r.csrf)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.httpc.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: b, header: res.Header}
}

// login logs in through the API and returns the session token and CSRF token.
func (e *env) login(user, pw string) (string, string) {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/api/v1/login", body: `{"username":"` + user + `","password":"` + pw + `"}`})
	if r.status != 200 {
		e.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var a loginAnswer
	r.json(e.t, &a)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == CookieName {
			return c.Value, a.CSRFToken
		}
	}
	e.t.Fatalf("login %s: no cookie", user)
	return "", ""
}
