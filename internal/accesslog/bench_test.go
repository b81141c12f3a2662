package accesslog

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

func benchEntry() *HTTPEntry {
	return &HTTPEntry{Time: time.Now(), Frontend: "web", ClientIP: netip.MustParseAddr("192.168.10.20"),
		Method: "GET", Host: "api.example.com", Path: "/v1/users/12345/orders?limit=50", Backend: "api",
		Server: "10.0.0.5:8080", Status: 200, Duration: 2345 * time.Microsecond, BytesIn: 312, BytesOut: 5120}
}

// BenchmarkAppendHTTP is the encoding cost of one line.
func BenchmarkAppendHTTP(b *testing.B) {
	e := benchEntry()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendHTTP(buf[:0], e)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkLogHTTP is the data-path cost of one line: encode + enqueue
// (or drop when the writer falls behind; dropped/op is reported).
func BenchmarkLogHTTP(b *testing.B) {
	l, _ := New(Options{Writer: io.Discard})
	e := benchEntry()
	b.ReportAllocs()
	for b.Loop() {
		l.LogHTTP(e)
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

func BenchmarkLogHTTPParallel(b *testing.B) {
	l, _ := New(Options{Writer: io.Discard})
	e := benchEntry()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.LogHTTP(e)
		}
	})
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkLogHTTPNoDrop is the cost of a line that is queued, not dropped:
// the timer is paused while the writer catches up every 1024 lines.
func BenchmarkLogHTTPNoDrop(b *testing.B) {
	l, _ := New(Options{Writer: io.Discard})
	e := benchEntry()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.LogHTTP(e)
		if i++; i%1024 == 0 {
			b.StopTimer()
			for len(l.queue) > 0 {
				time.Sleep(50 * time.Microsecond)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
}
