package admin

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the admin side pointing at the leaves: admin reads the
// process only through internal/state (app imports admin, never the other
// way), and auth, audit and state stay leaves that any server (the later
// gRPC service) can use.
func TestImports(t *testing.T) {
	const m = "github.com/sluicelb/sluice/"
	forbidden := map[string][]string{
		m + "internal/admin": {m + "internal/app", m + "internal/config", m + "l4", m + "l7", m + "engine", m + "balance", m + "health"},
		m + "internal/auth":  {m + "internal/", m + "l4", m + "l7", "net/http"},
		m + "internal/audit": {m + "internal/app", m + "internal/admin", m + "internal/auth", m + "internal/config", "net/http"},
		m + "internal/state": {m + "internal/", m + "l4", m + "l7", "net/http"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep != pkg && (dep == b || strings.HasSuffix(b, "/") && strings.HasPrefix(dep, b)) {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
		}
	}
}
