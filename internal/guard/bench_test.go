package guard

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// The benchmarks use the production clock and limits high enough never to
// refuse, so they measure matching plus one GCRA update per applying rule.

func benchRequest(b *testing.B, g *Guard) {
	req := wire(b, "GET /api/v1/items?x=1", "X-Tier: free", "X-Api-Key: secret-123", "User-Agent: bench")
	cl := ip("10.1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := g.AllowRequest(req, cl); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkAllowRequest(b *testing.B) {
	b.Run("nil", func(b *testing.B) { benchRequest(b, nil) })
	b.Run("no-rules", func(b *testing.B) { benchRequest(b, mustGuard(b, Options{Allow: pfx(b, "10.0.0.0/8")})) })
	b.Run("one-rule-client_ip", func(b *testing.B) {
		benchRequest(b, mustGuard(b, Options{Rules: []RuleOptions{{Name: "r", Rate: 1e8, Burst: 1e6}}}))
	})
	b.Run("one-rule-frontend", func(b *testing.B) {
		benchRequest(b, mustGuard(b, Options{Rules: []RuleOptions{{Name: "r", Key: KeyFrontend, Rate: 1e8, Burst: 1e6}}}))
	})
	b.Run("three-rules", func(b *testing.B) { benchRequest(b, mustGuard(b, Options{Rules: threeRules(b)})) })
}

func BenchmarkAllowRequestParallel(b *testing.B) {
	g := mustGuard(b, Options{Rules: threeRules(b)})
	// One parsed request per goroutine, built before the timer runs.
	reqs := make([]*fasthttp.Request, runtime.GOMAXPROCS(0))
	for i := range reqs {
		reqs[i] = wire(b, "GET /api/v1/items?x=1", "X-Tier: free", "X-Api-Key: secret-123")
	}
	var next atomic.Int32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := reqs[int(next.Add(1)-1)%len(reqs)]
		cl := ip("10.1.2.3")
		for pb.Next() {
			g.AllowRequest(req, cl)
		}
	})
}

func BenchmarkAdmitConn(b *testing.B) {
	cl := ip("10.1.2.3")
	run := func(b *testing.B, g *Guard) {
		b.ReportAllocs()
		for b.Loop() {
			if g.AdmitConn(cl) != Admitted {
				b.Fatal("refused")
			}
		}
	}
	b.Run("nil", func(b *testing.B) { run(b, nil) })
	b.Run("no-rules", func(b *testing.B) { run(b, mustGuard(b, Options{})) })
	b.Run("access-list", func(b *testing.B) {
		run(b, mustGuard(b, Options{Allow: pfx(b, "10.0.0.0/8"), Deny: pfx(b, "10.9.0.0/16")}))
	})
	b.Run("one-rule", func(b *testing.B) {
		run(b, mustGuard(b, Options{Rules: []RuleOptions{{Name: "r", Rate: 1e8, Burst: 1e6}}}))
	})
	b.Run("three-rules", func(b *testing.B) {
		run(b, mustGuard(b, Options{Allow: pfx(b, "10.0.0.0/8"), Rules: []RuleOptions{
			{Name: "a", Rate: 1e8, Burst: 1e6, MatchClientIP: pfx(b, "10.0.0.0/8")},
			{Name: "b", Rate: 1e8, Burst: 1e6},
			{Name: "c", Key: KeyFrontend, Rate: 1e8, Burst: 1e6}}}))
	})
}
