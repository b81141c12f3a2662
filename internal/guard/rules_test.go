package guard

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// hourly is a rule admitting one event per hour with burst 1: the first
// matching event passes, the second is refused with Retry-After 3600.
func hourly(name string) RuleOptions {
	return RuleOptions{Name: name, Key: KeyFrontend, Rate: 1.0 / 3600, Burst: 1}
}

type reqCase struct {
	name   string
	client string
	head   string
	hdrs   []string
}

func (c reqCase) build(t *testing.T) (*fasthttp.Request, netip.Addr) {
	cl := c.client
	if cl == "" {
		cl = "10.0.0.1"
	}
	return wire(t, c.head, c.hdrs...), ip(cl)
}

func TestMatchConditions(t *testing.T) {
	all := hourly("all")
	all.MatchClientIP = pfx(t, "10.0.0.0/8")
	all.MatchPathPrefix = "/api/"
	all.MatchMethods = []string{"post"}
	all.MatchHeader, all.MatchHeaderValue = "X-Tier", "free"
	allOK := []string{"X-Tier: free"}

	tests := []struct {
		name    string
		rule    func() RuleOptions
		match   []reqCase
		noMatch []reqCase
	}{
		{"client_ip v4", func() RuleOptions { r := hourly("r"); r.MatchClientIP = pfx(t, "10.0.0.0/8"); return r },
			[]reqCase{{client: "10.9.9.9", head: "GET /"}, {client: "::ffff:10.1.1.1", head: "GET /"}},
			[]reqCase{{client: "192.0.2.1", head: "GET /"}, {client: "2001:db8::1", head: "GET /"}}},
		{"client_ip v6", func() RuleOptions { r := hourly("r"); r.MatchClientIP = pfx(t, "2001:db8::/32"); return r },
			[]reqCase{{client: "2001:db8::5", head: "GET /"}},
			[]reqCase{{client: "10.0.0.1", head: "GET /"}, {client: "2001:db9::5", head: "GET /"}}},
		{"path_prefix", func() RuleOptions { r := hourly("r"); r.MatchPathPrefix = "/api/"; return r },
			[]reqCase{{head: "GET /api/"}, {head: "GET /api/v1/x?q=1"}, {head: "GET /%61pi/x"}, {head: "GET http://h.test/api/y"}},
			[]reqCase{{head: "GET /ap"}, {head: "GET /api"}, {head: "GET /API/x"}, {head: "GET /api/../admin"}, {head: "GET /x/api/"}}},
		{"methods", func() RuleOptions { r := hourly("r"); r.MatchMethods = []string{"post", "Delete", "PURGE"}; return r },
			[]reqCase{{head: "POST /"}, {head: "DELETE /"}, {head: "PURGE /"}},
			[]reqCase{{head: "GET /"}, {head: "HEAD /"}, {head: "PUT /"}, {head: "purge /"}, {head: "post /"}, {head: "PURGEX /"}}},
		{"header value", func() RuleOptions { r := hourly("r"); r.MatchHeader, r.MatchHeaderValue = "X-Tier", "free"; return r },
			[]reqCase{{head: "GET /", hdrs: []string{"X-Tier: free"}}, {head: "GET /", hdrs: []string{"x-tier: free"}},
				{head: "GET /", hdrs: []string{"X-Tier: free", "X-Tier: paid"}}},
			[]reqCase{{head: "GET /"}, {head: "GET /", hdrs: []string{"X-Tier: paid"}}, {head: "GET /", hdrs: []string{"X-Tier: Free"}},
				{head: "GET /", hdrs: []string{"X-Tier:"}}, {head: "GET /", hdrs: []string{"X-Tiers: free"}}}},
		{"header present", func() RuleOptions { r := hourly("r"); r.MatchHeader = "x-debug"; return r },
			[]reqCase{{head: "GET /", hdrs: []string{"X-Debug: 1"}}, {head: "GET /", hdrs: []string{"X-DEBUG: anything at all"}}},
			[]reqCase{{head: "GET /"}, {head: "GET /", hdrs: []string{"X-Debug:"}}, {head: "GET /", hdrs: []string{"X-Debugger: 1"}}}},
		{"all conditions", func() RuleOptions { return all },
			[]reqCase{{client: "10.2.3.4", head: "POST /api/x", hdrs: allOK}},
			[]reqCase{
				{client: "192.0.2.1", head: "POST /api/x", hdrs: allOK},
				{client: "10.2.3.4", head: "POST /web/x", hdrs: allOK},
				{client: "10.2.3.4", head: "GET /api/x", hdrs: allOK},
				{client: "10.2.3.4", head: "POST /api/x", hdrs: []string{"X-Tier: paid"}},
				{client: "10.2.3.4", head: "POST /api/x"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.match {
				lim := &count{}
				r := tc.rule()
				r.Limited = lim
				g := mustGuard(t, Options{Rules: []RuleOptions{r}, Now: newClock().Now})
				req, cl := c.build(t)
				if ok, ra := g.AllowRequest(req, cl); !ok || ra != 0 {
					t.Fatalf("%s %v: first request = %v,%d, want admitted", c.head, c.hdrs, ok, ra)
				}
				if ok, ra := g.AllowRequest(req, cl); ok || ra != 3600 {
					t.Errorf("%s %v from %s: second request = %v,%d, want refused,3600 (should match)", c.head, c.hdrs, cl, ok, ra)
				}
				if lim.Load() != 1 {
					t.Errorf("%s: limited = %d, want 1", c.head, lim.Load())
				}
			}
			for _, c := range tc.noMatch {
				lim := &count{}
				r := tc.rule()
				r.Limited = lim
				g := mustGuard(t, Options{Rules: []RuleOptions{r}, Now: newClock().Now})
				req, cl := c.build(t)
				for i := 0; i < 5; i++ {
					if ok, ra := g.AllowRequest(req, cl); !ok {
						t.Fatalf("%s %v from %s: request %d refused (ra %d), should not match", c.head, c.hdrs, cl, i, ra)
					}
				}
				if lim.Load() != 0 {
					t.Errorf("limited = %d, want 0", lim.Load())
				}
			}
		})
	}
}

func TestKeyClientIP(t *testing.T) {
	lim := &count{}
	g := mustGuard(t, Options{Now: newClock().Now, Rules: []RuleOptions{
		{Name: "per-ip", Key: KeyClientIP, Rate: 1.0 / 3600, Burst: 2, Limited: lim}}})
	req := wire(t, "GET /")
	seq := []struct {
		client string
		ok     bool
	}{
		{"10.0.0.1", true}, {"10.0.0.1", true}, {"10.0.0.1", false},
		{"::ffff:10.0.0.1", false}, // same key as 10.0.0.1
		{"10.0.0.2", true}, {"10.0.0.2", true}, {"10.0.0.2", false},
		{"2001:db8::1", true}, {"2001:db8::1", true}, {"2001:db8::1", false},
		{"2001:db8::2", true},
	}
	for i, s := range seq {
		if ok, _ := g.AllowRequest(req, ip(s.client)); ok != s.ok {
			t.Errorf("step %d %s: ok=%v, want %v", i, s.client, ok, s.ok)
		}
	}
	if lim.Load() != 4 {
		t.Errorf("limited = %d, want 4", lim.Load())
	}
}

func TestKeyFrontendSharedByAllClients(t *testing.T) {
	g := mustGuard(t, Options{Now: newClock().Now, Rules: []RuleOptions{
		{Name: "fe", Key: KeyFrontend, Rate: 1.0 / 3600, Burst: 2}}})
	req := wire(t, "GET /")
	for i, c := range []string{"10.0.0.1", "2001:db8::1", "192.0.2.7"} {
		ok, _ := g.AllowRequest(req, ip(c))
		if ok != (i < 2) {
			t.Errorf("client %s: ok=%v", c, ok)
		}
	}
}

func TestKeyHeader(t *testing.T) {
	lim := &count{}
	g := mustGuard(t, Options{Now: newClock().Now, Rules: []RuleOptions{
		{Name: "per-key", Key: KeyHeader, Header: "X-Api-Key", Rate: 1.0 / 3600, Burst: 2, Limited: lim}}})
	k1 := wire(t, "GET /", "X-Api-Key: k1")
	k1lower := wire(t, "GET /", "x-api-key: k1")
	k2 := wire(t, "GET /", "X-Api-Key: k2")
	k1case := wire(t, "GET /", "X-Api-Key: K1")
	for i, s := range []struct {
		req *fasthttp.Request
		ok  bool
	}{{k1, true}, {k1lower, true}, {k1, false}, {k2, true}, {k1case, true}, {k2, true}, {k2, false}} {
		if ok, _ := g.AllowRequest(s.req, ip("10.0.0.1")); ok != s.ok {
			t.Errorf("step %d: ok=%v, want %v", i, ok, s.ok)
		}
	}
	// Absent or empty key header: the rule does not count the request.
	absent := wire(t, "GET /", "X-Other: k1")
	empty := wire(t, "GET /", "X-Api-Key:")
	for i := 0; i < 100; i++ {
		if ok, _ := g.AllowRequest(absent, ip("10.0.0.1")); !ok {
			t.Fatalf("absent key refused at %d", i)
		}
		if ok, _ := g.AllowRequest(empty, ip("10.0.0.1")); !ok {
			t.Fatalf("empty key refused at %d", i)
		}
	}
	if lim.Load() != 2 {
		t.Errorf("limited = %d, want 2", lim.Load())
	}
}

// TestRuleOrder pins the evaluation order: applying rules are charged in
// order and the first one over its limit refuses; later rules are neither
// consulted nor charged, earlier ones keep the charge.
func TestRuleOrder(t *testing.T) {
	t.Run("narrow first", func(t *testing.T) {
		api, all := &count{}, &count{}
		g := mustGuard(t, Options{Now: newClock().Now, Rules: []RuleOptions{
			{Name: "api", Rate: 1.0 / 3600, Burst: 2, MatchPathPrefix: "/api/", Limited: api},
			{Name: "all", Rate: 1.0 / 3600, Burst: 3, Limited: all},
		}})
		a, o := wire(t, "GET /api/x"), wire(t, "GET /other")
		cl := ip("10.0.0.1")
		steps := []struct {
			req       *fasthttp.Request
			ok        bool
			api, all_ int64
		}{
			{a, true, 0, 0},  // api 1/2, all 1/3
			{a, true, 0, 0},  // api 2/2, all 2/3
			{a, false, 1, 0}, // refused by api; all not charged
			{o, true, 1, 0},  // all 3/3
			{o, false, 1, 1}, // refused by all
			{a, false, 2, 1}, // api refuses first, all not consulted
		}
		for i, s := range steps {
			if ok, _ := g.AllowRequest(s.req, cl); ok != s.ok {
				t.Errorf("step %d: ok=%v, want %v", i, ok, s.ok)
			}
			if api.Load() != s.api || all.Load() != s.all_ {
				t.Errorf("step %d: limited api=%d all=%d, want %d %d", i, api.Load(), all.Load(), s.api, s.all_)
			}
		}
	})
	t.Run("broad first is charged by refused requests", func(t *testing.T) {
		api, all := &count{}, &count{}
		g := mustGuard(t, Options{Now: newClock().Now, Rules: []RuleOptions{
			{Name: "all", Rate: 1.0 / 3600, Burst: 3, Limited: all},
			{Name: "api", Rate: 1.0 / 3600, Burst: 1, MatchPathPrefix: "/api/", Limited: api},
		}})
		a, o := wire(t, "GET /api/x"), wire(t, "GET /other")
		cl := ip("10.0.0.1")
		for i, s := range []struct {
			req *fasthttp.Request
			ok  bool
		}{
			{a, true},  // all 1, api 1
			{a, false}, // all 2 (charged), api refuses
			{o, true},  // all 3
			{o, false}, // all refuses
		} {
			if ok, _ := g.AllowRequest(s.req, cl); ok != s.ok {
				t.Errorf("step %d: ok=%v, want %v", i, ok, s.ok)
			}
		}
		if api.Load() != 1 || all.Load() != 1 {
			t.Errorf("limited api=%d all=%d, want 1 1", api.Load(), all.Load())
		}
	})
}

func TestRetryAfter(t *testing.T) {
	clk := newClock()
	g := mustGuard(t, Options{Now: clk.Now, Rules: []RuleOptions{
		{Name: "m", Key: KeyFrontend, Rate: 1.0 / 60, Burst: 1}}})
	req, cl := wire(t, "GET /"), ip("10.0.0.1")
	step := func(adv int64, wantOK bool, wantRA int) {
		t.Helper()
		clk.Add(adv)
		ok, ra := g.AllowRequest(req, cl)
		if ok != wantOK || ra != wantRA {
			t.Errorf("after +%dms: %v,%d, want %v,%d", adv/1e6, ok, ra, wantOK, wantRA)
		}
	}
	step(0, true, 0)
	step(0, false, 60)
	step(30e9, false, 30)
	step(29.5e9, false, 1) // 0.5 s rounds up to 1
	step(0.5e9, true, 0)

	fast := mustGuard(t, Options{Now: clk.Now, Rules: []RuleOptions{{Name: "s", Rate: 10, Burst: 1}}})
	fast.AllowRequest(req, cl)
	if ok, ra := fast.AllowRequest(req, cl); ok || ra != 1 {
		t.Errorf("10/s over limit: %v,%d, want false,1", ok, ra)
	}
}

func TestAdmitConnRules(t *testing.T) {
	hdr, path, perIP, fe, denied := &count{}, &count{}, &count{}, &count{}, &count{}
	g := mustGuard(t, Options{Now: newClock().Now, Deny: pfx(t, "10.9.0.0/16"), Denied: denied, Rules: []RuleOptions{
		{Name: "hdr", Key: KeyHeader, Header: "X-Key", Rate: 1.0 / 3600, Burst: 1, Limited: hdr},
		{Name: "path", Rate: 1.0 / 3600, Burst: 1, MatchPathPrefix: "/", Limited: path},
		{Name: "per-ip", Key: KeyClientIP, Rate: 1.0 / 3600, Burst: 1, MatchClientIP: pfx(t, "10.0.0.0/8"), Limited: perIP},
		{Name: "fe", Key: KeyFrontend, Rate: 1.0 / 3600, Burst: 3, Limited: fe},
	}})
	for i, s := range []struct {
		client string
		want   Refusal
	}{
		{"10.0.0.1", Admitted},        // per-ip 1/1, fe 1/3
		{"10.0.0.1", RefuseRateLimit}, // per-ip refuses, fe not charged
		{"10.9.0.1", RefuseDenied},    // access first: nothing charged
		{"192.0.2.1", Admitted},       // per-ip does not match; fe 2/3
		{"10.0.0.2", Admitted},        // per-ip 1/1 for .2; fe 3/3
		{"192.0.2.2", RefuseRateLimit},
	} {
		if got := g.AdmitConn(ip(s.client)); got != s.want {
			t.Errorf("step %d %s: %v, want %v", i, s.client, got, s.want)
		}
	}
	if hdr.Load() != 0 || path.Load() != 0 || perIP.Load() != 1 || fe.Load() != 1 || denied.Load() != 1 {
		t.Errorf("counters hdr=%d path=%d per-ip=%d fe=%d denied=%d, want 0 0 1 1 1",
			hdr.Load(), path.Load(), perIP.Load(), fe.Load(), denied.Load())
	}
	if Admitted != 0 || RefuseDenied.String() != "denied" || RefuseRateLimit.String() != "rate_limited" {
		t.Error("Refusal values or names changed")
	}
}

func TestNewErrorsNameTheRule(t *testing.T) {
	bad := netip.Prefix{}
	cases := []struct {
		o    Options
		want string
	}{
		{Options{Allow: []netip.Prefix{bad}}, "access"},
		{Options{Rules: []RuleOptions{{Name: "ok", Rate: 1}, {Name: "zero", Rate: 0}}}, `rate_limits[1] "zero"`},
		{Options{Rules: []RuleOptions{{Name: "nohdr", Rate: 1, Key: KeyHeader}}}, `rate_limits[0] "nohdr": key header:NAME`},
		{Options{Rules: []RuleOptions{{Name: "badhdr", Rate: 1, Key: KeyHeader, Header: "X Y"}}}, `"badhdr"`},
		{Options{Rules: []RuleOptions{{Name: "k", Rate: 1, Key: Key(9)}}}, `"k": unknown key Key(9)`},
		{Options{Rules: []RuleOptions{{Name: "p", Rate: 1, MatchPathPrefix: "api/"}}}, `"p": match.path_prefix must start with '/'`},
		{Options{Rules: []RuleOptions{{Name: "m", Rate: 1, MatchMethods: []string{"GET", "BAD METHOD"}}}}, `"m": match.methods[1]`},
		{Options{Rules: []RuleOptions{{Name: "h", Rate: 1, MatchHeader: "a:b"}}}, `"h": match.header.name`},
		{Options{Rules: []RuleOptions{{Name: "v", Rate: 1, MatchHeaderValue: "x"}}}, `"v": match.header.value is set without`},
		{Options{Rules: []RuleOptions{{Name: "ip", Rate: 1, MatchClientIP: []netip.Prefix{bad}}}}, `"ip": match.client_ip`},
		{Options{Rules: []RuleOptions{{Name: "mk", Rate: 1, MaxKeys: -1}}}, `"mk"`},
	}
	for _, c := range cases {
		g, err := New(c.o)
		if err == nil || g != nil {
			t.Errorf("want error containing %q, got %v", c.want, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), `"zero"`) > 1 {
			t.Errorf("error %q does not contain %q (once)", err, c.want)
		}
	}
}

// TestEachKnownMethodMatchesOnlyItself covers the method bit set: a rule
// listing one standard method applies to that method alone.
func TestEachKnownMethodMatchesOnlyItself(t *testing.T) {
	known := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE"}
	for _, listed := range known {
		r := &rule{}
		if err := r.compileMethods([]string{strings.ToLower(listed)}); err != nil {
			t.Fatal(err)
		}
		for _, m := range append(known, "PURGE", "get") {
			if got := r.matchMethod([]byte(m)); got != (m == listed) {
				t.Errorf("methods [%s]: %s matched=%v", listed, m, got)
			}
		}
	}
}
