// Package testtool finds the programs that some tests run beside Sluice
// (haproxy, promtool, prometheus, wrk, redis-server, postgres, openssl, …).
//
// Where a program is missing, Need skips the test with a message naming the
// Debian package that provides it: right for a newcomer whose machine has
// only Go, so that make test still passes there. In CI a skip would hide a
// failure, so with SLUICE_REQUIRE_TOOLS=1 in the environment (.ci/run sets
// it, after make test-deps has installed every package of Packages) a
// missing program fails the test instead.
//
// Every test that needs an external program asks this package; the arch
// test (internal/arch) fails on an exec.LookPath in a test file.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// RequireEnv is the environment variable that turns a missing program into
// a test failure.
const RequireEnv = "SLUICE_REQUIRE_TOOLS"

// Packages maps each program a test may need to the Debian package that
// provides it. make test-deps installs every package listed here (a test in
// this package checks the Makefile's list); a program not listed here is a
// test failure, so a new tool must be added here and there.
var Packages = map[string]string{
	"haproxy":         "haproxy",
	"nginx":           "nginx",
	"caddy":           "caddy",
	"wrk":             "wrk",
	"promtool":        "prometheus",
	"prometheus":      "prometheus",
	"redis-server":    "redis-server",
	"redis-cli":       "redis-tools",
	"redis-benchmark": "redis-tools",
	"postgres":        "postgresql",
	"initdb":          "postgresql",
	"pg_ctl":          "postgresql",
	"psql":            "postgresql-client",
	"pgbench":         "postgresql-contrib",
	"openssl":         "openssl",
	"curl":            "curl",
	"taskset":         "util-linux",
	"systemd-analyze": "systemd",
	"strace":          "strace",
	"runc":            "runc",
	"umoci":           "umoci",
	"node":            "nodejs",
	"npm":             "nodejs", // with Node.js (NodeSource's nodejs ships npm; Debian's npm package conflicts with it)
	"chromium":        "chromium",
	"make":            "make",
	"nice":            "coreutils",
	"protoc":          "protobuf-compiler",
}

// extraDirs are searched after PATH: Debian installs the PostgreSQL server
// programs under a versioned directory that is not on PATH.
var extraDirs = []string{"/usr/lib/postgresql/*/bin", "/usr/sbin", "/sbin"}

// Required reports whether SLUICE_REQUIRE_TOOLS asks for every program.
func Required() bool {
	v := os.Getenv(RequireEnv)
	return v != "" && v != "0" && v != "false"
}

// Lookup returns the path of program, searching PATH, then the directories
// where Debian installs programs off PATH (PostgreSQL's, the highest version
// first). It neither skips nor fails: it is for a test with a policy of its
// own (Docker, whose daemon cannot run on CI machines); every other test
// uses Need or Find.
func Lookup(program string) (string, bool) { return lookup(program) }

func lookup(program string) (string, bool) {
	if p, err := exec.LookPath(program); err == nil {
		return p, true
	}
	for _, pattern := range extraDirs {
		dirs, _ := filepath.Glob(pattern)
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			p := filepath.Join(d, program)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// Find returns the path of program, or false when it is not installed; with
// SLUICE_REQUIRE_TOOLS=1 a missing program fails the test instead. For a
// test that can do without the program (and says so in its output).
func Find(t testing.TB, program string) (string, bool) {
	t.Helper()
	pkg, known := Packages[program]
	if !known {
		t.Fatalf("testtool: %q is not in testtool.Packages: add it with its Debian package (and to the Makefile's TEST_DEPS)", program)
	}
	if p, ok := lookup(program); ok {
		return p, true
	}
	if Required() {
		t.Fatalf("%s is not installed and %s=1: apt-get install -y %s (make test-deps installs every tool the tests use)",
			program, RequireEnv, pkg)
	}
	return "", false
}

// Missing skips t with why (something other than a program is missing:
// root, a daemon), or fails it under SLUICE_REQUIRE_TOOLS=1.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s; %s=1 makes this a failure", why, RequireEnv)
	}
	t.Skip(why)
}

// Need returns the path of program, or skips the test when it is not
// installed (fails it with SLUICE_REQUIRE_TOOLS=1).
func Need(t testing.TB, program string) string {
	t.Helper()
	p, ok := Find(t, program)
	if !ok {
		t.Skipf("%s is not installed (apt-get install -y %s, or make test-deps as root); %s=1 makes this a failure",
			program, Packages[program], RequireEnv)
	}
	return p
}
