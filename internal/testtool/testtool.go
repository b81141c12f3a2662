// Package testtool lets a test use an external program (systemd-analyze,
// strace, docker, …): where the program is missing the test is skipped
// with a message saying how to install it, unless SLUICE_REQUIRE_TOOLS=1
// (as CI sets after installing them), which turns the skip into a failure.
package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// Required reports whether SLUICE_REQUIRE_TOOLS=1: missing tools fail tests.
func Required() bool { return os.Getenv("SLUICE_REQUIRE_TOOLS") == "1" }

// Need returns the path of program name, or skips t (fails it under
// SLUICE_REQUIRE_TOOLS=1) saying that it is missing and how to install it
// (hint, e.g. "apt-get install -y systemd").
func Need(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	Missing(t, name+" not found in PATH ("+hint+")")
	return ""
}

// Missing skips t with why, or fails it under SLUICE_REQUIRE_TOOLS=1.
func Missing(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s; SLUICE_REQUIRE_TOOLS=1 makes this a failure", why)
	}
	t.Skip(why)
}
