package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ctlRun runs the built `sluice ctl` with key (SLUICE_API_KEY, "" = none)
// and returns its exit code and output.
func ctlRun(t *testing.T, grpcAddr, key string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(sluiceBin, append([]string{"ctl", "--addr", grpcAddr, "--timeout", "10s"}, args...)...)
	cmd.Env = append(os.Environ(), "SLUICE_API_KEY="+key)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	_ = cmd.Run()
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// ctlEnv is a running sluice with the gRPC service, a user and three API
// keys (admin, operator, viewer) made through the REST API.
type ctlEnv struct {
	p                       *proc
	cfg, admin, grpc, web   string
	beA, beB                string
	stateDir                string
	adminKey, opKey, vwrKey string
}

func startCtlEnv(t *testing.T) *ctlEnv {
	t.Helper()
	dir := t.TempDir()
	e := &ctlEnv{admin: freeAddr(t), grpc: freeAddr(t), web: freeAddr(t), beA: httpBackend(t, "a"), beB: httpBackend(t, "b"),
		stateDir: filepath.Join(dir, "state")}
	hash, _, _ := hashPassword(t, "ctl-pw\n")
	text := strings.Replace(httpConfig(e.admin, e.web, e.beA, e.beB), fmt.Sprintf("admin: {listen: %q}", e.admin),
		fmt.Sprintf("admin:\n  listen: %q\n  grpc_listen: %q\n  state_dir: %q\n  users:\n    - {name: alice, password_hash: %q, role: admin}",
			e.admin, e.grpc, e.stateDir, hash), 1)
	e.cfg = writeFile(t, dir, "sluice.yaml", text)
	e.p = start(t, "run", "-c", e.cfg)
	waitFor(t, "sluice ready", 15*time.Second, func() bool { c, _, _ := get("http://" + e.admin + "/readyz"); return c == 200 })
	a := &apiClient{base: "http://" + e.admin, c: &http.Client{Timeout: 10 * time.Second}}
	a.login(t, "alice", "ctl-pw")
	for role, dst := range map[string]*string{"admin": &e.adminKey, "operator": &e.opKey, "viewer": &e.vwrKey} {
		code, m, _ := a.do(t, "POST", "/api/v1/keys", `{"name":"ctl-`+role+`","role":"`+role+`"}`)
		if code != 201 {
			t.Fatalf("create %s key: %d %v", role, code, m)
		}
		*dst = m["key"].(string)
	}
	return e
}

// serverLine is BACKEND ADDRESS's line of `servers --plain`.
func serverLine(t *testing.T, e *ctlEnv, addr string) []string {
	t.Helper()
	code, out, errs := ctlRun(t, e.grpc, e.vwrKey, "--plain", "servers", "web")
	if code != 0 {
		t.Fatalf("servers: %d %s", code, errs)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Split(l, "\t"); len(f) > 2 && f[1] == addr {
			return f
		}
	}
	t.Fatalf("no line for %s in:\n%s", addr, out)
	return nil
}

// TestCtlDrivesRunningSluice: every `sluice ctl` command against the built
// binary over gRPC, the changes written back to the file, a viewer key
// refused every change (exit 3), and each kind of failure with its exit
// code.
func TestCtlDrivesRunningSluice(t *testing.T) {
	e := startCtlEnv(t)
	code, out, errs := ctlRun(t, e.grpc, e.vwrKey, "status")
	if code != 0 || !strings.Contains(out, "config_checksum") || !regexp.MustCompile(`servers\s+2\n`).MatchString(out) {
		t.Fatalf("status: %d %q %s", code, out, errs)
	}
	if f := serverLine(t, e, e.beA); f[0] != "web" || f[3] != "1" || f[7] != "yes" || f[8] != "no" {
		t.Fatalf("server line %q", f)
	}
	// A viewer may read but not change anything.
	for _, args := range [][]string{{"drain", "web", e.beA}, {"undrain", "web", e.beA}, {"enable", "web", e.beA},
		{"disable", "web", e.beA}, {"weight", "web", e.beA, "5"}, {"reload"}, {"add", "web", "127.0.0.1:9"}, {"remove", "web", e.beB}} {
		if code, _, errs := ctlRun(t, e.grpc, e.vwrKey, args...); code != 3 || !strings.Contains(errs, "denied") {
			t.Errorf("viewer %v: exit %d %s", args, code, errs)
		}
	}
	// An operator drains, undrains, disables, enables, weights, reloads.
	steps := []struct {
		args  []string
		check func(f []string) bool
		file  string
	}{
		{[]string{"drain", "web", e.beA}, func(f []string) bool { return f[8] == "yes" }, "drain: true"},
		{[]string{"undrain", "web", e.beA}, func(f []string) bool { return f[8] == "no" }, ""},
		{[]string{"disable", "web", e.beA}, func(f []string) bool { return f[7] == "no" }, "enabled: false"},
		{[]string{"enable", "web", e.beA}, func(f []string) bool { return f[7] == "yes" }, ""},
		{[]string{"weight", "web", e.beA, "5"}, func(f []string) bool { return f[3] == "5" }, "weight: 5"},
	}
	for _, s := range steps {
		code, out, errs := ctlRun(t, e.grpc, e.opKey, s.args...)
		if code != 0 || !strings.Contains(out, "backend web") {
			t.Fatalf("%v: exit %d %q %s", s.args, code, out, errs)
		}
		waitFor(t, fmt.Sprint(s.args)+" visible", 5*time.Second, func() bool { return s.check(serverLine(t, e, e.beA)) })
		text, _ := os.ReadFile(e.cfg)
		if s.file != "" && !strings.Contains(string(text), s.file) {
			t.Fatalf("%v not written back:\n%s", s.args, text)
		}
	}
	if code, out, errs := ctlRun(t, e.grpc, e.opKey, "reload"); code != 0 || !strings.Contains(out, "reloaded") {
		t.Fatalf("reload: %d %q %s", code, out, errs)
	}
	// An operator may not add servers; an admin adds and removes one.
	if code, _, _ := ctlRun(t, e.grpc, e.opKey, "add", "web", "127.0.0.1:9"); code != 3 {
		t.Fatalf("operator add: %d", code)
	}
	if code, out, errs := ctlRun(t, e.grpc, e.adminKey, "add", "web", "127.0.0.1:9", "2"); code != 0 || !strings.Contains(out, "127.0.0.1:9 added") {
		t.Fatalf("add: %d %q %s", code, out, errs)
	}
	if code, out, errs := ctlRun(t, e.grpc, e.adminKey, "remove", "web", "127.0.0.1:9"); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("remove: %d %q %s", code, out, errs)
	}
	code, out, errs = ctlRun(t, e.grpc, e.vwrKey, "explain", "--frontend", "web", "--path", "/x")
	if code != 0 || !strings.Contains(out, "backend web") || !strings.Contains(out, "pick: 127.0.0.1:") {
		t.Fatalf("explain: %d %q %s", code, out, errs)
	}
	code, out, _ = ctlRun(t, e.grpc, e.vwrKey, "--plain", "events", "web")
	if code != 0 || !strings.Contains(out, "operator") {
		t.Fatalf("events: %d %q", code, out)
	}
	if code, _, errs := ctlRun(t, e.grpc, e.vwrKey, "alerts"); code != 0 {
		t.Fatalf("alerts: %d %s", code, errs)
	}
	// Failures and their exit codes.
	for _, c := range []struct {
		key  string
		args []string
		code int
		err  string
	}{
		{"", []string{"status"}, 3, "unauthenticated"},
		{"not-a-key", []string{"status"}, 3, "unauthenticated"},
		{e.opKey, []string{"drain", "nope", e.beA}, 4, "not found"},
		{e.opKey, []string{"drain", "web", "10.9.9.9:80"}, 4, "not found"},
		{e.opKey, []string{"weight", "web", e.beA, "999"}, 1, "0..256"},
		{e.adminKey, []string{"add", "web", e.beB}, 5, "refused"},
		{e.adminKey, []string{"add", "web", "no-port"}, 5, "refused"},
		{e.vwrKey, []string{"explain", "--frontend", "nope"}, 4, "not found"},
		{e.vwrKey, []string{"frobnicate"}, 1, "unknown command"},
	} {
		code, _, errs := ctlRun(t, e.grpc, c.key, c.args...)
		if code != c.code || !strings.Contains(errs, c.err) {
			t.Errorf("%v: exit %d %q, want %d %q", c.args, code, errs, c.code, c.err)
		}
	}
	if code, _, errs := ctlRun(t, freeAddr(t), e.vwrKey, "status"); code != 2 || !strings.Contains(errs, "cannot reach") {
		t.Errorf("nothing listening: %d %s", code, errs)
	}
	audit, _ := os.ReadFile(filepath.Join(e.stateDir, "audit.log"))
	if !strings.Contains(string(audit), `"via":"grpc"`) || !strings.Contains(string(audit), `"action":"patch_server"`) {
		t.Fatalf("gRPC changes not in the audit log:\n%s", audit)
	}
}

// TestCtlWatchAndUpgrade: `sluice ctl watch --plain` streams a line per
// server each second until interrupted (exit 0); the gRPC listener is
// handed to the new process of a binary upgrade, where ctl keeps working.
func TestCtlWatchAndUpgrade(t *testing.T) {
	e := startCtlEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sluiceBin, "ctl", "--addr", e.grpc, "--plain", "watch")
	cmd.Env = append(os.Environ(), "SLUICE_API_KEY="+e.vwrKey)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var times []string
	for len(times) < 4 && sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) > 3 && f[1] == "server" && f[3] == e.beA {
			times = append(times, f[0])
		}
	}
	if len(times) < 4 {
		t.Fatalf("watch gave %d frames", len(times))
	}
	first, _ := strconv.ParseInt(times[1], 10, 64)
	last, _ := strconv.ParseInt(times[3], 10, 64)
	if d := time.Duration(last-first) * time.Millisecond; d < 1500*time.Millisecond || d > 4*time.Second {
		t.Fatalf("2 frames took %v, want about 2s", d)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch after ^C: %v", err)
	}

	e.p.cmd.Process.Signal(syscall.SIGUSR2)
	waitFor(t, "new process ready", 20*time.Second, func() bool { return strings.Contains(e.p.log(), "binary upgrade: new process ready") })
	m := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(e.p.log())
	if m == nil {
		t.Fatal("no pid of the new process")
	}
	pid, _ := strconv.Atoi(m[1])
	np, _ := os.FindProcess(pid)
	t.Cleanup(func() { np.Kill() })
	e.p.wait(t, 15*time.Second)
	code, out, errs := ctlRun(t, e.grpc, e.opKey, "drain", "web", e.beB)
	if code != 0 || !strings.Contains(out, "draining") {
		t.Fatalf("drain after the upgrade: %d %q %s", code, out, errs)
	}
	np.Signal(syscall.SIGTERM)
}
