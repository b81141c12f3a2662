// Package benchtest holds test helpers shared by the bench packages.
package benchtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
	buildOut  []byte
)

// Sluice returns a sluice binary built from this checkout once per test process (into a
// temporary directory removed by Cleanup), or $SLUICE_BIN when set. A stale bin/sluice is
// never used: the tests check the API of the code under test.
func Sluice(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SLUICE_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "sluice-bench-test-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "sluice")
		buildOut, buildErr = exec.Command("go", "build", "-o", buildPath, "github.com/sluicelb/sluice/cmd/sluice").CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("build sluice: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}

// Cleanup removes the binary Sluice built; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}
