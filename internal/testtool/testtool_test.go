package testtool

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestChild is run by TestMissingProgram in a child process; alone it does
// nothing.
func TestChild(t *testing.T) {
	if os.Getenv("TESTTOOL_CHILD") != "1" {
		return
	}
	Packages["sluice-no-such-program"] = "no-such-package"
	Need(t, "sluice-no-such-program")
	t.Log("CHILD RAN ON")
}

// TestMissingProgram: a missing program skips the test, or fails it under
// SLUICE_REQUIRE_TOOLS=1; the message names the Debian package.
func TestMissingProgram(t *testing.T) {
	for _, c := range []struct {
		require string
		want    string
	}{{"", "--- SKIP: TestChild"}, {"0", "--- SKIP: TestChild"}, {"1", "--- FAIL: TestChild"}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChild$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "TESTTOOL_CHILD=1", RequireEnv+"="+c.require)
		out, _ := cmd.CombinedOutput()
		s := string(out)
		if !strings.Contains(s, c.want) || !strings.Contains(s, "apt-get install -y no-such-package") ||
			strings.Contains(s, "CHILD RAN ON") {
			t.Errorf("%s=%q: want %q naming the package, and the test stopped:\n%s", RequireEnv, c.require, c.want, s)
		}
	}
}

// TestPackagesInstalledByTestDeps: make test-deps installs the package of
// every program in Packages.
func TestPackagesInstalledByTestDeps(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TEST_DEPS\s*:=((?:.*\\\n)*.*)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no TEST_DEPS := ... in the Makefile")
	}
	deps := strings.Fields(strings.ReplaceAll(string(m[1]), "\\\n", " "))
	for prog, pkg := range Packages {
		found := false
		for _, d := range deps {
			found = found || d == pkg
		}
		if !found {
			t.Errorf("%s comes from Debian package %s, which the Makefile's TEST_DEPS does not install", prog, pkg)
		}
	}
}

// TestFindsInstalledProgram: a program on PATH is found (sh is on every
// machine the tests run on; it is registered for this test only).
func TestFindsInstalledProgram(t *testing.T) {
	Packages["sh"] = "dash"
	defer delete(Packages, "sh")
	if p := Need(t, "sh"); !strings.HasSuffix(p, "/sh") {
		t.Fatalf("Need(sh) = %q", p)
	}
}
