package guard

import (
	"bufio"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"
)

// count is a Counter for tests.
type count struct{ n atomic.Int64 }

func (c *count) Inc()        { c.n.Add(1) }
func (c *count) Load() int64 { return c.n.Load() }

// clock is an injectable time source (ns); safe for concurrent reads.
type clock struct{ t atomic.Int64 }

func newClock() *clock             { c := &clock{}; c.t.Store(1e9); return c }
func (c *clock) Now() int64        { return c.t.Load() }
func (c *clock) Add(d int64) int64 { return c.t.Add(d) }

// wire parses a raw HTTP/1.1 request head, as the server would.
// head is "METHOD URI" followed by optional header lines.
func wire(t testing.TB, head string, headers ...string) *fasthttp.Request {
	t.Helper()
	raw := head + " HTTP/1.1\r\nHost: example.test\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	raw += "\r\n"
	req := &fasthttp.Request{}
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	return req
}

func mustGuard(t testing.TB, o Options) *Guard {
	t.Helper()
	g, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func pfx(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// threeRules is the benchmark and allocation workload: a per-ip rule with
// every condition, a header-keyed rule and a frontend-wide rule, all high
// enough never to refuse.
func threeRules(t testing.TB) []RuleOptions {
	return []RuleOptions{
		{Name: "api-per-ip", Key: KeyClientIP, Rate: 1e8, Burst: 1e6, Limited: &count{},
			MatchClientIP: pfx(t, "10.0.0.0/8", "2001:db8::/32"), MatchPathPrefix: "/api/",
			MatchMethods: []string{"GET", "POST", "PURGE"}, MatchHeader: "X-Tier", MatchHeaderValue: "free"},
		{Name: "per-key", Key: KeyHeader, Header: "X-Api-Key", Rate: 1e8, Burst: 1e6, Limited: &count{}},
		{Name: "frontend", Key: KeyFrontend, Rate: 1e8, Burst: 1e6, Limited: &count{}},
	}
}
