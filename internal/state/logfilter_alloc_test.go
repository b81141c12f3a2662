//go:build !race

package state

import (
	"net/netip"
	"testing"
)

// MatchFields allocates nothing (the ring calls it per slot).
func TestMatchFieldsAllocs(t *testing.T) {
	m, _ := CompileLogFilter(LogFilter{Frontend: "web", Status: "5xx", ClientIP: "10.0.0.0/8", Q: "/api"})
	host, path := []byte("api.example.com"), []byte("/api/users")
	client := netip.MustParseAddr("10.1.2.3")
	if !m.MatchFields("web", "app", false, 503, client, host, path) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { m.MatchFields("web", "app", false, 503, client, host, path) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
