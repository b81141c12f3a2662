//go:build !race

package metrics

import (
	"testing"
	"time"
)

// TestHotPathAllocs pins every hot-path update at zero allocations.
func TestHotPathAllocs(t *testing.T) {
	r := NewRegistry()
	f := r.Frontend("web")
	p := r.Pair("web", "api", ModeHTTP)
	tp := r.Pair("pg", "db", ModeTCP)
	s := r.Server("api", "127.0.0.1:9001", func() bool { return true }, func() int64 { return 1 })
	p.Code(200).Inc() // first use of a code may allocate
	code := 200
	for name, fn := range map[string]func(){
		"Pair.Code.Inc":   func() { p.Code(code).Inc() },
		"Pair.Request":    func() { p.Request(code, 1500*time.Microsecond) },
		"Pair.TCPSession": func() { tp.TCPSession() },
		"Frontend.Conn":   func() { f.ConnOpened(); f.ConnClosed() },
		"Frontend.Bytes":  func() { f.AddBytes(512, 4096) },
		"Server.Request":  func() { s.Request() },
		"Server.Fail":     func() { s.Fail(FailStatus5xx) },
	} {
		if n := testing.AllocsPerRun(1000, fn); n != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, n)
		}
	}
}
