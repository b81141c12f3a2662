package metrics

import (
	"io"
	"testing"
	"time"
)

func BenchmarkCodeInc(b *testing.B) {
	p := NewRegistry().Pair("web", "api", ModeHTTP)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Code(200 + i&3).Inc()
	}
}

func BenchmarkCodeIncParallel(b *testing.B) {
	p := NewRegistry().Pair("web", "api", ModeHTTP)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Code(200).Inc()
		}
	})
}

func BenchmarkRequest(b *testing.B) {
	p := NewRegistry().Pair("web", "api", ModeHTTP)
	b.ReportAllocs()
	for b.Loop() {
		p.Request(200, 3*time.Millisecond)
	}
}

func BenchmarkServerFail(b *testing.B) {
	s := NewRegistry().Server("api", "127.0.0.1:9001", nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		s.Fail(FailTimeout)
	}
}

func BenchmarkFrontendAddBytes(b *testing.B) {
	f := NewRegistry().Frontend("web")
	b.ReportAllocs()
	for b.Loop() {
		f.AddBytes(512, 4096)
	}
}

// BenchmarkScrape measures one /metrics rendering with 10 frontends, 10
// pairs and 50 servers.
func BenchmarkScrape(b *testing.B) {
	r := NewRegistry()
	for i := range 10 {
		n := string(rune('a' + i))
		r.Frontend(n)
		r.Pair(n, "api", ModeHTTP).Request(200, time.Millisecond)
		for j := range 5 {
			r.Server(n, string(rune('0'+j)), nil, nil)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		r.WritePrometheus(io.Discard)
	}
}
