package systemd

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/testtool"
)

const unitFile = "sluice.service"

// sluiceBin is a static sluice built for these tests (as `make build` does),
// or $SLUICE_BIN when set (make test builds bin/sluice once for every
// package that runs it).
var sluiceBin string

func TestMain(m *testing.M) {
	if sluiceBin = os.Getenv("SLUICE_BIN"); sluiceBin != "" {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "sluice-systemd-test")
	if err != nil {
		panic(err)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-trimpath", "-o", sluiceBin, "../../cmd/sluice")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build sluice: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// unit is a parsed unit file: section → key → every value, in file order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, sec := unit{}, ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", path, n, line)
			}
			u[sec][strings.TrimSpace(k)] = append(u[sec][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// get is the effective (last) value of key in sec.
func (u unit) get(sec, key string) string {
	vs := u[sec][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// TestUnitDirectives checks the unit against what sluice does: the
// notifications it sends, its signals, its overrides, its shutdown time.
func TestUnitDirectives(t *testing.T) {
	u := parseUnit(t, unitFile)
	want := map[string]string{
		"Type":                    "notify", // sluice sends READY=1 once listening
		"NotifyAccess":            "main",   // only the main process sends (MAINPID hand-over on upgrade)
		"ExecStart":               "/usr/local/bin/sluice run",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"KillSignal":              "SIGTERM",
		"Restart":                 "on-failure",
		"LimitNOFILE":             "1048576",
		"DynamicUser":             "yes",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"NoNewPrivileges":         "yes",
		"StateDirectory":          "sluice",
		"ConfigurationDirectory":  "sluice",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", // AF_UNIX: $NOTIFY_SOCKET
	}
	for k, v := range want {
		if got := u.get("Service", k); got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	if got := u["Service"]["SystemCallFilter"]; !slices.Equal(got, []string{"@system-service", "~@privileged @resources"}) {
		t.Errorf("SystemCallFilter = %q", got)
	}
	if u.get("Install", "WantedBy") != "multi-user.target" || u.get("Unit", "After") != "network-online.target" {
		t.Errorf("[Install]/[Unit]: %v %v", u["Install"], u["Unit"])
	}
	// The environment points sluice at the directories systemd makes:
	// %E = /etc (ConfigurationDirectory), %S = /var/lib (StateDirectory).
	env := strings.Join(u["Service"]["Environment"], " ")
	for _, kv := range []string{"SLUICE_CONFIG=%E/sluice/sluice.yaml", "SLUICE_STATE_DIR=%S/sluice"} {
		if !strings.Contains(env, kv) {
			t.Errorf("Environment lacks %s: %q", kv, env)
		}
	}
	// systemd must wait longer than sluice's graceful stop before SIGKILL.
	stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
	if err != nil || stop <= config.DefaultShutdownTimeout+5*time.Second {
		t.Errorf("TimeoutStopSec=%q must exceed shutdown_timeout (default %v) by more than 5s",
			u.get("Service", "TimeoutStopSec"), config.DefaultShutdownTimeout)
	}
	// The state directory is where SLUICE_STATE_DIR points; sluice accepts it.
	if _, err := config.ParseWith("t.yaml", []byte("frontends: [{name: w, listen: 127.0.0.1:1}]\n"),
		[]config.Override{{Key: "admin.state_dir", Value: "/var/lib/sluice", Source: "SLUICE_STATE_DIR"}}); err != nil {
		t.Errorf("state dir override rejected: %v", err)
	}
}

// installedUnit writes the unit with ExecStart pointing at the built
// binary (systemd-analyze verify checks that the binary exists).
func installedUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), unitFile)
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/sluice", sluiceBin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUnitVerifies runs `systemd-analyze verify` (which exits 0 even for
// unknown keys, so any output is a failure too) and `systemd-analyze
// security --offline`, whose exposure score must stay "OK" (< 2.0 of 10).
func TestUnitVerifies(t *testing.T) {
	sa := testtool.Need(t, "systemd-analyze")
	p := installedUnit(t)
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(sa, "security", "--offline=yes", "--no-pager", p).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+) (\S+)`).FindStringSubmatch(string(out))
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(m[1], 64); score >= 2.0 || m[2] != "OK" {
		t.Fatalf("exposure %s %s, want below 2.0 (OK):\n%s", m[1], m[2], out)
	}
	t.Logf("systemd-analyze security: exposure %s %s", m[1], m[2])

	// The check is real: a mistyped directive is reported.
	bad := filepath.Join(t.TempDir(), unitFile)
	b, _ := os.ReadFile(p)
	os.WriteFile(bad, []byte(strings.Replace(string(b), "ProtectHome=yes", "ProtectHome=yes\nProtectHomes=yes", 1)), 0o644)
	if out, _ := exec.Command(sa, "verify", bad).CombinedOutput(); !strings.Contains(string(out), "ProtectHomes") {
		t.Fatalf("verify did not report an unknown key: %s", out)
	}
}
