package balance

import (
	"net/netip"

	"github.com/cespare/xxhash/v2"
)

// KeyIP returns the ip_hash key of a client address: xxhash of its 16-byte
// form, so an IPv4 address and its IPv4-mapped IPv6 form give the same key.
// The zone is ignored; the zero Addr hashes like "::". Allocation-free; l4 and
// l7 both use it so a client lands on the same server under either.
func KeyIP(ip netip.Addr) uint64 {
	b := ip.As16()
	return xxhash.Sum64(b[:])
}

// KeyBytes returns the hash key of arbitrary bytes (a header value, a cookie),
// xxhash of b. Allocation-free.
func KeyBytes(b []byte) uint64 { return xxhash.Sum64(b) }
