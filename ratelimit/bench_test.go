package ratelimit

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
)

// Benchmarks use a simulated clock (a local counter) so they measure Allow
// alone; BenchmarkNow measures the production clock separately.

func BenchmarkLimiterAllow(b *testing.B) {
	l := mustLimiter(b, 1e6, 100)
	b.ReportAllocs()
	now := sec
	for b.Loop() {
		now += 500
		l.Allow(now)
	}
}

// BenchmarkLimiterAllowParallel: all goroutines on one limit (worst case:
// one contended cache line).
func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := mustLimiter(b, 1e6, 100)
	b.ReportAllocs()
	var base atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		now := base.Add(sec)
		for pb.Next() {
			now += 500
			l.Allow(now)
		}
	})
}

// BenchmarkTableHit: 1,024 resident keys in a default-size table.
func BenchmarkTableHit(b *testing.B) {
	tb := mustTable(b, 1000, 10, 0)
	b.ReportAllocs()
	now := sec
	i := uint64(0)
	for b.Loop() {
		now += 500
		i++
		tb.Allow(keyN(i&1023), now)
	}
}

// BenchmarkTableHitParallel: each goroutine has its own 1,024 resident keys.
func BenchmarkTableHitParallel(b *testing.B) {
	tb := mustTable(b, 1000, 10, 0)
	b.ReportAllocs()
	var g atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		off := g.Add(1) << 20
		now := sec
		i := uint64(0)
		for pb.Next() {
			now += 500
			i++
			tb.Allow(keyN(off+i&1023), now)
		}
	})
}

// BenchmarkTableSameKeyParallel: every goroutine on one key.
func BenchmarkTableSameKeyParallel(b *testing.B) {
	tb := mustTable(b, 1e6, 100, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := sec
		for pb.Next() {
			now += 500
			tb.Allow(42, now)
		}
	})
}

// BenchmarkTableFlood: every call is a new key into a full table of live
// state (rate 5/h), i.e. a miss plus an eviction each time.
func BenchmarkTableFlood(b *testing.B) {
	tb := mustTable(b, 5.0/3600, 3, 0)
	for i := range uint64(2 * DefaultMaxKeys) {
		tb.Allow(keyN(1<<50+i), sec)
	}
	b.ResetTimer()
	b.ReportAllocs()
	var g atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		off := g.Add(1) << 40
		now := sec
		for pb.Next() {
			now += 100
			off++
			tb.Allow(keyN(off), now)
		}
	})
}

// BenchmarkRuleClientIP: HashIP plus a keyed Rule.Allow, as l4/l7 call it.
func BenchmarkRuleClientIP(b *testing.B) {
	r, err := NewRule(RuleOptions{Name: "api-per-ip", Rate: 100, Burst: 20, Keyed: true})
	if err != nil {
		b.Fatal(err)
	}
	ips := make([]netip.Addr, 256)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := sec
		i := 0
		for pb.Next() {
			now += 500
			i++
			r.Allow(HashIP(ips[i&255]), now)
		}
	})
}

func BenchmarkNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Now()
	}
}

// BenchmarkRuleAllowSharedVsLocal: what sharing through a Store costs on the
// hot path (a count and a share read per decision), keyed and not.
func BenchmarkRuleAllowSharedVsLocal(b *testing.B) {
	for _, keyed := range []bool{false, true} {
		for _, shared := range []bool{false, true} {
			r, _ := NewRule(RuleOptions{Name: "r", Rate: 1e9, Burst: 1 << 20, Keyed: keyed, Shared: shared, ID: "r"})
			b.Run(fmt.Sprintf("keyed=%v/shared=%v", keyed, shared), func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					now := Now()
					for pb.Next() {
						now++
						r.Allow(42, now)
					}
				})
			})
		}
	}
}
