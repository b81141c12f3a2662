package balance

import (
	"fmt"
	"net/netip"
	"testing"
)

var allAlgorithms = []Algorithm{RoundRobin, WeightedRoundRobin, LeastConnections, IPHash}

// mkServers returns servers named 127.0.0.1:9000+i (labels only; nothing is
// dialed) with the given weights.
func mkServers(weights ...int) []*Server {
	ss := make([]*Server, len(weights))
	for i, w := range weights {
		ss[i] = NewServer("web", fmt.Sprintf("127.0.0.1:%d", 9000+i), w)
	}
	return ss
}

func equalWeights(n int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1
	}
	return w
}

// pickRelease picks and releases at once, returning the index of the server
// in ss (-1 for nil).
func pickRelease(t testing.TB, b *Balancer, key uint64, ss []*Server) int {
	t.Helper()
	s := b.Pick(key, nil)
	if s == nil {
		return -1
	}
	s.Release()
	return indexOf(t, ss, s)
}

func indexOf(t testing.TB, ss []*Server, s *Server) int {
	t.Helper()
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	t.Fatalf("Pick returned %s, not one of the servers", s.Addr())
	return -1
}

// testKeys returns n distinct ip_hash keys of IPv4 client addresses.
func testKeys(n int) []uint64 {
	keys := make([]uint64, n)
	for i := range keys {
		v := uint32(0x0a000000 + i)
		keys[i] = KeyIP(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}))
	}
	return keys
}

// assertZero fails unless every server and the balancer count zero active.
func assertZero(t testing.TB, b *Balancer, ss []*Server) {
	t.Helper()
	for _, s := range ss {
		if a := s.Active(); a != 0 {
			t.Errorf("%s: Active() = %d after all releases, want 0", s.Addr(), a)
		}
	}
	if a := b.Active(); a != 0 {
		t.Errorf("Balancer.Active() = %d after all releases, want 0", a)
	}
}
