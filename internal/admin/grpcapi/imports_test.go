package grpcapi

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDataPathHasNoGRPC: grpc stays out of the data path and the leaves
// (imports point down: cmd → internal/app → internal/admin/grpcapi → leaves).
func TestDataPathHasNoGRPC(t *testing.T) {
	pkgs := []string{"engine", "l4", "l7", "balance", "health", "ratelimit", "internal/metrics", "internal/accesslog",
		"internal/config", "internal/state", "internal/alert", "internal/guard"}
	for _, p := range pkgs {
		out, err := exec.Command("go", "list", "-deps", "github.com/sluicelb/sluice/"+p).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", p, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "google.golang.org/grpc") || strings.HasPrefix(dep, "google.golang.org/protobuf") ||
				strings.HasSuffix(dep, "/internal/admin/grpcapi") {
				t.Errorf("%s imports %s", p, dep)
			}
		}
	}
}
