package acl

import (
	"net/netip"
	"strings"
	"testing"
)

// bytesSrc hands out fuzz bytes, then zeros.
type bytesSrc struct{ b []byte }

func (s *bytesSrc) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *bytesSrc) prefix() netip.Prefix {
	c := s.byte()
	var a netip.Addr
	switch c % 4 {
	case 0, 1: // IPv4
		a = netip.AddrFrom4([4]byte{s.byte(), s.byte(), s.byte(), s.byte()})
	case 2: // IPv6, short top part so that prefixes overlap often
		a = netip.AddrFrom16([16]byte{0x20, 0x01, s.byte() & 3, s.byte(), 15: s.byte()})
	case 3: // IPv4-mapped
		a = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: s.byte(), 13: s.byte(), 14: s.byte(), 15: s.byte()})
	}
	return netip.PrefixFrom(a, int(s.byte())%(a.BitLen()+1))
}

// probes returns addresses at and around the edges of p plus mapped forms.
func probes(p netip.Prefix, extra byte) []netip.Addr {
	p = p.Masked()
	first := p.Addr()
	last := first
	for i := p.Bits(); i < first.BitLen(); i++ {
		b := last.AsSlice()
		b[i/8] |= 0x80 >> (i % 8)
		last, _ = netip.AddrFromSlice(b)
	}
	out := []netip.Addr{first, last, first.Prev(), last.Next()}
	b := first.AsSlice()
	b[len(b)-1] ^= extra
	mid, _ := netip.AddrFromSlice(b)
	out = append(out, mid)
	for _, a := range out[:5] {
		if a.Is4() {
			out = append(out, netip.AddrFrom16(a.As16()))
		}
	}
	return out
}

// FuzzCompiledMatchesNaive checks the compiled List and Trusted against a
// linear scan of netip.Prefix.Contains on random prefixes and addresses.
func FuzzCompiledMatchesNaive(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 10, 0, 0, 0, 8, 1, 10, 1, 2, 0, 24, 2, 0, 0, 0, 32})
	f.Add([]byte("\x03\x0a\x00\x00\x00\x10\x02\x01\xb8\x00\x00\x20\x00\xff\xff\xff\xff\x00"))
	f.Add([]byte(strings.Repeat("\x00\x0a\x01\x02\x03\x1e\x02\x03\x04\x05\x40", 40)))
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &bytesSrc{b: data}
		n := int(src.byte() % 64)
		nd := int(src.byte()) % (n + 1)
		ps := make([]netip.Prefix, 0, n)
		for range n {
			ps = append(ps, src.prefix())
		}
		allow, deny := ps[nd:], ps[:nd]
		l, err := New(allow, deny)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := NewTrusted(ps)
		if err != nil {
			t.Fatal(err)
		}
		ref := naiveList{allow: allow, deny: deny}
		var addrs []netip.Addr
		for i, p := range ps {
			addrs = append(addrs, probes(p, byte(i*31+7))...)
		}
		for range 8 {
			addrs = append(addrs, src.prefix().Addr())
		}
		addrs = append(addrs, netip.Addr{}, netip.MustParseAddr("fe80::1%eth0"))
		for _, a := range addrs {
			if got, want := l.Allowed(a), ref.Allowed(a); got != want {
				t.Fatalf("Allowed(%s) = %v, reference %v; allow=%v deny=%v", a, got, want, allow, deny)
			}
			if got, want := tr.Contains(a), naiveHas(ps, a); got != want {
				t.Fatalf("Contains(%s) = %v, reference %v; prefixes=%v", a, got, want, ps)
			}
		}
	})
}

// FuzzParsePrefix: arbitrary text never panics, and accepted text yields a
// valid prefix that compiles.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.1.2.3", "::1", "2001:db8::/32", "::ffff:1.2.3.4/120", "", "/", "1.2.3.4/33", "fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() {
			t.Fatalf("ParsePrefix(%q) = invalid %v without error", s, p)
		}
		if _, err := New([]netip.Prefix{p}, []netip.Prefix{p}); err != nil {
			t.Fatal(err)
		}
	})
}
