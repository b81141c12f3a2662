package admin

import (
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryEndpoint: docs/api.md names every route of the role
// table with its method, and has a curl example for each API path.
func TestDocsListEveryEndpoint(t *testing.T) {
	b, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	e := newEnv(t, func(o *Options) { o.Pprof = true })
	for _, rt := range e.s.Routes() {
		if strings.HasPrefix(rt.path, "/debug/pprof/") {
			if !strings.Contains(doc, "/debug/pprof/") {
				t.Errorf("docs/api.md does not mention pprof")
			}
			continue
		}
		if !strings.Contains(doc, rt.method+" "+rt.path) {
			t.Errorf("docs/api.md does not list %s", rt.pattern())
		}
		example := rt.path
		if i := strings.Index(example, "{"); i > 0 {
			example = example[:i]
		}
		if strings.HasPrefix(rt.path, "/api/") && !strings.Contains(doc, "$A"+example) && !strings.Contains(doc, "ws://127.0.0.1:9900"+example) {
			t.Errorf("docs/api.md has no curl example for %s", rt.pattern())
		}
	}
}
