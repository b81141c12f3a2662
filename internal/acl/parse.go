package acl

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParsePrefixes parses CIDR strings ("10.0.0.0/8", "2001:db8::/32") or bare
// addresses ("10.1.2.3", meaning /32 or /128) for the lists named by what
// (e.g. "frontends[0].access.allow"). Surrounding spaces are trimmed. The
// first bad entry is reported with its index and text. Prefixes are returned
// as written; New and NewTrusted normalize them.
func ParsePrefixes(what string, ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		p, err := ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", what, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ParsePrefix parses one CIDR or bare address; see ParsePrefixes.
func ParsePrefix(s string) (netip.Prefix, error) {
	t := strings.TrimSpace(s)
	if strings.IndexByte(t, '/') >= 0 {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q (want e.g. 10.0.0.0/8 or 2001:db8::/32)", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address or CIDR %q (want e.g. 10.0.0.0/8 or 10.1.2.3)", s)
	}
	return netip.PrefixFrom(a.WithZone(""), a.BitLen()), nil
}
