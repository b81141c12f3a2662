package alert

import (
	"net/netip"
	"strings"
)

// sameAddr reports whether two server addresses are the same, also when
// the same IP:port is written differently ([::ffff:10.0.0.1]:80).
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	pa, ea := netip.ParseAddrPort(a)
	pb, eb := netip.ParseAddrPort(b)
	if ea == nil && eb == nil {
		return pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
	}
	return strings.EqualFold(a, b)
}
