package ratelimit

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const sec = int64(time.Second)

func mustLimiter(t testing.TB, rate float64, burst int) *Limiter {
	t.Helper()
	l, err := NewLimiter(rate, burst)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestBurstExact: a fresh limit admits exactly burst events at one instant,
// then exactly one per interval, and an idle period never earns more than
// burst.
func TestBurstExact(t *testing.T) {
	l := mustLimiter(t, 100, 20) // T = 10ms
	now := 5 * sec
	for i := range 20 {
		if ok, _ := l.Allow(now); !ok {
			t.Fatalf("event %d of the burst denied", i)
		}
	}
	ok, wait := l.Allow(now)
	if ok || wait != 10*time.Millisecond {
		t.Fatalf("21st = %v, %v; want denied, 10ms", ok, wait)
	}
	// 3ms later: still 7ms to wait.
	if ok, wait := l.Allow(now + 3e6); ok || wait != 7*time.Millisecond {
		t.Fatalf("at +3ms = %v, %v; want denied, 7ms", ok, wait)
	}
	// At +10ms exactly one more.
	if ok, _ := l.Allow(now + 10e6); !ok {
		t.Fatal("at +10ms denied")
	}
	if ok, _ := l.Allow(now + 10e6); ok {
		t.Fatal("second at +10ms admitted")
	}
	// After 50ms idle: 5 intervals have passed, so 5 are admitted, not more.
	now += 60e6
	n := 0
	for {
		if ok, _ := l.Allow(now); !ok {
			break
		}
		n++
	}
	if n != 5 {
		t.Fatalf("after 50ms idle admitted %d, want 5", n)
	}
	// After a very long idle period: exactly burst.
	now += 3600 * sec
	n = 0
	for {
		if ok, _ := l.Allow(now); !ok {
			break
		}
		n++
	}
	if n != 20 {
		t.Fatalf("after idle admitted %d, want burst 20", n)
	}
}

func TestBurstZeroMeansOne(t *testing.T) {
	l := mustLimiter(t, 1, 0)
	if ok, _ := l.Allow(sec); !ok {
		t.Fatal("first denied")
	}
	if ok, wait := l.Allow(sec); ok || wait != time.Second {
		t.Fatalf("second = %v %v", ok, wait)
	}
}

type rateCase struct {
	rate  string
	burst int
	dur   time.Duration
}

// rateCases: 100/s over 10 simulated seconds; the slow rates over 1000
// intervals (10/m: 100 min, 5/h: 200 h), since 10 s would hold 0–1 events.
var rateCases = []rateCase{
	{"100/s", 20, 10 * time.Second},
	{"100/s", 1, 10 * time.Second},
	{"7/s", 3, 10 * time.Second}, // non-integer interval 142857142.857ns
	{"10/m", 5, 100 * time.Minute},
	{"5/h", 3, 200 * time.Hour},
}

// TestRatesSimulated offers random traffic at about 5x the rate with injected
// time and checks the admitted count against the GCRA bound exactly and the
// measured rate within 5% (in practice within one event).
func TestRatesSimulated(t *testing.T) {
	for _, c := range rateCases {
		t.Run(fmt.Sprintf("%s_burst%d", c.rate, c.burst), func(t *testing.T) {
			rate := perSec(c.rate)
			l := mustLimiter(t, rate, c.burst)
			iv := l.Interval().Nanoseconds()
			r := rand.New(rand.NewPCG(1, uint64(c.burst)))
			start := 1000 * sec
			now, end := start, start+c.dur.Nanoseconds()
			admitted := 0
			for now < end {
				if ok, _ := l.Allow(now); ok {
					admitted++
				}
				now += 1 + r.Int64N(iv/10) // mean T/20: 20x the rate
			}
			// Upper bound exact. With burst 1 each admission can be late by
			// up to one arrival gap and nothing catches up, so only the
			// 5% check below applies; with burst > 1 lateness is absorbed.
			bound := c.burst + int((end-start)/iv)
			if admitted > bound || (c.burst > 1 && admitted < bound-1) {
				t.Fatalf("admitted %d, want %d (or one less)", admitted, bound)
			}
			measured := float64(admitted-c.burst) / c.dur.Seconds()
			if d := measured/rate - 1; d > 0.05 || d < -0.05 {
				t.Fatalf("measured %.6f/s, configured %.6f/s (%.2f%%)", measured, rate, 100*d)
			}
			t.Logf("admitted %d of bound %d; measured %.6f/s vs %.6f/s", admitted, bound, measured, rate)
		})
	}
}

// TestConcurrentExact: many goroutines share a simulated clock that each call
// advances; the admitted total never exceeds burst + D·rate.
func TestConcurrentExact(t *testing.T) {
	const (
		goroutines = 32
		calls      = 3000
		burst      = 10
	)
	l := mustLimiter(t, 1000, burst) // T = 1ms
	step := int64(time.Millisecond / 8)
	var clock, admitted atomic.Int64
	clock.Store(sec)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				if ok, _ := l.Allow(clock.Add(step)); ok {
					admitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	d := clock.Load() - sec
	bound := int64(burst) + d/int64(time.Millisecond)
	got := admitted.Load()
	if got > bound {
		t.Fatalf("admitted %d > bound %d", got, bound)
	}
	if float64(got) < 0.95*float64(bound) {
		t.Fatalf("admitted %d < 95%% of bound %d", got, bound)
	}
	t.Logf("admitted %d, bound %d over %v simulated", got, bound, time.Duration(d))
}

// TestRealClock runs about 1.5 s against the real monotonic clock: callers
// sleep for the returned retryAfter; the admitted rate is within 5%. The
// limit banks at most the burst (50 ms worth): while no caller asks for
// longer than that (all oversleeping on a busy machine) the credit beyond
// it is rightly forfeited, so those stretches, measured on the same clock,
// are left out of the elapsed time.
func TestRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("real clock")
	}
	const rate, burst = 1000.0, 50
	const window = int64(burst / rate * 1e9) // the most credit the limit banks, in ns
	l := mustLimiter(t, rate, burst)
	start := Now()
	deadline := start + int64(1500*time.Millisecond)
	var admitted, last, forfeited atomic.Int64
	last.Store(start)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				now := Now()
				if now >= deadline {
					return
				}
				if gap := now - last.Swap(now); gap > window {
					forfeited.Add(gap - window)
				}
				ok, wait := l.Allow(now)
				if ok {
					admitted.Add(1)
					continue
				}
				time.Sleep(wait)
			}
		})
	}
	wg.Wait()
	end := Now()
	if gap := end - last.Load(); gap > window {
		forfeited.Add(gap - window)
	}
	elapsed := time.Duration(end - start - forfeited.Load())
	got := admitted.Load()
	if bound := burst + int64(elapsed.Seconds()*rate); got > bound+1 {
		t.Fatalf("admitted %d > bound %d (%v forfeited)", got, bound, time.Duration(forfeited.Load()))
	}
	measured := float64(got-burst) / elapsed.Seconds()
	if d := measured/rate - 1; d > 0.05 || d < -0.05 {
		t.Fatalf("measured %.1f/s over %v (%v forfeited), want %.0f/s ±5%%", measured, elapsed, time.Duration(forfeited.Load()), rate)
	}
	t.Logf("real clock: admitted %d in %v (%v forfeited): %.1f/s (burst %d excluded)", got, elapsed, time.Duration(forfeited.Load()), measured, burst)
}

func TestNewLimiterErrors(t *testing.T) {
	for _, r := range []float64{0, -1, nanF(), infF(), 1e-15} {
		if _, err := NewLimiter(r, 1); err == nil {
			t.Errorf("rate %v: no error", r)
		}
	}
	if _, err := NewLimiter(1.0/3600, 1<<30); err == nil {
		t.Error("huge window: no error")
	}
	l := mustLimiter(t, 1e12, 1)
	if l.Interval() != 1 {
		t.Fatalf("interval %v, want clamp to 1ns", l.Interval())
	}
	_, err := NewRule(RuleOptions{Name: "api-per-ip", Rate: -1})
	if err == nil || !strings.Contains(err.Error(), `"api-per-ip"`) {
		t.Fatalf("err = %v, want rule name", err)
	}
}

func nanF() float64 { z := 0.0; return z / z }
func infF() float64 { z := 0.0; return 1 / z }

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		-5: 1, 0: 1, 1: 1, time.Second: 1, time.Second + 1: 2, 1500 * time.Millisecond: 2,
		720 * time.Second: 720, 720*time.Second - 1: 720,
	} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

// perSec converts a test case's "N/s", "N/m" or "N/h" into events per
// second (configuration text is parsed by internal/config).
func perSec(s string) float64 {
	n, unit, _ := strings.Cut(s, "/")
	f, _ := strconv.ParseFloat(n, 64)
	return f / map[string]float64{"s": 1, "m": 60, "h": 3600}[unit]
}

// heapInUse returns HeapAlloc after a full GC.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
