//go:build !race

package accesslog

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

// TestLogAllocs pins LogHTTP and LogTCP at zero allocations once the line
// buffers have grown (steady state), both when lines are queued and when
// they are dropped.
func TestLogAllocs(t *testing.T) {
	l, err := New(Options{Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	h := entry(7)
	h.Time = time.Time{} // exercise time.Now()
	h.ClientIP = netip.MustParseAddr("2001:db8::1")
	tc := &TCPEntry{Frontend: "pg", ClientIP: netip.MustParseAddr("10.0.0.1"), Close: "client"}
	for range 2 * DefaultQueueLines { // grow every line buffer once
		l.LogHTTP(h)
	}
	if n := testing.AllocsPerRun(1000, func() { l.LogHTTP(h) }); n != 0 {
		t.Errorf("LogHTTP: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { l.LogTCP(tc) }); n != 0 {
		t.Errorf("LogTCP: %v allocs", n)
	}
	var nilLogger *Logger
	if n := testing.AllocsPerRun(100, func() { nilLogger.LogHTTP(h) }); n != 0 {
		t.Errorf("nil LogHTTP: %v allocs", n)
	}
}
