package gate

import (
	"sync"
	"testing"
)

func TestGateNeverExceedsMax(t *testing.T) {
	g := New(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	held, peak := 0, 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 1000; k++ {
				if !g.TryAcquire() {
					continue
				}
				mu.Lock()
				held++
				if held > peak {
					peak = held
				}
				mu.Unlock()
				mu.Lock()
				held--
				mu.Unlock()
				g.Release()
			}
		}()
	}
	wg.Wait()
	if peak > 10 || g.Count() != 0 {
		t.Fatalf("peak %d count %d", peak, g.Count())
	}
}

func TestGateUnlimitedAndExact(t *testing.T) {
	g := New(0)
	for i := 0; i < 1000; i++ {
		if !g.TryAcquire() {
			t.Fatal("unlimited gate refused")
		}
	}
	g = New(2)
	if !g.TryAcquire() || !g.TryAcquire() || g.TryAcquire() {
		t.Fatal("gate of 2 must admit exactly 2")
	}
	g.Release()
	if !g.TryAcquire() {
		t.Fatal("released place not reusable")
	}
}
