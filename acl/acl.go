// Package acl owns Sluice's address matching: the per-frontend access lists
// (access.allow / access.deny, also a rate limit's match.client_ip) and the
// trusted_proxies set that decides whose X-Forwarded-For is believed. It is
// the one parser (ParsePrefix, used by internal/config for every list) and
// the one matcher (List, Trusted) of these lists, so that an entry means the
// same in each of them. It is a leaf: it imports only the standard library.
//
// Both are compiled once at build/reload time from []netip.Prefix into sorted,
// merged address ranges per family and are then immutable: lookups are
// lock-free, allocation-free and safe for concurrent use by any number of
// goroutines. Small sets are scanned linearly, large ones (more than
// linearMax ranges) are searched with a binary search, so thousands of
// prefixes cost about 12 comparisons per lookup.
//
// Address rules, identical for List and Trusted:
//   - IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped before
//     matching, so a client arriving on a dual-stack socket is matched by IPv4
//     prefixes.
//   - An IPv4-mapped prefix of /96 or longer (::ffff:10.0.0.0/104) is
//     treated as the IPv4 prefix it names (10.0.0.0/8).
//   - Any other IPv6 prefix matches only IPv6 addresses; ::/0 does not match
//     IPv4 clients.
//   - IPv6 zones are ignored (fe80::1%eth0 matches fe80::/10).
//   - Host bits in a prefix are ignored (10.1.2.3/8 means 10.0.0.0/8).
//   - The zero netip.Addr matches no prefix.
package acl

import (
	"fmt"
	"net/netip"
)

// List is a compiled access list: a deny set checked first and an optional
// allow set. The zero List and a nil *List allow every address.
// A List is immutable after New; Allowed is safe for concurrent use.
type List struct {
	allow    set
	deny     set
	restrict bool // allow list non-empty: only its prefixes may connect
}

// New compiles allow and deny into a List. The slices are not retained.
// An empty allow list means "everyone not denied"; a non-empty one means
// "only these, unless denied". An invalid (zero) prefix is an error naming
// the list and the index.
func New(allow, deny []netip.Prefix) (*List, error) {
	a, err := compile("allow", allow)
	if err != nil {
		return nil, err
	}
	d, err := compile("deny", deny)
	if err != nil {
		return nil, err
	}
	return &List{allow: a, deny: d, restrict: len(allow) > 0}, nil
}

// Allowed reports whether ip may connect: false when a deny prefix contains
// it; otherwise true when the allow list is empty or one of its prefixes
// contains it. Lock-free and allocation-free.
func (l *List) Allowed(ip netip.Addr) bool {
	if l == nil {
		return true
	}
	k := keyOf(ip)
	if l.deny.has(k) {
		return false
	}
	return !l.restrict || l.allow.has(k)
}

// Trusted is the compiled trusted_proxies set. A nil *Trusted and the zero
// Trusted contain no address. Immutable after NewTrusted; Contains is safe for
// concurrent use.
type Trusted struct {
	s set
}

// NewTrusted compiles prefixes into a Trusted set. The slice is not retained.
func NewTrusted(prefixes []netip.Prefix) (*Trusted, error) {
	s, err := compile("trusted_proxies", prefixes)
	if err != nil {
		return nil, err
	}
	return &Trusted{s: s}, nil
}

// Contains reports whether one of the trusted prefixes contains ip.
// Lock-free and allocation-free.
func (t *Trusted) Contains(ip netip.Addr) bool {
	if t == nil {
		return false
	}
	return t.s.has(keyOf(ip))
}

func compile(what string, ps []netip.Prefix) (set, error) {
	var v4 []span4
	var v6 []span6
	for i, p := range ps {
		if !p.IsValid() {
			return set{}, fmt.Errorf("acl: %s[%d]: invalid prefix %q", what, i, p.String())
		}
		p = normalize(p)
		if p.Addr().Is4() {
			v4 = append(v4, spanOf4(p))
		} else {
			v6 = append(v6, spanOf6(p))
		}
	}
	return set{v4: merge4(v4), v6: merge6(v6)}, nil
}

// normalize masks host bits, drops the zone and turns an IPv4-mapped prefix
// of /96 or longer into the IPv4 prefix it names.
func normalize(p netip.Prefix) netip.Prefix {
	p = p.Masked() // also drops any zone
	a := p.Addr()
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p
}
