package ctl

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/admin/grpcapi"
	"github.com/sluicelb/sluice/internal/state"
)

// fake is a state.Control with one backend of two servers.
type fake struct {
	items   chan state.Item
	changes chan state.Change
}

func (f *fake) Snapshot() *state.Snapshot {
	return &state.Snapshot{Version: "v9", Checksum: "c0ffee", Started: time.Now().Add(-time.Hour),
		Backends: []state.Backend{{Name: "app", Servers: []state.Server{{Address: "10.0.0.1:80", Weight: 1, Enabled: true}}}}}
}
func (f *fake) Stats() *state.Stats {
	return &state.Stats{Time: time.Now(), Backends: []state.BackendStats{{Name: "app", Servers: []state.ServerStats{
		{Address: "10.0.0.1:80", Health: "up", Enabled: true, Weight: 1, RequestsPerSec: 2.5, UpRatio: 1}}}}}
}
func (f *fake) Events(uint64, int) []state.Event      { return nil }
func (f *fake) Logs(state.LogFilter) []state.LogEntry { return nil }
func (f *fake) Subscribe(int) *state.Subscription {
	return &state.Subscription{C: f.items, Dropped: func() bool { return false }, Close: func() {}}
}
func (f *fake) Validate([]byte) []state.ConfigError { return nil }
func (f *fake) Change(_ context.Context, c state.Change) (state.Result, error) {
	f.changes <- c
	if c.Backend != "app" {
		return state.Result{}, state.ErrNotFound
	}
	return state.Result{Applied: true, Changes: []string{"backend app: server 10.0.0.1:80 draining"}, Persisted: "file"}, nil
}
func (f *fake) Explain(q state.ExplainQuery) (state.Explanation, error) {
	return state.Explanation{Frontend: q.Frontend, Backend: "app", Pick: "10.0.0.1:80", Access: "allowed"}, nil
}

type auth struct{}

func (auth) Authorize(token, pattern string) (state.Actor, int, error) {
	switch {
	case token == "":
		return state.Actor{}, http.StatusUnauthorized, errors.New("an API key is required")
	case token == "viewer" && !strings.HasPrefix(pattern, "GET "):
		return state.Actor{}, http.StatusForbidden, errors.New("viewer may not " + pattern)
	}
	return state.Actor{Name: token}, 0, nil
}
func (auth) Audit(state.Actor, string, string, map[string]any, state.Result, error) {}

func start(t *testing.T) (string, *fake) {
	f := &fake{items: make(chan state.Item, 4), changes: make(chan state.Change, 16)}
	s := grpcapi.New(grpcapi.Options{Control: f, Auth: auth{}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(context.Background()) })
	return ln.Addr().String(), f
}

func ctl(env map[string]string, args ...string) (code int, out, errOut string) {
	var o, e bytes.Buffer
	code = Run(args, func(k string) string { return env[k] }, &o, &e, nil)
	return code, o.String(), e.String()
}

// TestCtlExitCodes: each kind of failure has its exit code.
func TestCtlExitCodes(t *testing.T) {
	addr, _ := start(t)
	env := map[string]string{"SLUICE_CTL_ADDR": addr, "SLUICE_API_KEY": "admin"}
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, c := range []struct {
		env  map[string]string
		args []string
		code int
		err  string
	}{
		{env, []string{"status"}, ExitOK, ""},
		{env, nil, ExitUsage, "usage:"},
		{env, []string{"bogus"}, ExitUsage, `unknown command "bogus"`},
		{env, []string{"drain", "app"}, ExitUsage, "wrong number of arguments"},
		{env, []string{"weight", "app", "10.0.0.1:80", "300"}, ExitUsage, "want a number 0..256"},
		{env, []string{"--timeout", "x", "status"}, ExitUsage, "--timeout"},
		{env, []string{"--addr", deadAddr, "status"}, ExitUnreachable, "cannot reach the control service at " + deadAddr},
		{map[string]string{"SLUICE_CTL_ADDR": addr}, []string{"status"}, ExitDenied, "unauthenticated: an API key is required (give --key or set SLUICE_API_KEY)"},
		{env, []string{"--key", "viewer", "drain", "app", "10.0.0.1:80"}, ExitDenied, "denied: viewer may not PATCH"},
		{env, []string{"drain", "nope", "10.0.0.1:80"}, ExitNotFound, "not found"},
		{env, []string{"explain", "--path", "/x"}, ExitUsage, "needs --frontend"},
	} {
		code, _, errOut := ctl(c.env, c.args...)
		if code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("%v: exit %d %q, want %d %q", c.args, code, errOut, c.code, c.err)
		}
	}
}

// TestCtlOutput: tables for people, tab-separated lines under --plain;
// drain sends the patch; watch redraws at each stats frame.
func TestCtlOutput(t *testing.T) {
	addr, f := start(t)
	env := map[string]string{"SLUICE_API_KEY": "admin"}
	code, out, _ := ctl(env, "--addr", addr, "servers", "--plain")
	if code != 0 || out != "app\t10.0.0.1:80\tup\t1\t0\t2.5\t0.0\tyes\tno\t100.0%\t-\n" {
		t.Fatalf("servers --plain: %d %q", code, out)
	}
	code, out, _ = ctl(env, "--addr", addr, "servers")
	if code != 0 || !strings.HasPrefix(out, "BACKEND  ADDRESS") {
		t.Fatalf("servers: %d %q", code, out)
	}
	code, out, _ = ctl(env, "--addr="+addr, "drain", "app", "10.0.0.1:80")
	if code != 0 || out != "backend app: server 10.0.0.1:80 draining\n(applied; kept in the file)\n" {
		t.Fatalf("drain: %d %q", code, out)
	}
	if c := <-f.changes; c.Op != state.OpPatchServer || c.Server.Drain == nil || !*c.Server.Drain || c.Actor.Via != "grpc" {
		t.Fatalf("drain sent %+v", c)
	}
	code, out, _ = ctl(env, "--addr", addr, "--plain", "status")
	if code != 0 || !strings.Contains(out, "version\tv9\n") || !strings.Contains(out, "config_checksum\tc0ffee\n") {
		t.Fatalf("status --plain: %d %q", code, out)
	}
	code, out, _ = ctl(env, "--addr", addr, "explain", "--frontend", "web", "--header", "X-Api-Key: k")
	if code != 0 || !strings.Contains(out, "pick: 10.0.0.1:80") {
		t.Fatalf("explain: %d %q", code, out)
	}
	// watch: two frames (the first at once, the second from the stream).
	f.items <- state.Item{Event: &state.Event{Type: "health", Message: "server 10.0.0.1:80 of backend app is down"}}
	f.items <- state.Item{Stats: f.Stats()}
	var o, e bytes.Buffer
	opts := &opts{addr: addr, key: "admin", timeout: 5 * time.Second, stdout: &o, stderr: &e, frames: 2}
	conn, err := opts.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &client{o: opts, cl: newClient(conn)}
	if err := c.watch(nil); err != nil {
		t.Fatal(err)
	}
	screens := strings.Split(o.String(), "\x1b[H\x1b[2J")
	if len(screens) != 3 || !strings.Contains(screens[2], "app      10.0.0.1:80  up") ||
		!strings.Contains(screens[2], "server 10.0.0.1:80 of backend app is down") {
		t.Fatalf("watch screens %q", screens)
	}
}
