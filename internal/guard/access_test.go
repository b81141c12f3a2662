package guard

import (
	"testing"
)

func TestAccessAllowDenyV4V6(t *testing.T) {
	denied := &count{}
	g := mustGuard(t, Options{
		Allow:  pfx(t, "10.0.0.0/8", "2001:db8::/32"),
		Deny:   pfx(t, "10.1.2.0/24", "2001:db8:bad::/48"),
		Denied: denied,
	})
	cases := []struct {
		addr string
		ok   bool
	}{
		{"10.0.0.1", true},
		{"10.1.2.3", false},        // denied inside the allowed /8: deny first
		{"10.1.3.1", true},         // next /24 is fine
		{"192.0.2.1", false},       // not in allow
		{"::ffff:10.0.0.1", true},  // mapped v4 is matched as v4
		{"::ffff:10.1.2.5", false}, // and denied as v4
		{"2001:db8::1", true},
		{"2001:db8:bad::1", false},
		{"2001:db8:bae::1", true},
		{"2001:db9::1", false},
		{"fe80::1%eth0", false},
	}
	wantDenied := int64(0)
	for _, c := range cases {
		if got := g.AllowClient(ip(c.addr)); got != c.ok {
			t.Errorf("AllowClient(%s) = %v, want %v", c.addr, got, c.ok)
		}
		want := Admitted
		if !c.ok {
			want = RefuseDenied
			wantDenied += 2
		}
		if got := g.AdmitConn(ip(c.addr)); got != want {
			t.Errorf("AdmitConn(%s) = %v, want %v", c.addr, got, want)
		}
	}
	if got := denied.Load(); got != wantDenied {
		t.Errorf("denied counter = %d, want %d", got, wantDenied)
	}
}

func TestAccessDenyOnly(t *testing.T) {
	denied := &count{}
	g := mustGuard(t, Options{Deny: pfx(t, "192.0.2.0/24", "2001:db8::/64"), Denied: denied})
	for addr, ok := range map[string]bool{
		"192.0.2.200":      false,
		"192.0.3.1":        true,
		"2001:db8::7":      false,
		"2001:db8:0:1::7":  true,
		"::ffff:192.0.2.9": false,
		"127.0.0.1":        true,
	} {
		if got := g.AllowClient(ip(addr)); got != ok {
			t.Errorf("AllowClient(%s) = %v, want %v", addr, got, ok)
		}
	}
	if got := denied.Load(); got != 3 {
		t.Errorf("denied counter = %d, want 3", got)
	}
}

func TestNilAndEmptyGuardAdmitAll(t *testing.T) {
	req := wire(t, "GET /x")
	empty := mustGuard(t, Options{})
	for name, g := range map[string]*Guard{"nil": nil, "empty": empty} {
		for _, a := range []string{"10.0.0.1", "2001:db8::1"} {
			if !g.AllowClient(ip(a)) {
				t.Errorf("%s: AllowClient(%s) refused", name, a)
			}
			if r := g.AdmitConn(ip(a)); r != Admitted {
				t.Errorf("%s: AdmitConn(%s) = %v", name, a, r)
			}
			if ok, ra := g.AllowRequest(req, ip(a)); !ok || ra != 0 {
				t.Errorf("%s: AllowRequest = %v,%d", name, ok, ra)
			}
		}
	}
	// Nil counters are fine on refusal.
	g := mustGuard(t, Options{Deny: pfx(t, "0.0.0.0/0"),
		Rules: []RuleOptions{{Name: "r", Key: KeyFrontend, Rate: 1, Burst: 1}}})
	if g.AllowClient(ip("10.0.0.1")) || g.AdmitConn(ip("10.0.0.1")) != RefuseDenied {
		t.Fatal("deny 0.0.0.0/0 admitted 10.0.0.1")
	}
	g.AllowRequest(req, ip("10.0.0.1"))
	if ok, _ := g.AllowRequest(req, ip("10.0.0.1")); ok {
		t.Fatal("second request within burst 1 admitted")
	}
}
