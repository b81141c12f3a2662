package admin

import (
	"os"
	"regexp"
	"testing"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"github.com/sluicelb/sluice/internal/admin/grpcapi"
)

// TestGRPCDocsListEveryRPC: docs/grpc.md has a row for every RPC of
// sluice.v1.Control (read from the compiled .proto) naming the REST route
// it mirrors and the role that route takes in THE role table, so the page
// cannot fall behind the .proto, the RPC → route mapping or the roles.
func TestGRPCDocsListEveryRPC(t *testing.T) {
	b, err := os.ReadFile("../../docs/grpc.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	e := newEnv(t, nil)
	svc := sluicev1.File_sluice_v1_control_proto.Services().ByName("Control")
	if svc == nil || svc.Methods().Len() == 0 {
		t.Fatal("no service sluice.v1.Control in the compiled .proto")
	}
	for i := 0; i < svc.Methods().Len(); i++ {
		name := string(svc.Methods().Get(i).Name())
		pattern, ok := grpcapi.Pattern(name)
		if !ok {
			t.Errorf("%s has no REST route in grpcapi's methods table", name)
			continue
		}
		role := ""
		for _, rt := range e.s.Routes() {
			if rt.pattern() == pattern {
				role = e.s.required(rt).String()
			}
		}
		if role == "" {
			t.Errorf("%s mirrors %s, which is not in the role table", name, pattern)
			continue
		}
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| `" + regexp.QuoteMeta(pattern) + "` \\| " + role + " \\|")
		if !row.MatchString(doc) {
			t.Errorf("docs/grpc.md has no row \"| `%s` | `%s` | %s |\"", name, pattern, role)
		}
	}
}
