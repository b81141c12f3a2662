package arch

import (
	"go/ast"
	"go/token"
	"strconv"
	"strings"
	"testing"
)

// TestToolsThroughTesttool: a test that runs an external program finds it
// with internal/testtool (Need or Find), which skips where it is absent and
// fails under SLUICE_REQUIRE_TOOLS=1 (CI). A test that looked it up itself
// (exec.LookPath, a fixed /usr/bin path) would skip in CI too and hide a
// failure.
func TestToolsThroughTesttool(t *testing.T) {
	eachTestFile(t, func(rel string, f *ast.File) {
		if strings.HasPrefix(rel, "internal/testtool/") || rel == "internal/arch/tools_test.go" {
			return
		}
		if calls(f, "exec", "LookPath") {
			t.Errorf("%s calls exec.LookPath: use testtool.Need(t, program) (or testtool.Find)", rel)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil &&
					(strings.HasPrefix(s, "/usr/bin/") || strings.HasPrefix(s, "/usr/sbin/") || strings.HasPrefix(s, "/usr/lib/postgresql")) {
					t.Errorf("%s names %q: find programs with testtool.Need(t, program)", rel, s)
				}
			}
			return true
		})
	})
}
