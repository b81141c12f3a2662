package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
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

func TestRunHelpStatesPrecedence(t *testing.T) {
	cmd := exec.Command(sluiceBin, "run", "--help")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run --help: %v %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"flag > environment > file > default",
		"SLUICE_CONFIG", "--watch",
		"--admin-listen ADDR", "SLUICE_ADMIN_LISTEN", "admin.listen",
		"--log-level LEVEL", "SLUICE_LOG_LEVEL", "logging.level",
		"--log-format FORMAT", "SLUICE_LOG_FORMAT", "logging.format",
		"--access-log DEST", "SLUICE_ACCESS_LOG", "logging.access_log",
		"--state-dir DIR", "SLUICE_STATE_DIR", "admin.state_dir",
		"every reload", "binary upgrade", `"effective settings"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run --help lacks %q:\n%s", want, out)
		}
	}
}

// An invalid override is exit 1 with a message naming the flag or
// variable; a valid flag hides an invalid variable (flag > environment).
func TestOverrideInvalidValuesExit1(t *testing.T) {
	listen := freeAddr(t)
	path := writeFile(t, t.TempDir(), "c.yaml", httpConfig(freeAddr(t), listen, "127.0.0.1:9"))
	cases := []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"SLUICE_LOG_LEVEL=loud"}, nil, `SLUICE_LOG_LEVEL: logging.level: unknown value "loud"`},
		{nil, []string{"--log-format", "xml"}, `--log-format: logging.format: unknown value "xml"`},
		{[]string{"SLUICE_ADMIN_LISTEN=nonsense"}, nil, "SLUICE_ADMIN_LISTEN: admin.listen: "},
		{nil, []string{"--access-log="}, "--access-log: logging.access_log: must be stdout, stderr, off or a file path"},
		{[]string{"SLUICE_STATE_DIR=var/lib/sluice"}, nil, `SLUICE_STATE_DIR: admin.state_dir: must be an absolute path`},
		{[]string{"SLUICE_ADMIN_LISTEN=" + listen}, nil, "is already used by admin.listen (SLUICE_ADMIN_LISTEN)"},
		{nil, []string{"--log-levl", "info"}, "flag provided but not defined: -log-levl"},
	}
	for _, tc := range cases {
		p := startEnv(t, tc.env, append([]string{"run", "-c", path}, tc.args...)...)
		if code := p.wait(t, 10*time.Second); code != 1 {
			t.Errorf("%v %v: exit code %d, want 1\n%s", tc.env, tc.args, code, p.log())
			continue
		}
		if !strings.Contains(p.log(), tc.want) {
			t.Errorf("%v %v: output lacks %q:\n%s", tc.env, tc.args, tc.want, p.log())
		}
	}
	// validate applies the same overrides: the flag wins over the bad variable.
	cmd := exec.Command(sluiceBin, "validate", "-c", path, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "SLUICE_LOG_LEVEL=loud")
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "configuration OK" {
		t.Fatalf("validate with a flag over a bad variable: %v %s", err, out)
	}
	cmd = exec.Command(sluiceBin, "validate", "-c", path)
	cmd.Env = append(os.Environ(), "SLUICE_LOG_LEVEL=loud")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "SLUICE_LOG_LEVEL: logging.level") {
		t.Fatalf("validate with a bad variable: %v %s", err, out)
	}
}

// setting is one entry of the "effective settings" start-up line.
type setting struct{ Value, Source string }

// effectiveSettings returns every "effective settings" line of a JSON log.
func effectiveSettings(t *testing.T, log string) []map[string]setting {
	t.Helper()
	var out []map[string]setting
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), `"msg":"effective settings"`) {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("not JSON: %v: %s", err, sc.Text())
		}
		m := map[string]setting{}
		for k, v := range raw {
			var s setting
			if json.Unmarshal(v, &s) == nil && s.Source != "" {
				m[k] = s
			}
		}
		out = append(out, m)
	}
	return out
}

func lineCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	return bytes.Count(b, []byte("\n"))
}

// TestOverridesHoldAcrossReloadsAndUpgrade: flags beat the environment,
// which beats the file; the start-up summary names each source; a reload
// (SIGHUP or --watch) re-reads the file and applies the overrides again;
// the new process of a binary upgrade runs with the same overrides.
func TestOverridesHoldAcrossReloadsAndUpgrade(t *testing.T) {
	for _, mode := range []string{"sighup", "watch"} {
		t.Run(mode, func(t *testing.T) { testOverrides(t, mode) })
	}
}

func testOverrides(t *testing.T, mode string) {
	a, b := httpBackend(t, "a"), httpBackend(t, "b")
	fileAdmin, admin, listen := freeAddr(t), freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	fileLog, envLog, flagLog := filepath.Join(dir, "file.log"), filepath.Join(dir, "env.log"), filepath.Join(dir, "flag.log")
	state := filepath.Join(dir, "state")
	conf := func(fileAdmin, server string) string {
		// The file asks for what the overrides replace: another admin
		// address, level error (which would hide the info lines checked
		// below), text logs and another access log.
		return fmt.Sprintf(`admin: {listen: %q, state_dir: /nonexistent}
logging: {level: error, format: text, access_log: %q}
shutdown_timeout: 5s
frontends:
  - {name: web, mode: http, listen: %q, backend: web}
backends:
  - name: web
    servers: [{address: %q}]
`, fileAdmin, fileLog, listen, server)
	}
	path := writeFile(t, dir, "sluice.yaml", conf(fileAdmin, a))
	env := []string{
		"SLUICE_CONFIG=" + path,
		"SLUICE_ADMIN_LISTEN=" + admin,
		"SLUICE_LOG_LEVEL=info",
		"SLUICE_LOG_FORMAT=text", // the flag below wins
		"SLUICE_ACCESS_LOG=" + envLog,
		"SLUICE_STATE_DIR=" + state,
	}
	args := []string{"run", "--log-format", "json", "--access-log", flagLog}
	if mode == "watch" {
		args = append(args, "--watch")
	}
	p := startEnv(t, env, args...)
	waitFor(t, "ready on the overriding admin address", 10*time.Second, func() bool {
		c, _, _ := get("http://" + admin + "/readyz")
		return c == 200
	})
	if c, err := net.DialTimeout("tcp", fileAdmin, time.Second); err == nil {
		c.Close()
		t.Fatalf("the file's admin address %s is listening", fileAdmin)
	}
	wantSettings := map[string]setting{
		"config":             {path, "SLUICE_CONFIG"},
		"admin.listen":       {admin, "SLUICE_ADMIN_LISTEN"},
		"logging.level":      {"info", "SLUICE_LOG_LEVEL"},
		"logging.format":     {"json", "--log-format"},
		"logging.access_log": {flagLog, "--access-log"},
		"admin.state_dir":    {state, "SLUICE_STATE_DIR"},
	}
	checkSettings := func(n int) {
		t.Helper()
		all := effectiveSettings(t, p.log())
		if len(all) != n {
			t.Fatalf("%d effective settings lines, want %d:\n%s", len(all), n, p.log())
		}
		for k, want := range wantSettings {
			if got := all[n-1][k]; got != want {
				t.Errorf("effective settings %s = %+v, want %+v", k, got, want)
			}
		}
	}
	checkSettings(1)

	request := func(want string) {
		t.Helper()
		if _, body, err := get("http://" + listen + "/"); body != want {
			t.Fatalf("got %q %v, want %q", body, err, want)
		}
	}
	accessLogGrows := func(n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d lines in the --access-log file", n), 5*time.Second, func() bool { return lineCount(flagLog) >= n })
		for _, other := range []string{fileLog, envLog} {
			if _, err := os.Stat(other); err == nil {
				t.Fatalf("access log written to %s", other)
			}
		}
	}
	request("a")
	accessLogGrows(1)

	// Reload: the file changes its server (and still asks for its own
	// admin address, level and access log); the overrides stay in force.
	if err := os.WriteFile(path, []byte(conf(freeAddr(t), b)), 0o644); err != nil {
		t.Fatal(err)
	}
	if mode == "sighup" {
		_ = p.cmd.Process.Signal(syscall.SIGHUP)
	}
	waitFor(t, "reloaded", 10*time.Second, func() bool { _, body, _ := get("http://" + listen + "/"); return body == "b" })
	request("b")
	accessLogGrows(3)
	// The reload is counted once it is applied, which may be just after the
	// new server answers: wait for the count rather than read it once.
	waitFor(t, "one successful reload counted", 5*time.Second, func() bool {
		return metric(t, admin, `sluice_config_reloads_total{result="success"}`) == "1"
	})
	// The info line follows the count: a lost level override would drop it.
	waitFor(t, "the info line of the reload (the level override kept)", 5*time.Second, func() bool {
		return strings.Contains(p.log(), `"msg":"configuration reloaded"`)
	})
	log := p.log()
	if strings.Contains(log, "admin.listen changed") {
		t.Fatalf("the reload took the file's admin address:\n%s", log)
	}
	if mode != "sighup" {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if code := p.wait(t, 10*time.Second); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		return
	}

	// Binary upgrade: the new process gets the same flags and environment.
	_ = p.cmd.Process.Signal(syscall.SIGUSR2)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("old process exit code %d", code)
	}
	m := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`).FindStringSubmatch(p.log())
	if m == nil {
		t.Fatalf("no new process:\n%s", p.log())
	}
	pid, _ := strconv.Atoi(m[1])
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	checkSettings(2)
	if c, _, _ := get("http://" + admin + "/readyz"); c != 200 {
		t.Fatalf("readyz on %s after the upgrade: %d", admin, c)
	}
	request("b")
	accessLogGrows(4)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	waitFor(t, "new process stopped", 10*time.Second, func() bool { return !alive(pid) })
}

// alive reports whether process pid runs (a zombie does not: the process
// that adopted an upgraded sluice may reap it late).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
