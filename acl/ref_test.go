package acl

import "net/netip"

// naiveList is the reference semantics: a linear scan of normalized
// prefixes using netip.Prefix.Contains on the unmapped, zone-less address.
type naiveList struct{ allow, deny []netip.Prefix }

func naiveHas(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range ps {
		if normalize(p).Contains(ip) {
			return true
		}
	}
	return false
}

func (n naiveList) Allowed(ip netip.Addr) bool {
	if naiveHas(n.deny, ip) {
		return false
	}
	return len(n.allow) == 0 || naiveHas(n.allow, ip)
}

// naiveScan is the fair "linear scan of prefixes" baseline for benchmarks:
// prefixes normalized once, one Contains per prefix.
type naiveScan []netip.Prefix

func newNaiveScan(ps []netip.Prefix) naiveScan {
	out := make(naiveScan, len(ps))
	for i, p := range ps {
		out[i] = normalize(p)
	}
	return out
}

func (n naiveScan) has(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	for _, p := range n {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
