//go:build !race

package guard

import (
	"testing"
)

func TestAllocsZero(t *testing.T) {
	req := wire(t, "GET /api/v1/items?x=1", "X-Tier: free", "X-Api-Key: secret-123", "User-Agent: test")
	purge := wire(t, "PURGE /api/x", "X-Tier: free")
	cl, v6 := ip("10.1.2.3"), ip("2001:db8::7")
	refuse := mustGuard(t, Options{Now: newClock().Now, Denied: &count{}, Deny: pfx(t, "10.1.0.0/16"),
		Rules: []RuleOptions{{Name: "r", Key: KeyClientIP, Rate: 1.0 / 3600, Burst: 1, Limited: &count{}}}})
	refuse.AllowRequest(req, cl)
	three := mustGuard(t, Options{Rules: threeRules(t), Allow: pfx(t, "10.0.0.0/8"), Denied: &count{}})
	var nilG *Guard
	empty := mustGuard(t, Options{})
	for name, fn := range map[string]func(){
		"nil AllowRequest":       func() { nilG.AllowRequest(req, cl) },
		"empty AllowRequest":     func() { empty.AllowRequest(req, cl) },
		"three AllowRequest":     func() { three.AllowRequest(req, cl) },
		"three AllowRequest v6":  func() { three.AllowRequest(req, v6) },
		"three extension method": func() { three.AllowRequest(purge, cl) },
		"refused AllowRequest":   func() { refuse.AllowRequest(req, cl) },
		"three AdmitConn":        func() { three.AdmitConn(cl) },
		"denied AdmitConn":       func() { refuse.AdmitConn(cl) },
		"denied AllowClient":     func() { refuse.AllowClient(cl) },
		"empty AdmitConn":        func() { empty.AdmitConn(cl) },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, n)
		}
	}
}
