package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
)

// Tests of the change path (state.Control.Change). Helpers start with ch.

// chBackend is an HTTP server that answers its name and counts requests.
type chBackend struct {
	name, addr string
	mu         sync.Mutex
	hits       int
}

func chStartBackend(t *testing.T, name string) *chBackend {
	t.Helper()
	b := &chBackend{name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.hits++
		b.mu.Unlock()
		_, _ = w.Write([]byte(b.name))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return b
}

func (b *chBackend) Hits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// chRig is an App running a configuration file with comments.
type chRig struct {
	t          *testing.T
	app        *App
	path, dir  string // the file; the state directory
	web, admin string
	text       string // the file as first written
	b          []*chBackend
	opts       Options
}

// chConfig is the file: comments, flow and block styles, an anchor.
const chConfig = `# sluice configuration for the change tests
admin:
  listen: %q   # admin listener
logging: {level: error, access_log: off}
shutdown_timeout: 5s

frontends:
  - name: web
    listen: %q
    backend: app

backends:
  # the application servers
  - name: app
    algorithm: weighted_round_robin
    drain_timeout: 5s
    servers:
      - address: %q   # a
        weight: 2
      - address: %q   # b
      - {address: %q, weight: 1}   # c
  - name: spare
    servers: []
`

func chNewRig(t *testing.T, stateDir bool) *chRig {
	t.Helper()
	r := &chRig{t: t, web: obsFreeAddr(t), admin: obsFreeAddr(t)}
	for _, n := range []string{"a", "b", "c", "d"} {
		r.b = append(r.b, chStartBackend(t, n))
	}
	dir := t.TempDir()
	r.path = filepath.Join(dir, "sluice.yaml")
	r.text = fmt.Sprintf(chConfig, r.admin, r.web, r.b[0].addr, r.b[1].addr, r.b[2].addr)
	if err := os.WriteFile(r.path, []byte(r.text), 0o644); err != nil {
		t.Fatal(err)
	}
	if stateDir {
		r.dir = filepath.Join(dir, "state")
	}
	r.opts = Options{ConfigFile: r.path, StateDir: r.dir}
	r.start()
	return r
}

// start starts an App from the file as cmd/sluice does (LoadConfig, then
// Start), e.g. again after stop: a restart.
func (r *chRig) start() {
	r.t.Helper()
	cfg, err := loadConfigDir(r.path, r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	o := r.opts
	o.Loops = 2
	if o.Logger == nil {
		o.Logger = slogDiscard()
	}
	a, err := New(o)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := a.Start(cfg); err != nil {
		r.t.Fatal(err)
	}
	r.app = a
	r.t.Cleanup(func() { r.stop() })
}

func (r *chRig) stop() {
	if r.app == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.app.Shutdown(ctx)
	r.app = nil
}

func (r *chRig) change(c state.Change) (state.Result, error) {
	if c.Actor.Name == "" {
		c.Actor = state.Actor{Name: "alice", Role: "admin", Via: "key", Remote: "127.0.0.1:5555"}
	}
	return r.app.Control().Change(context.Background(), c)
}

func (r *chRig) mustChange(c state.Change) state.Result {
	r.t.Helper()
	res, err := r.change(c)
	if err != nil {
		r.t.Fatalf("%s %s/%s: %v", c.Op, c.Backend, c.Address, err)
	}
	return res
}

func (r *chRig) file() string {
	r.t.Helper()
	b, err := os.ReadFile(r.path)
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// server returns the running balance.Server of backend/addr (nil if none).
func (r *chRig) server(backend, addr string) *balance.Server {
	r.app.mu.Lock()
	defer r.app.mu.Unlock()
	if b := r.app.backends[backend]; b != nil {
		if s := b.servers[addr]; s != nil {
			return s
		}
		return b.draining[addr]
	}
	return nil
}

func (r *chRig) snapServer(backend, addr string) *state.Server {
	for _, b := range r.app.Control().Snapshot().Backends {
		if b.Name != backend {
			continue
		}
		for i := range b.Servers {
			if b.Servers[i].Address == addr {
				return &b.Servers[i]
			}
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// TestChangeWriteBack: PATCH weight, drain and enabled of servers through
// Control.Change: each applies at once (balance state, Snapshot), the file
// differs from the original only in the changed values (comments and
// styles kept), a reload keeps them, and a restart from the file too.
func TestChangeWriteBack(t *testing.T) {
	r := chNewRig(t, false)
	a, b, c := r.b[0].addr, r.b[1].addr, r.b[2].addr
	res := r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a, Server: state.ServerSpec{Weight: ptr(5)}})
	if !res.Applied || res.Persisted != "file" || len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "weight of "+a+" 2 → 5") {
		t.Fatalf("result %+v", res)
	}
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: b, Server: state.ServerSpec{Drain: ptr(true)}})
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: c, Server: state.ServerSpec{Enabled: ptr(false)}})
	want := strings.NewReplacer(
		"weight: 2", "weight: 5",
		"      - address: \""+b+"\"   # b\n", "      - address: \""+b+"\"   # b\n        drain: true\n",
		"weight: 1}", "weight: 1, enabled: false}",
	).Replace(r.text)
	if got := r.file(); got != want {
		t.Fatalf("file after the changes:\n%s\nwant:\n%s", got, want)
	}
	check := func(when string) {
		t.Helper()
		if s := r.server("app", a); s.Weight() != 5 {
			t.Errorf("%s: weight of a = %d, want 5", when, s.Weight())
		}
		if s := r.server("app", b); !s.Draining() || s.Removed() {
			t.Errorf("%s: b draining=%v removed=%v, want an operator drain", when, s.Draining(), s.Removed())
		}
		if s := r.server("app", c); s.Enabled() {
			t.Errorf("%s: c is enabled", when)
		}
		if s := r.snapServer("app", b); s == nil || !s.Drain || !s.Enabled || s.Weight != 1 {
			t.Errorf("%s: snapshot of b %+v", when, s)
		}
		if s := r.snapServer("app", c); s == nil || s.Enabled {
			t.Errorf("%s: snapshot of c %+v", when, s)
		}
		for i := 0; i < 30; i++ {
			if st, body := obsGet(t, r.web, "/"); st != 200 || body != "a" {
				t.Fatalf("%s: GET / = %d %q; only a may serve (b drained, c disabled)", when, st, body)
			}
		}
	}
	check("after the changes")
	// Operator events with the actor.
	var ops []string
	for _, e := range r.app.Control().Events(0, 0) {
		if e.Source == "operator" {
			ops = append(ops, e.Server+" "+e.Reason+" "+e.Actor)
		}
	}
	for _, w := range []string{a + " weight 2 → 5 alice (key)", b + " drained alice (key)", c + " disabled alice (key)"} {
		if !strings.Contains(strings.Join(ops, "\n"), w) {
			t.Errorf("no operator event %q in\n%s", w, strings.Join(ops, "\n"))
		}
	}
	if err := r.app.ReloadFrom(r.path, SourceSignal); err != nil {
		t.Fatal(err)
	}
	check("after a reload")
	r.stop()
	r.start()
	check("after a restart")
	// Undo: b serves again.
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: b, Server: state.ServerSpec{Drain: ptr(false)}})
	if s := r.server("app", b); s.Draining() {
		t.Error("b still drains after the undrain")
	}
	obsEventually(t, 5*time.Second, func() error {
		if _, body := obsGet(t, r.web, "/"); body != "b" {
			return errors.New("b gets no request after the undrain")
		}
		return nil
	})
}

// TestChangeAddRemoveServer: a server added through the API takes traffic
// and is in the file; one removed drains first (its in-flight keep-alive
// client finishes) and leaves the file; removing the last server of a
// backend is not an error (503 until one is added).
func TestChangeAddRemoveServer(t *testing.T) {
	r := chNewRig(t, false)
	d := r.b[3]
	res := r.mustChange(state.Change{Op: state.OpAddServer, Backend: "app", Server: state.ServerSpec{Address: d.addr, Weight: ptr(3)}})
	if res.Persisted != "file" || !strings.Contains(strings.Join(res.Changes, "\n"), "server "+d.addr+" added") {
		t.Fatalf("add: %+v", res)
	}
	if !strings.Contains(r.file(), d.addr) || !strings.Contains(r.file(), "# c\n") {
		t.Fatalf("file after add:\n%s", r.file())
	}
	obsEventually(t, 5*time.Second, func() error {
		obsGet(t, r.web, "/")
		if d.Hits() == 0 {
			return errors.New("the added server gets no traffic")
		}
		return nil
	})
	if _, err := r.change(state.Change{Op: state.OpAddServer, Backend: "app", Server: state.ServerSpec{Address: d.addr}}); !errors.Is(err, state.ErrConflict) {
		t.Fatalf("adding it twice: %v, want ErrConflict", err)
	}
	// Remove every server of app: each drains; the last one leaves it empty.
	for _, be := range append(r.b[:3:3], d) {
		s := r.server("app", be.addr)
		if _, err := r.change(state.Change{Op: state.OpRemoveServer, Backend: "app", Address: be.addr}); err != nil {
			t.Fatalf("remove %s: %v", be.name, err)
		}
		if !s.Removed() {
			t.Fatalf("removed server %s does not drain", be.name)
		}
	}
	if st, _ := obsGet(t, r.web, "/"); st != 503 {
		t.Fatalf("GET / with no server = %d, want 503", st)
	}
	if f := r.file(); strings.Contains(f, r.b[0].addr) || !strings.Contains(f, "# the application servers") {
		t.Fatalf("file after removing every server:\n%s", f)
	}
	// And fill the empty backend (and spare, which started empty) again.
	r.mustChange(state.Change{Op: state.OpAddServer, Backend: "app", Server: state.ServerSpec{Address: r.b[1].addr}})
	r.mustChange(state.Change{Op: state.OpAddServer, Backend: "spare", Server: state.ServerSpec{Address: r.b[2].addr}})
	obsEventually(t, 5*time.Second, func() error {
		if st, body := obsGet(t, r.web, "/"); st != 200 || body != "b" {
			return fmt.Errorf("GET / = %d %q, want b", st, body)
		}
		return nil
	})
	if _, err := LoadConfig(r.path); err != nil {
		t.Fatalf("the written file does not load: %v", err)
	}
}

// TestChangeDryRun: a dry run lists the changes and applies and writes
// nothing.
func TestChangeDryRun(t *testing.T) {
	r := chNewRig(t, false)
	gen := r.app.Control().Snapshot().Generation
	res := r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[0].addr,
		Server: state.ServerSpec{Weight: ptr(7)}, DryRun: true})
	if res.Applied || !res.DryRun || res.Persisted != "" || len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "2 → 7") {
		t.Fatalf("dry run result %+v", res)
	}
	if r.file() != r.text || r.server("app", r.b[0].addr).Weight() != 2 || r.app.Control().Snapshot().Generation != gen {
		t.Fatal("a dry run changed something")
	}
	text := strings.Replace(r.text, "algorithm: weighted_round_robin", "algorithm: least_connections", 1)
	res = r.mustChange(state.Change{Op: state.OpPutConfig, Text: []byte(text), DryRun: true})
	if res.Applied || r.file() != r.text {
		t.Fatalf("dry run of a new text: %+v", res)
	}
	_, err := r.change(state.Change{Op: state.OpPutConfig, Text: []byte(text + "nonsense: 1\n"), DryRun: true})
	var inv *state.InvalidError
	if !errors.As(err, &inv) || inv.Errors[0].Line == 0 || !strings.Contains(inv.Errors[0].Message, "nonsense") {
		t.Fatalf("dry run of an invalid text: %v", err)
	}
	// The real PUT applies it and writes it as given.
	res = r.mustChange(state.Change{Op: state.OpPutConfig, Text: []byte(text)})
	if !res.Applied || res.Persisted != "file" || r.file() != text || r.app.Control().Snapshot().Backends[0].Algorithm != "least_connections" {
		t.Fatalf("PUT: %+v", res)
	}
}

// TestChangeRefusals: each way a change can be refused gives the error the
// API maps to a status, and changes nothing.
func TestChangeRefusals(t *testing.T) {
	t.Setenv("CH_WEIGHT", "4")
	r := chNewRig(t, false)
	a := r.b[0].addr
	for _, c := range []struct {
		name string
		ch   state.Change
		want error
	}{
		{"unknown backend", state.Change{Op: state.OpPatchServer, Backend: "nope", Address: a, Server: state.ServerSpec{Weight: ptr(1)}}, state.ErrNotFound},
		{"unknown server", state.Change{Op: state.OpPatchServer, Backend: "app", Address: "10.9.9.9:1", Server: state.ServerSpec{Drain: ptr(true)}}, state.ErrNotFound},
		{"remove unknown", state.Change{Op: state.OpRemoveServer, Backend: "app", Address: "10.9.9.9:1"}, state.ErrNotFound},
		{"add to unknown backend", state.Change{Op: state.OpAddServer, Backend: "nope", Server: state.ServerSpec{Address: "10.9.9.9:1"}}, state.ErrNotFound},
	} {
		if _, err := r.change(c.ch); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	var inv *state.InvalidError
	if _, err := r.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a, Server: state.ServerSpec{Weight: ptr(300)}}); !errors.As(err, &inv) {
		t.Errorf("weight 300: %v, want an InvalidError", err)
	} else if !strings.Contains(inv.Errors[0].Message, "weight") || inv.Errors[0].Line == 0 {
		t.Errorf("weight 300: %+v", inv.Errors)
	}
	if _, err := r.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a}); !errors.As(err, &inv) {
		t.Errorf("empty patch: %v", err)
	}
	if r.file() != r.text {
		t.Fatal("a refused change wrote the file")
	}
	// A value from ${VAR} cannot be written back.
	text := strings.Replace(r.text, "weight: 2", "weight: ${CH_WEIGHT}", 1)
	r.mustChange(state.Change{Op: state.OpPutConfig, Text: []byte(text)})
	if w := r.server("app", a).Weight(); w != 4 {
		t.Fatalf("weight from ${CH_WEIGHT} = %d", w)
	}
	if _, err := r.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a, Server: state.ServerSpec{Weight: ptr(6)}}); !errors.Is(err, state.ErrConflict) || !strings.Contains(err.Error(), "CH_WEIGHT") {
		t.Errorf("a weight from ${CH_WEIGHT}: %v, want ErrConflict naming it", err)
	}
	// A file edited on disk and not reloaded: the change is refused, not
	// mixed with the hand edit.
	hand := strings.Replace(text, "drain_timeout: 5s", "drain_timeout: 6s", 1)
	if err := os.WriteFile(r.path, []byte(hand), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[1].addr, Server: state.ServerSpec{Drain: ptr(true)}}); !errors.Is(err, state.ErrConflict) {
		t.Errorf("file changed on disk: %v, want ErrConflict", err)
	}
	if r.file() != hand {
		t.Fatal("the hand edit was overwritten")
	}
	res := r.mustChange(state.Change{Op: state.OpReload})
	if !res.Applied {
		t.Fatalf("reload through the API: %+v", res)
	}
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[1].addr, Server: state.ServerSpec{Drain: ptr(true)}})
	if f := r.file(); !strings.Contains(f, "drain_timeout: 6s") || !strings.Contains(f, "drain: true") {
		t.Fatalf("file after reload and change:\n%s", f)
	}
}

// TestUndrainNeverResurrectsRemoved: a reload removes a server while a
// keep-alive client still uses it (it drains); an undrain of that server
// is refused (it is not in the configuration), and whatever the operator
// bits say, it gets no new request.
func TestUndrainNeverResurrectsRemoved(t *testing.T) {
	r := chNewRig(t, false)
	c := r.b[2]
	s := r.server("app", c.addr)
	text := strings.Replace(r.text, "      - {address: \""+c.addr+"\", weight: 1}   # c\n", "", 1)
	if err := os.WriteFile(r.path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.app.ReloadFrom(r.path, SourceSignal); err != nil {
		t.Fatal(err)
	}
	if !s.Removed() {
		t.Fatal("the removed server does not drain")
	}
	if _, err := r.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: c.addr, Server: state.ServerSpec{Drain: ptr(false)}}); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("undrain of a removed server: %v, want ErrNotFound", err)
	}
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[0].addr, Server: state.ServerSpec{Drain: ptr(false)}})
	s.SetDraining(false) // even a direct undrain of the object
	before := c.Hits()
	for i := 0; i < 30; i++ {
		if st, body := obsGet(t, r.web, "/"); st != 200 || body == "c" {
			t.Fatalf("GET / = %d %q: the removed server served", st, body)
		}
	}
	if c.Hits() != before || !s.Removed() {
		t.Fatalf("removed server got %d requests (removed=%v)", c.Hits()-before, s.Removed())
	}
}

// loadConfigDir is LoadConfig with the overlay of state directory dir.
func loadConfigDir(path, dir string) (*config.Config, error) {
	lt, err := loadFile(path, dir, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return lt.cfg, lt.cfg.Resolve(ctx)
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
