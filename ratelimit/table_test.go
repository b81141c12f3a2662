package ratelimit

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustTable(t testing.TB, rate float64, burst, maxKeys int) *Table {
	t.Helper()
	tb, err := NewTable(TableOptions{Rate: rate, Burst: burst, MaxKeys: maxKeys})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// keyN returns distinct, well-spread 64-bit key hashes.
func keyN(i uint64) uint64 {
	x := i + 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func drain(tb *Table, k uint64, now int64) int {
	n := 0
	for {
		if ok, _ := tb.Allow(k, now); !ok {
			return n
		}
		n++
	}
}

func TestTableKeysIndependent(t *testing.T) {
	tb := mustTable(t, 10, 3, 0)
	now := sec
	for _, k := range []uint64{keyN(1), keyN(2), 0, 1} {
		want := 3
		if k == 1 {
			want = 0 // hash 0 is folded onto 1
		}
		if n := drain(tb, k, now); n != want {
			t.Fatalf("key %x: burst admitted %d, want %d", k, n, want)
		}
	}
	ok, wait := tb.Allow(keyN(1), now)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over limit = %v %v, want denied 100ms", ok, wait)
	}
	if n := drain(tb, keyN(1), now+int64(250*time.Millisecond)); n != 2 {
		t.Fatalf("after 250ms admitted %d, want 2", n)
	}
	if tb.Len() != 3 {
		t.Fatalf("Len = %d, want 3", tb.Len())
	}
	if c := tb.Cap(); c < DefaultMaxKeys || c >= DefaultMaxKeys+ways {
		t.Fatalf("Cap = %d", c)
	}
}

// TestTableRatesSimulated repeats the limiter rate cases through a table key.
func TestTableRatesSimulated(t *testing.T) {
	for _, c := range rateCases {
		rate := perSec(c.rate)
		tb := mustTable(t, rate, c.burst, 64)
		iv := tb.p.interval
		start, end := 1000*sec, 1000*sec+c.dur.Nanoseconds()
		admitted := 0
		for now := start; now < end; now += iv / 5 {
			if ok, _ := tb.Allow(keyN(7), now); ok {
				admitted++
			}
		}
		bound := c.burst + int((end-start)/iv)
		if admitted > bound || admitted < bound-1 {
			t.Fatalf("%s burst %d: admitted %d, want %d", c.rate, c.burst, admitted, bound)
		}
	}
}

// TestEvictionOrder pins the policy on a one-bucket table.
func TestEvictionOrder(t *testing.T) {
	tb := mustTable(t, 1, 1, ways) // one bucket, T = 1s
	if len(tb.buckets) != 1 {
		t.Fatalf("buckets = %d", len(tb.buckets))
	}
	now := 10 * sec
	for i := range uint64(ways) {
		if ok, _ := tb.Allow(keyN(i), now); !ok {
			t.Fatal("fresh key denied")
		}
	}
	// Key 3 is used again (denied, but a hit): it gets its second chance.
	if ok, _ := tb.Allow(keyN(3), now); ok {
		t.Fatal("key 3 admitted twice")
	}
	// 6 new keys evict the 6 unused ones; key 3 keeps its state.
	for i := uint64(100); i < 106; i++ {
		if ok, _ := tb.Allow(keyN(i), now+1); !ok {
			t.Fatal("new key denied")
		}
	}
	if ok, wait := tb.Allow(keyN(3), now+int64(500*time.Millisecond)); ok || wait != 500*time.Millisecond {
		t.Fatalf("key 3 = %v %v: was evicted (forgiven)", ok, wait)
	}
	// Now every slot has live state and key 3 is the only used one: the next
	// new key evicts an unused slot with the smallest TAT (keys 100..105 all
	// at now+1+T), never key 3 (TAT now+T, the smallest, but used).
	if ok, _ := tb.Allow(keyN(200), now+2); !ok {
		t.Fatal("new key denied")
	}
	if ok, _ := tb.Allow(keyN(3), now+3); ok {
		t.Fatal("key 3 forgiven")
	}
	// Use all: every slot is now used and live, so the next insertion evicts
	// the smallest TAT, which is key 3 (TAT now+T): it is forgiven.
	for _, k := range []uint64{keyN(101), keyN(102), keyN(103), keyN(104), keyN(105), keyN(200)} {
		tb.Allow(k, now+4)
	}
	if got := tb.Len(); got != ways {
		t.Fatalf("Len = %d", got)
	}
	if ok, _ := tb.Allow(keyN(300), now+5); !ok {
		t.Fatal("new key denied")
	}
	if ok, _ := tb.Allow(keyN(3), now+6); !ok {
		t.Fatal("key 3 should have been evicted (smallest TAT after a sweep) and start fresh")
	}
	// Expired slots are reused first and forgive nothing: after 2s every
	// state is in the past.
	later := now + 3*sec
	for i := uint64(400); i < 400+ways; i++ {
		if ok, _ := tb.Allow(keyN(i), later); !ok {
			t.Fatal("new key denied")
		}
	}
	for i := uint64(400); i < 400+ways; i++ {
		if ok, _ := tb.Allow(keyN(i), later); ok {
			t.Fatalf("key %d admitted twice: its slot was stolen", i)
		}
	}
}

// TestFloodBounded: 100,000 distinct keys (each sending once) leave the
// table's capacity and the heap unchanged. The 1,000,000-key case takes
// ~45 s under -race: it is TestFloodMillionKeysAlloc, which make test runs
// in its pass without the race detector.
func TestFloodBounded(t *testing.T) { floodBounded(t, 100_000) }

// floodBounded sends once from each of n distinct keys and checks that the
// table's capacity and the heap are unchanged.
func floodBounded(t *testing.T, n uint64) {
	tb := mustTable(t, 5.0/3600, 3, 0) // long-lived state: every key stays live
	capBefore := tb.Cap()
	before := heapInUse()
	now := sec
	admitted := 0
	for i := range n {
		if ok, _ := tb.Allow(keyN(i), now); ok {
			admitted++
		}
		now += 1000
	}
	after := heapInUse()
	// Every key is still live (T = 720s), so the table is full, give
	// or take the few slots two-choice placement has not reached
	// after 1.5x Cap keys.
	if tb.Cap() != capBefore || tb.Len() > capBefore || tb.Len() < capBefore*999/1000 {
		t.Fatalf("Cap %d→%d, Len %d", capBefore, tb.Cap(), tb.Len())
	}
	if admitted != int(n) {
		t.Fatalf("admitted %d of %d new keys", admitted, n)
	}
	growth := int64(after) - int64(before)
	if growth > 256<<10 {
		t.Fatalf("heap grew %d bytes over %d keys", growth, n)
	}
	t.Logf("%d keys: Cap %d, Len %d, heap %d → %d (growth %d B)", n, tb.Cap(), tb.Len(), before, after, growth)
}

// TestHotKeysSurviveFlood: 100 hot keys sending at 10x their limit stay
// limited exactly while 100,000 one-shot keys churn through a table 4.5x
// smaller than the flood's live set.
func TestHotKeysSurviveFlood(t *testing.T) {
	for _, burst := range []int{1, 5} {
		t.Run(fmt.Sprintf("burst%d", burst), func(t *testing.T) {
			const (
				rate   = 10.0 // per key, T = 100ms
				hot    = 100
				dur    = 10 * sec
				floodN = 100_000 // 10,000 new keys/s; ~1,000 live at once
			)
			tb := mustTable(t, rate, burst, 224) // 32 buckets
			hotAdmitted := make([]int, hot)
			start := sec
			floodStep := dur / floodN // 100µs
			var flood uint64
			evictedLive := 0
			for now := start; now < start+dur; now += floodStep {
				// Every 1ms (10 flood steps) each hot key sends once: 1000/s vs 10/s.
				if (now-start)%(10*floodStep) == 0 {
					for h := range hot {
						if ok, _ := tb.Allow(keyN(1<<40+uint64(h)), now); ok {
							hotAdmitted[h]++
						}
					}
				}
				flood++
				if ok, _ := tb.Allow(keyN(flood), now); !ok {
					t.Fatal("a new flood key was denied")
				}
			}
			// One-shot keys live 100ms; at 10,000/s that is ~1,000 live keys for
			// 224 slots: live state was being evicted all the time.
			for i := range tb.buckets {
				for j := range ways {
					if tb.buckets[i].tats[j].Load() > start+dur-1 {
						evictedLive++
					}
				}
			}
			if evictedLive < tb.Cap()*9/10 {
				t.Fatalf("only %d of %d slots live at the end: no pressure", evictedLive, tb.Cap())
			}
			bound := burst + int(dur/int64(100*time.Millisecond))
			for h, n := range hotAdmitted {
				if n > bound || n < bound-1 {
					t.Fatalf("hot key %d admitted %d, want %d (limit lost under flood)", h, n, bound)
				}
			}
			t.Logf("burst %d: every hot key admitted %d (bound %d) under %d one-shot keys", burst, hotAdmitted[0], bound, floodN)
		})
	}
}

// TestTableConcurrentExact: many goroutines hammer a few shared keys and a
// stream of new keys; each shared key stays within burst + D·rate.
func TestTableConcurrentExact(t *testing.T) {
	const (
		goroutines = 16
		calls      = 4000
		burst      = 4
		keys       = 3
	)
	tb := mustTable(t, 1000, burst, 7*4) // small: inserts and evictions race with hits
	var clock atomic.Int64
	clock.Store(sec)
	var admitted [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				now := clock.Add(int64(time.Millisecond / 16))
				k := i % (keys + 1)
				if k == keys { // a one-shot key
					tb.Allow(keyN(uint64(1<<32+g*calls+i)), now)
					continue
				}
				if ok, _ := tb.Allow(keyN(uint64(k)), now); ok {
					admitted[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	d := clock.Load() - sec
	bound := int64(burst) + d/int64(time.Millisecond)
	for k := range keys {
		got := admitted[k].Load()
		// One key can be forgiven by the rare eviction races documented on
		// Table; allow a slack of burst+1 and report it.
		if got > bound+burst+1 {
			t.Fatalf("key %d admitted %d > bound %d", k, got, bound)
		}
		if float64(got) < 0.9*float64(bound) {
			t.Fatalf("key %d admitted %d < 90%% of bound %d", k, got, bound)
		}
		t.Logf("key %d admitted %d, bound %d", k, got, bound)
	}
}

func TestRuleShapes(t *testing.T) {
	shared, err := NewRule(RuleOptions{Name: "fe", Rate: 1, Burst: 2})
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := NewRule(RuleOptions{Name: "api-per-ip", Rate: 1, Burst: 2, Keyed: true, MaxKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	if shared.Keyed() || !keyed.Keyed() || keyed.Name() != "api-per-ip" || keyed.Table().Cap() != 105 {
		t.Fatal("rule shape")
	}
	a := HashIP(netip.MustParseAddr("10.0.0.1"))
	b := HashIP(netip.MustParseAddr("10.0.0.2"))
	if a != HashIP(netip.MustParseAddr("::ffff:10.0.0.1")) {
		t.Fatal("HashIP: mapped form differs")
	}
	now := sec
	// Shared: the key is ignored; 2 in total.
	n := 0
	for _, k := range []uint64{a, b, a, b} {
		if ok, _ := shared.Allow(k, now); ok {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("shared admitted %d, want 2", n)
	}
	// Keyed: 2 per key.
	n = 0
	for _, k := range []uint64{a, b, a, b, a, b} {
		if ok, _ := keyed.Allow(k, now); ok {
			n++
		}
	}
	if n != 4 {
		t.Fatalf("keyed admitted %d, want 4", n)
	}
	_, wait := keyed.Allow(HashBytes([]byte("10.0.0.1")), now)
	if wait != 0 {
		t.Fatal("a different key (header value) shares state")
	}
	_, wait = keyed.Allow(a, now+int64(300*time.Millisecond))
	if RetryAfterSeconds(wait) != 1 || wait != 700*time.Millisecond {
		t.Fatalf("retry after %v", wait)
	}
	if _, err := NewTable(TableOptions{Rate: 1, MaxKeys: -1}); err == nil {
		t.Fatal("negative MaxKeys accepted")
	}
}

// TestTableConcurrentFirstInsert: goroutines that all miss a new key at the
// same moment give it one slot and one budget: exactly burst events are
// admitted. Without the reserve-then-check insert two goroutines could each
// claim a slot for the key and admit one event more than the burst (seen as
// 1001 of 1000 in internal/guard's TestConcurrentExactBurst, 3 runs in 30).
func TestTableConcurrentFirstInsert(t *testing.T) {
	const goroutines, burst = 8, 4
	tb := mustTable(t, 1.0/3600, burst, 1024)
	now := int64(time.Second)
	for round := uint64(0); round < 2000; round++ {
		k := keyN(round)
		var admitted atomic.Int64
		var start, wg sync.WaitGroup
		start.Add(1)
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start.Wait()
				if ok, _ := tb.Allow(k, now); ok {
					admitted.Add(1)
				}
			}()
		}
		start.Done()
		wg.Wait()
		if n := admitted.Load(); n != burst {
			t.Fatalf("round %d: %d of %d concurrent first events admitted, want the burst %d", round, n, goroutines, burst)
		}
	}
}
