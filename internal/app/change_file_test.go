package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

// Tests of the change path and the configuration file: read-only files
// and the overlay, symlinks, --watch, reloads racing changes, empty
// backends. The rig is in change_test.go.

// TestChangeReadOnlyOverlay: with a read-only file the change is applied
// and kept in the state_dir overlay (Persisted "overlay"), survives a
// reload and a restart, and the file is never touched; without a state
// directory the change is refused.
func TestChangeReadOnlyOverlay(t *testing.T) {
	r := chNewRig(t, true)
	a, b := r.b[0].addr, r.b[1].addr
	if err := os.Chmod(r.path, 0o444); err != nil {
		t.Fatal(err)
	}
	res := r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a, Server: state.ServerSpec{Drain: ptr(true)}})
	if !res.Applied || res.Persisted != "overlay" {
		t.Fatalf("result %+v, want applied and persisted in the overlay", res)
	}
	res = r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: b, Server: state.ServerSpec{Weight: ptr(9)}})
	if res.Persisted != "overlay" {
		t.Fatalf("second change %+v", res)
	}
	if r.file() != r.text {
		t.Fatal("the read-only file changed")
	}
	ov, err := os.ReadFile(filepath.Join(r.dir, OverlayFile))
	if err != nil || !strings.Contains(string(ov), `.drain"`) || !strings.Contains(string(ov), `.weight"`) {
		t.Fatalf("overlay %s: %v", ov, err)
	}
	check := func(when string) {
		t.Helper()
		if s := r.server("app", a); !s.Draining() {
			t.Errorf("%s: a does not drain", when)
		}
		if s := r.server("app", b); s.Weight() != 9 {
			t.Errorf("%s: weight of b = %d", when, s.Weight())
		}
		if s := r.snapServer("app", a); s == nil || !s.Drain {
			t.Errorf("%s: snapshot of a %+v", when, s)
		}
		if !strings.Contains(string(r.app.Control().Snapshot().Text), "drain: true") {
			t.Errorf("%s: the running text lacks the overlay", when)
		}
	}
	check("after the changes")
	if err := r.app.ReloadFrom(r.path, SourceSignal); err != nil {
		t.Fatal(err)
	}
	check("after a reload")
	r.stop()
	r.start()
	check("after a restart")
	if _, err := r.change(state.Change{Op: state.OpPutConfig, Text: []byte(r.text)}); !errors.Is(err, state.ErrReadOnly) {
		t.Errorf("PUT on a read-only file: %v, want ErrReadOnly", err)
	}
	// The file becomes writable: the next change folds the overlay into it.
	if err := os.Chmod(r.path, 0o644); err != nil {
		t.Fatal(err)
	}
	res = r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[2].addr, Server: state.ServerSpec{Weight: ptr(3)}})
	if res.Persisted != "file" {
		t.Fatalf("writable again: %+v", res)
	}
	if f := r.file(); !strings.Contains(f, "drain: true") || !strings.Contains(f, "weight: 9") {
		t.Fatalf("overlay not folded into the file:\n%s", f)
	}
	if _, err := os.Stat(filepath.Join(r.dir, OverlayFile)); !os.IsNotExist(err) {
		t.Fatalf("overlay still there: %v", err)
	}

	// No state directory: a read-only file refuses the change.
	r2 := chNewRig(t, false)
	if err := os.Chmod(r2.path, 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.change(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r2.b[0].addr, Server: state.ServerSpec{Drain: ptr(true)}}); !errors.Is(err, state.ErrReadOnly) {
		t.Fatalf("read-only without state_dir: %v, want ErrReadOnly", err)
	}
	if r2.server("app", r2.b[0].addr).Draining() {
		t.Fatal("the refused change was applied")
	}
}

// TestChangeNoWatchEcho: with --watch on, a change written back by the
// API is not reloaded a second time (the watcher sees the App's own
// content); a hand edit made afterwards is. The reload counter counts the
// hand edit only.
func TestChangeNoWatchEcho(t *testing.T) {
	r := chNewRig(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	// Changes the watcher reported (cmd/sluice reloads on each): started
	// and finished reloads.
	var started, seen atomic.Int32
	wg.Add(1)
	go func() {
		defer wg.Done()
		Watch(ctx, r.path, 20*time.Millisecond, func() {
			started.Add(1)
			_ = r.app.ReloadFrom(r.path, SourceWatch)
			seen.Add(1)
		})
	}()
	defer func() { cancel(); wg.Wait() }()
	reloads := func() float64 {
		n, _ := obsFind(obsMetrics(t, r.admin), "sluice_config_reloads_total", obsLabels("result", "success"))
		return n
	}
	// A hand edit first: once it is reloaded the watcher is running.
	edit := func(from, to string) {
		t.Helper()
		if err := os.WriteFile(r.path, []byte(strings.Replace(r.file(), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	waitSeen := func(n int32, what string) {
		t.Helper()
		obsEventually(t, 5*time.Second, func() error {
			if seen.Load() < n {
				return errors.New("the watcher did not notice " + what)
			}
			return nil
		})
	}
	// (The watcher's goroutine reads the file when it starts: edit until it
	// reports one.)
	for i := 6; seen.Load() == 0; i++ {
		if i > 250 {
			t.Fatal("the watcher reports no hand edit")
		}
		edit("drain_timeout: "+strconv.Itoa(i-1)+"s", "drain_timeout: "+strconv.Itoa(i)+"s")
		time.Sleep(20 * time.Millisecond)
	}
	hand := r.file()
	hand = r.file()
	obsEventually(t, 5*time.Second, func() error { // caught up with the last edit
		if r.app.Control().Snapshot().Checksum != fmt.Sprintf("%x", sha256.Sum256([]byte(hand))) {
			return errors.New("the last hand edit is not running yet")
		}
		if started.Load() != seen.Load() {
			return errors.New("a watch reload is still running")
		}
		return nil
	})
	s0 := seen.Load()
	n0 := reloads()
	gen := r.app.Control().Snapshot().Generation
	r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[0].addr, Server: state.ServerSpec{Weight: ptr(4)}})
	waitSeen(s0+1, "the file the API wrote")
	if n := reloads(); n != n0 {
		t.Fatalf("sluice_config_reloads_total{result=success} = %v after an API write, want still %v (no echo)", n, n0)
	}
	hand = r.file()
	if g := r.app.Control().Snapshot().Generation; g != gen+1 {
		t.Fatalf("generation %d after one change, want %d", g, gen+1)
	}
	if err := os.WriteFile(r.path, []byte(strings.Replace(hand, "name: spare", "name: spare2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitSeen(s0+2, "the second hand edit")
	if n := reloads(); n != n0+1 {
		t.Fatalf("sluice_config_reloads_total{result=success} = %v, want %v (one more hand edit)", n, n0+1)
	}
	if s := r.app.Control().Snapshot(); s.Generation != gen+2 || s.LastReload.Source != SourceWatch {
		t.Fatalf("generation %d, last reload %+v; want %d, from watch", s.Generation, s.LastReload, gen+2)
	}
}

// TestChangeSymlinkedFile: a configuration file reached through symlinks,
// as a ConfigMap mount lays it out (sluice.yaml → ..data/sluice.yaml,
// ..data → a timestamped directory), is written through them: the links
// stay and the real file holds the change.
func TestChangeSymlinkedFile(t *testing.T) {
	r := chNewRig(t, false)
	r.stop()
	root := filepath.Dir(r.path)
	ts := filepath.Join(root, "..2026_12_05")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(r.path, filepath.Join(ts, "sluice.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..2026_12_05", filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/sluice.yaml", r.path); err != nil {
		t.Fatal(err)
	}
	r.start()
	res := r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: r.b[0].addr, Server: state.ServerSpec{Weight: ptr(6)}})
	if res.Persisted != "file" {
		t.Fatalf("result %+v", res)
	}
	if fi, err := os.Lstat(r.path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symlink: %v", r.path, err)
	}
	real, _ := os.ReadFile(filepath.Join(ts, "sluice.yaml"))
	if !strings.Contains(string(real), "weight: 6") || string(real) != r.file() {
		t.Fatalf("real file:\n%s", real)
	}
}

// TestEmptyBackend: a backend without servers answers 503 (http) and
// refuses connections (tcp) until a server is added through the API.
func TestEmptyBackend(t *testing.T) {
	echo := obsServe(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	be := chStartBackend(t, "x")
	admin, web, db := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	path := filepath.Join(t.TempDir(), "sluice.yaml")
	text := fmt.Sprintf(`admin: {listen: %q}
logging: {level: error, access_log: off}
frontends:
  - {name: web, listen: %q, backend: app}
  - {name: db, mode: tcp, listen: %q, backend: pg}
backends:
  - {name: app, servers: []}
  - name: pg
`, admin, web, db)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{ConfigFile: path, Logger: slogDiscard(), Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Shutdown(context.Background()) })
	if st, _ := obsGet(t, web, "/"); st != 503 {
		t.Fatalf("http with no server: %d, want 503", st)
	}
	// Refused: reset at once (even before the dial returns) or closed.
	if c, err := net.Dial("tcp", db); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || os.IsTimeout(err) {
			t.Fatalf("tcp with no server: read %d, %v; want the connection closed", n, err)
		}
		c.Close()
	}
	for _, ch := range []state.Change{
		{Op: state.OpAddServer, Backend: "app", Server: state.ServerSpec{Address: be.addr}},
		{Op: state.OpAddServer, Backend: "pg", Server: state.ServerSpec{Address: echo}},
	} {
		if _, err := a.Control().Change(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
	if st, body := obsGet(t, web, "/"); st != 200 || body != "x" {
		t.Fatalf("http after adding a server: %d %q", st, body)
	}
	c, err := net.Dial("tcp", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("tcp after adding a server: %q %v", buf, err)
	}
}

// TestReloadRacingChanges: reloads (SIGHUP) and API changes at once: a
// reload that read the file before a change wrote it must not apply the
// stale text over the change. At the end the running state is the file's.
func TestReloadRacingChanges(t *testing.T) {
	r := chNewRig(t, false)
	a := r.b[0].addr
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	app := r.app
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_ = app.ReloadFrom(r.path, SourceSignal)
			}
		}
	}()
	for i := 1; i <= 60; i++ {
		r.mustChange(state.Change{Op: state.OpPatchServer, Backend: "app", Address: a, Server: state.ServerSpec{Weight: ptr(i)}})
		if w := r.server("app", a).Weight(); w != i {
			close(stop)
			wg.Wait()
			t.Fatalf("change %d: running weight %d right after the change", i, w)
		}
	}
	close(stop)
	wg.Wait()
	if err := r.app.ReloadFrom(r.path, SourceSignal); err != nil {
		t.Fatal(err)
	}
	if w := r.server("app", a).Weight(); w != 60 || !strings.Contains(r.file(), "weight: 60") {
		t.Fatalf("running weight %d, file:\n%s", w, r.file())
	}
}
