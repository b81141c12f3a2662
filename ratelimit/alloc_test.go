//go:build !race

package ratelimit

import (
	"net/netip"
	"testing"
)

func TestAllocsPerAllow(t *testing.T) {
	l := mustLimiter(t, 100, 10)
	tb := mustTable(t, 100, 10, 1024)
	r, _ := NewRule(RuleOptions{Name: "r", Rate: 100, Burst: 10, Keyed: true})
	sk, _ := NewRule(RuleOptions{Name: "sk", Rate: 100, Burst: 10, Keyed: true, Shared: true, ID: "sk"})
	s1, _ := NewRule(RuleOptions{Name: "s1", Rate: 100, Burst: 10, Shared: true, ID: "s1"})
	ip := netip.MustParseAddr("192.0.2.1")
	hdr := []byte("key-123")
	var now int64 = 1e9
	var i uint64
	for name, fn := range map[string]func(){
		"Limiter.Allow":       func() { now += 1000; l.Allow(now) },
		"Table.Allow hit":     func() { now += 1000; tb.Allow(42, now) },
		"Table.Allow new key": func() { now += 1000; i++; tb.Allow(keyN(i), now) },
		"Rule.Allow":          func() { now += 1000; r.Allow(HashIP(ip), now) },
		"shared keyed Allow":  func() { now += 1000; sk.Allow(42, now) },
		"shared Allow":        func() { now += 1000; s1.Allow(0, now) },
		"HashBytes":           func() { _ = HashBytes(hdr) },
		"Now":                 func() { _ = Now() },
	} {
		if n := testing.AllocsPerRun(2000, fn); n != 0 {
			t.Errorf("%s: %v allocs, want 0", name, n)
		}
	}
}

// TestFloodMillionKeysAlloc: 1,000,000 distinct keys leave the table's
// capacity and the heap unchanged (see TestFloodBounded; too slow under
// -race, so it runs in make test's pass without it).
func TestFloodMillionKeysAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 keys: skipped with -short")
	}
	floodBounded(t, 1_000_000)
}
