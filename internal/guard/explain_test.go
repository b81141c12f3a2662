package guard

import (
	"strings"
	"testing"
)

// ExplainRequest and ExplainConn answer what AllowRequest and AdmitConn
// decide, rule by rule, and charge nothing; Admits counts no denial.
func TestExplainAgreesWithAllow(t *testing.T) {
	clk := newClock()
	denied := &count{}
	g := mustGuard(t, Options{Deny: pfx(t, "10.9.0.0/16"), Denied: denied, Now: clk.Now, Rules: []RuleOptions{
		{Name: "api", Key: KeyClientIP, Rate: 2, Burst: 2, MatchPathPrefix: "/api/", MatchMethods: []string{"POST"}},
		{Name: "keyed", Key: KeyHeader, Header: "X-Key", Rate: 1, Burst: 1},
		{Name: "all", Key: KeyFrontend, Rate: 5, Burst: 3},
	}})
	reqs := []struct{ head, hdr string }{
		{"POST /api/x", ""}, {"GET /api/x", "X-Key: a"}, {"POST /api/y", "X-Key: b"}, {"POST /other", ""},
	}
	for i := 0; i < 60; i++ {
		r := reqs[i%len(reqs)]
		var hs []string
		if r.hdr != "" {
			hs = append(hs, r.hdr)
		}
		req := wire(t, r.head, hs...)
		client := ip("10.0.0.1")
		checks, ok, ra := g.ExplainRequest(req, client)
		if _, ok2, ra2 := g.ExplainRequest(req, client); ok2 != ok || ra2 != ra {
			t.Fatalf("step %d: explaining charged something", i)
		}
		gotOK, gotRA := g.AllowRequest(req, client)
		if gotOK != ok || gotRA != ra {
			t.Fatalf("step %d (%s %s): explain %v %d (%+v), allow %v %d", i, r.head, r.hdr, ok, ra, checks, gotOK, gotRA)
		}
		clk.Add(100e6)
	}
	checks, _, _ := g.ExplainRequest(wire(t, "GET /x"), ip("10.0.0.1"))
	var reasons []string
	for _, c := range checks {
		reasons = append(reasons, c.Rule+": "+c.Reason)
	}
	if got := strings.Join(reasons, "; "); !strings.HasPrefix(got, "api: method GET is not in match.methods; keyed: key header X-Key is absent: not counted; all:") {
		t.Fatalf("reasons: %s", got)
	}
	if g.Admits(ip("10.9.1.1")) || !g.Admits(ip("10.0.0.1")) || denied.Load() != 0 {
		t.Fatalf("Admits: denial counted %d", denied.Load())
	}
	if r, _ := g.ExplainConn(ip("10.9.1.1")); r != RefuseDenied || denied.Load() != 0 {
		t.Fatalf("ExplainConn of a denied client: %v, counted %d", r, denied.Load())
	}
}
