package acl

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// randPrefixes returns n distinct-ish random IPv4 /24s and IPv6 /48s.
func randPrefixes(n int, r *rand.Rand) []netip.Prefix {
	ps := make([]netip.Prefix, 0, n)
	for i := range n {
		if i%2 == 0 {
			v := r.Uint32()
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24))
		} else {
			v := r.Uint64()
			ps = append(ps, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16)}), 48))
		}
	}
	return ps
}

func largeList(t testing.TB, n int) *List {
	l, err := New(randPrefixes(n, rand.New(rand.NewPCG(1, 2))), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func benchAddrs(r *rand.Rand) []netip.Addr {
	as := make([]netip.Addr, 1024)
	for i := range as {
		if i%2 == 0 {
			v := r.Uint32()
			as[i] = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		} else {
			v := r.Uint64()
			as[i] = netip.AddrFrom16([16]byte{0x20, 0x01, byte(v >> 40), byte(v >> 32), byte(v >> 24), byte(v >> 16), 15: 1})
		}
	}
	return as
}

// BenchmarkAllowed compares the compiled List with a linear scan of
// netip.Prefix.Contains (the naive reference) at several list sizes.
func BenchmarkAllowed(b *testing.B) {
	for _, n := range []int{4, 16, 64, 5000} {
		ps := randPrefixes(n, rand.New(rand.NewPCG(1, 2)))
		as := benchAddrs(rand.New(rand.NewPCG(3, 4)))
		// Make half of the probes hit.
		for i := 0; i < len(as); i += 4 {
			as[i] = ps[i%len(ps)].Addr().Next()
		}
		l, err := New(ps, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("compiled/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for i := 0; b.Loop(); i++ {
				if l.Allowed(as[i&1023]) {
					hits++
				}
			}
			_ = hits
		})
		ref := newNaiveScan(ps)
		b.Run(fmt.Sprintf("prefixscan/n=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			hits := 0
			for i := 0; b.Loop(); i++ {
				if ref.has(as[i&1023]) {
					hits++
				}
			}
			_ = hits
		})
	}
}

func BenchmarkAllowedParallel(b *testing.B) {
	l := largeList(b, 5000)
	as := benchAddrs(rand.New(rand.NewPCG(3, 4)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = l.Allowed(as[i&1023])
			i++
		}
	})
}

// BenchmarkSpanSearch measures linear scan versus binary search over compiled
// IPv4 ranges; it justifies linearMax.
func BenchmarkSpanSearch(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	vs := make([]uint32, 1024)
	for i := range vs {
		vs[i] = r.Uint32()
	}
	for _, n := range []int{4, 8, 16, 32, 64} {
		s, _ := compile("b", randPrefixes(2*n, rand.New(rand.NewPCG(1, 2))))
		sp := s.v4
		b.Run(fmt.Sprintf("linear/n=%d", len(sp)), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				_ = linear4(sp, vs[i&1023])
			}
		})
		b.Run(fmt.Sprintf("binary/n=%d", len(sp)), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				_ = bsearch4(sp, vs[i&1023])
			}
		})
	}
}
