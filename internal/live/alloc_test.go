//go:build !race

package live

import (
	"net/netip"
	"testing"
	"time"
)

// TestDataPathAllocs: what the request observer calls allocates nothing.
func TestDataPathAllocs(t *testing.T) {
	var h Hist
	r := NewLogRing(100)
	method, host, path := []byte("GET"), []byte("example.com"), []byte("/a/b?c=d")
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		h.Observe(3 * time.Millisecond)
		r.AddHTTP(&HTTP{Start: now, Frontend: "web", Backend: "app", Server: "10.0.0.2:80", ClientIP: ip,
			Method: method, Host: host, Path: path, Status: 200, Duration: time.Millisecond})
		r.AddTCP(&TCP{Start: now, Frontend: "pg", Backend: "db", Server: "10.0.0.3:5432", ClientIP: ip, Close: "client"})
	}); n != 0 {
		t.Fatalf("allocs = %v, want 0", n)
	}
}
