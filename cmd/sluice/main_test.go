package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/freeport"
)

// sluiceBin is the binary under test: $SLUICE_BIN when set (make test
// builds bin/sluice once for every package that runs it), else one built
// here as make build builds it (static, -trimpath), so that the packages
// it shares with deploy/systemd and tools/mkimage compile once.
var sluiceBin string

func TestMain(m *testing.M) {
	if sluiceBin = os.Getenv("SLUICE_BIN"); sluiceBin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sluice-cmd-test")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-trimpath", "-o", sluiceBin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// httpBackend serves "name" on / and sleeps on /slow?d=DUR.
func httpBackend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		io.WriteString(w, "slow "+name)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// proc is a sluice process. Its stderr goes to a file, which processes it
// starts (binary upgrade) inherit as well, so Wait never waits for them.
type proc struct {
	cmd  *exec.Cmd
	logf *os.File
	done chan struct{}
	code int
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logf.Name())
	return string(b)
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with env added to the test's environment.
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "sluice-log")
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: exec.Command(sluiceBin, args...), done: make(chan struct{}), logf: logf}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = logf
	p.cmd.Stdout = logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("sluice log:\n%s", p.log())
		}
	})
	return p
}

func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("sluice did not exit within %v", d)
		return -1
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(url string) (int, string, error) {
	c := http.Client{Timeout: 10 * time.Second}
	r, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	return r.StatusCode, string(b), err
}

func metric(t *testing.T, admin, prefix string) string {
	t.Helper()
	_, body, err := get("http://" + admin + "/metrics")
	if err != nil {
		return ""
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix+" ") {
			return strings.TrimPrefix(sc.Text(), prefix+" ")
		}
	}
	return ""
}

func httpConfig(admin, listen string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: %q}\nlogging: {access_log: off, level: info}\nshutdown_timeout: 5s\n", admin)
	fmt.Fprintf(&b, "frontends:\n  - {name: web, mode: http, listen: %q, backend: web}\n", listen)
	b.WriteString("backends:\n  - name: web\n    servers:\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "      - {address: %q}\n", s)
	}
	return b.String()
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(sluiceBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "sluice ") || !strings.Contains(string(out), "go1.") {
		t.Fatalf("version output %q", out)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", httpConfig("127.0.0.1:19900", "127.0.0.1:18080", "127.0.0.1:9"))
	out, err := exec.Command(sluiceBin, "validate", "-c", good).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "configuration OK" {
		t.Fatalf("validate good: %v %q", err, out)
	}
	bad := writeFile(t, dir, "bad.yaml", `frontends:
  - name: web
    mode: http
    listen: 127.0.0.1:99999
    backend: nope
    colour: blue
backends: []
`)
	cmd := exec.Command(sluiceBin, "validate", "--config", bad)
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit code %d, want 1; output %s", code, out)
	}
	for _, want := range []string{bad + ":4:", bad + ":5:", bad + ":6:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// SLUICE_CONFIG when the flag is absent.
	cmd = exec.Command(sluiceBin, "validate")
	cmd.Env = append(os.Environ(), "SLUICE_CONFIG="+good)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("validate with SLUICE_CONFIG: %v %s", err, out)
	}
	// Unknown flags and commands: exit 1.
	for _, args := range [][]string{{"validate", "--nope"}, {"frobnicate"}, {"run"}} {
		cmd := exec.Command(sluiceBin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		_ = cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Errorf("%v: exit code %d, want 1", args, code)
		}
	}
}

func TestPortInUseExits2(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	cfg := writeFile(t, t.TempDir(), "c.yaml", httpConfig(freeAddr(t), busy, "127.0.0.1:9"))
	p := start(t, "run", "-c", cfg)
	if code := p.wait(t, 10*time.Second); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(p.log(), busy) || !strings.Contains(p.log(), "address already in use") {
		t.Fatalf("message does not name %s and the cause:\n%s", busy, p.log())
	}
}

func TestGracefulShutdownLetsRequestFinish(t *testing.T) {
	be := httpBackend(t, "a")
	admin, listen := freeAddr(t), freeAddr(t)
	cfg := writeFile(t, t.TempDir(), "c.yaml", httpConfig(admin, listen, be))
	p := start(t, "run", "-c", cfg)
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	type res struct {
		code int
		body string
		err  error
	}
	done := make(chan res, 1)
	go func() { c, b, err := get("http://" + listen + "/slow?d=2s"); done <- res{c, b, err} }()
	// Wait until the request is in flight at the backend, then SIGTERM.
	waitFor(t, "request in flight", 5*time.Second, func() bool {
		return metric(t, admin, `sluice_active_connections{frontend="web"}`) == "1"
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readyz 503 during shutdown", 2*time.Second, func() bool {
		c, _, _ := get("http://" + admin + "/readyz")
		return c == 503 || c == 0
	})
	r := <-done
	if r.err != nil || r.code != 200 || r.body != "slow a" {
		t.Fatalf("in-flight request: %d %q %v", r.code, r.body, r.err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestSIGHUPReloadKeepsOldConfigOnError(t *testing.T) {
	a, b := httpBackend(t, "a"), httpBackend(t, "b")
	admin, listen := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", httpConfig(admin, listen, a))
	p := start(t, "run", "-c", path)
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	if _, body, _ := get("http://" + listen + "/"); body != "a" {
		t.Fatalf("before reload got %q", body)
	}
	// An invalid file: rejected, old config stays, failure counted.
	writeFile(t, dir, "c.yaml", httpConfig(admin, listen, a)+"bogus_key: 1\n")
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "failure counted", 5*time.Second, func() bool {
		return metric(t, admin, `sluice_config_reloads_total{result="failure"}`) == "1"
	})
	if !strings.Contains(p.log(), path+":") {
		t.Fatalf("reload error does not name the file:\n%s", p.log())
	}
	if got := metric(t, admin, "sluice_config_last_reload_success"); got != "0" {
		t.Fatalf("last_reload_success %q", got)
	}
	if _, body, _ := get("http://" + listen + "/"); body != "a" {
		t.Fatalf("after a bad reload got %q", body)
	}
	// A valid file replacing the server.
	writeFile(t, dir, "c.yaml", httpConfig(admin, listen, b))
	_ = p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "success counted", 5*time.Second, func() bool {
		return metric(t, admin, `sluice_config_reloads_total{result="success"}`) == "1"
	})
	for i := 0; i < 4; i++ {
		if _, body, _ := get("http://" + listen + "/"); body != "b" {
			t.Fatalf("after reload got %q", body)
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestWatchFollowsSymlinkSwap(t *testing.T) {
	a, b := httpBackend(t, "a"), httpBackend(t, "b")
	admin, listen := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	// The ConfigMap layout: config.yaml -> ..data/config.yaml, ..data -> ..v1
	os.Mkdir(filepath.Join(dir, "v1"), 0o755)
	os.Mkdir(filepath.Join(dir, "v2"), 0o755)
	writeFile(t, filepath.Join(dir, "v1"), "config.yaml", httpConfig(admin, listen, a))
	writeFile(t, filepath.Join(dir, "v2"), "config.yaml", httpConfig(admin, listen, b))
	if err := os.Symlink("v1", filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	os.Symlink("data/config.yaml", path)
	p := start(t, "run", "-c", path, "--watch")
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	if _, body, _ := get("http://" + listen + "/"); body != "a" {
		t.Fatalf("before swap got %q", body)
	}
	// Atomic swap of the data symlink, as kubelet does.
	tmp := filepath.Join(dir, "data.tmp")
	os.Symlink("v2", tmp)
	if err := os.Rename(tmp, filepath.Join(dir, "data")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload after swap", 10*time.Second, func() bool {
		_, body, _ := get("http://" + listen + "/")
		return body == "b"
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait(t, 10*time.Second)
}

func TestSecondSignalStopsAtOnce(t *testing.T) {
	be := httpBackend(t, "a")
	admin, listen := freeAddr(t), freeAddr(t)
	cfg := strings.Replace(httpConfig(admin, listen, be), "shutdown_timeout: 5s", "shutdown_timeout: 30s", 1)
	p := start(t, "run", "-c", writeFile(t, t.TempDir(), "c.yaml", cfg))
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })
	go get("http://" + listen + "/slow?d=20s") // keeps the graceful stop waiting
	waitFor(t, "request in flight", 5*time.Second, func() bool {
		return metric(t, admin, `sluice_active_connections{frontend="web"}`) == "1"
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	waitFor(t, "graceful stop begun", 5*time.Second, func() bool {
		return strings.Contains(p.log(), "stopping gracefully")
	})
	begin := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("second SIGTERM took %v to stop", d)
	}
	if !strings.Contains(p.log(), "second signal: stopping now") {
		t.Fatalf("no log line for the second signal:\n%s", p.log())
	}
}
