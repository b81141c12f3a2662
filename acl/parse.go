package acl

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefix parses one entry of an address list as a user writes it in
// access.allow, access.deny, trusted_proxies or a rate limit's
// match.client_ip: a CIDR ("10.0.0.0/8", "2001:db8::/32",
// "::ffff:10.0.0.0/104") or a bare address ("10.1.2.3", meaning /32, or
// "::1", meaning /128). Surrounding spaces are trimmed. It is the only
// parser of these lists: every use shares its rules.
//
// Refused, with a message quoting s: anything else, an address with a zone
// ("fe80::1%eth0": a zone names a local interface, not a client), and a CIDR
// with host bits set ("10.1.2.3/24"; the message suggests the prefix meant,
// "10.1.2.0/24"), because such an entry is almost always a typo for a single
// address or for a different prefix. Prefixes built in code are not held to
// that: New and NewTrusted mask host bits.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("invalid address or CIDR %q", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Errorf("CIDR %q has host bits set (did you mean %s?)", s, m)
	}
	return p, nil
}
