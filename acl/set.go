package acl

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// linearMax is the number of ranges up to which a family is scanned linearly;
// above it lookups binary-search. Both are allocation-free; the crossover was
// measured with BenchmarkSpanSearch (bench_test.go): about 8 ranges.
const linearMax = 8

// span4 is an inclusive IPv4 range [first, last].
type span4 struct{ first, last uint32 }

// u128 is a 128-bit IPv6 address, big-endian halves.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

// span6 is an inclusive IPv6 range [first, last].
type span6 struct{ first, last u128 }

// set is a compiled, immutable prefix set: sorted, disjoint, non-adjacent
// ranges per family.
type set struct {
	v4 []span4
	v6 []span6
}

// key is an address reduced to what lookups need.
type key struct {
	fam uint8 // 0 invalid, 4, 6
	v4  uint32
	v6  u128
}

// keyOf unmaps IPv4-mapped addresses and ignores zones.
func keyOf(ip netip.Addr) key {
	switch {
	case ip.Is4() || ip.Is4In6():
		a := ip.As4()
		return key{fam: 4, v4: binary.BigEndian.Uint32(a[:])}
	case ip.Is6():
		a := ip.As16()
		return key{fam: 6, v6: u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}}
	}
	return key{}
}

func (s *set) has(k key) bool {
	switch k.fam {
	case 4:
		return has4(s.v4, k.v4)
	case 6:
		return has6(s.v6, k.v6)
	}
	return false
}

func has4(sp []span4, v uint32) bool {
	if len(sp) <= linearMax {
		return linear4(sp, v)
	}
	return bsearch4(sp, v)
}

func linear4(sp []span4, v uint32) bool {
	for i := range sp {
		if v < sp[i].first {
			return false
		}
		if v <= sp[i].last {
			return true
		}
	}
	return false
}

// bsearch4 finds the first span whose first > v; the candidate is the one
// before it.
func bsearch4(sp []span4, v uint32) bool {
	lo, hi := 0, len(sp)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if sp[m].first <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && v <= sp[lo-1].last
}

func has6(sp []span6, v u128) bool {
	if len(sp) <= linearMax {
		return linear6(sp, v)
	}
	return bsearch6(sp, v)
}

func linear6(sp []span6, v u128) bool {
	for i := range sp {
		if v.less(sp[i].first) {
			return false
		}
		if !sp[i].last.less(v) {
			return true
		}
	}
	return false
}

func bsearch6(sp []span6, v u128) bool {
	lo, hi := 0, len(sp)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !v.less(sp[m].first) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !sp[lo-1].last.less(v)
}

// spanOf4 expects a masked IPv4 prefix.
func spanOf4(p netip.Prefix) span4 {
	a := p.Addr().As4()
	first := binary.BigEndian.Uint32(a[:])
	host := ^uint32(0) >> p.Bits() // Bits()==32: 0
	return span4{first, first | host}
}

// spanOf6 expects a masked IPv6 prefix.
func spanOf6(p netip.Prefix) span6 {
	a := p.Addr().As16()
	first := u128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
	var host u128
	switch b := p.Bits(); {
	case b == 0:
		host = u128{^uint64(0), ^uint64(0)}
	case b < 64:
		host = u128{^uint64(0) >> b, ^uint64(0)}
	case b < 128:
		host = u128{0, ^uint64(0) >> (b - 64)}
	}
	return span6{first, u128{first.hi | host.hi, first.lo | host.lo}}
}

func merge4(sp []span4) []span4 {
	if len(sp) == 0 {
		return nil
	}
	slices.SortFunc(sp, func(a, b span4) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	out := sp[:1]
	for _, s := range sp[1:] {
		cur := &out[len(out)-1]
		// Overlapping or adjacent: extend (uint64 avoids overflow at 255.255.255.255).
		if uint64(s.first) <= uint64(cur.last)+1 {
			cur.last = max(cur.last, s.last)
			continue
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}

func merge6(sp []span6) []span6 {
	if len(sp) == 0 {
		return nil
	}
	slices.SortFunc(sp, func(a, b span6) int {
		switch {
		case a.first.less(b.first):
			return -1
		case b.first.less(a.first):
			return 1
		}
		return 0
	})
	out := sp[:1]
	for _, s := range sp[1:] {
		cur := &out[len(out)-1]
		if !cur.last.less(s.first) || next128(cur.last) == s.first {
			if cur.last.less(s.last) {
				cur.last = s.last
			}
			continue
		}
		out = append(out, s)
	}
	return slices.Clip(out)
}

// next128 returns v+1, wrapping at the top (the wrap never equals a later
// span's first because spans are sorted and the top span ends the list).
func next128(v u128) u128 {
	lo := v.lo + 1
	hi := v.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}
