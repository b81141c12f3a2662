package health

import "testing"

func BenchmarkPassiveSuccess(b *testing.B) {
	p, _ := newTestPassive(5, 1<<40)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Success()
		}
	})
}

func BenchmarkPassiveFailureSuccess(b *testing.B) {
	p, _ := newTestPassive(1<<30, 1<<40)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Failure(1)
			p.Success()
		}
	})
}

func BenchmarkPassiveAdmitClosed(b *testing.B) {
	p, _ := newTestPassive(5, 1<<40)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Admit(1)
		}
	})
}
