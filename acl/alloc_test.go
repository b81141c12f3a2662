//go:build !race

package acl

import (
	"net/netip"
	"testing"
)

// TestMatchAllocs: Allowed and Contains allocate nothing, for small
// (linear) and large (binary search) lists and every address form.
func TestMatchAllocs(t *testing.T) {
	small := mustList(t, []string{"10.0.0.0/8", "2001:db8::/32"}, []string{"10.1.0.0/16"})
	large := largeList(t, 5000)
	tr, _ := NewTrusted(pfx(t, "10.0.0.0/8", "fd00::/8"))
	ips := []netip.Addr{
		netip.MustParseAddr("10.2.3.4"), netip.MustParseAddr("::ffff:10.1.3.4"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::1%eth0"),
	}
	for _, ip := range ips {
		if n := testing.AllocsPerRun(1000, func() {
			_ = small.Allowed(ip)
			_ = large.Allowed(ip)
			_ = tr.Contains(ip)
		}); n != 0 {
			t.Fatalf("%s: allocs = %v, want 0", ip, n)
		}
	}
}
