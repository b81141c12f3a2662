package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"
)

// memStore is the Redis script's semantics in memory: one shared TAT per
// rule and key on the store's clock, and when each instance last synced it.
type memStore struct {
	mu    sync.Mutex
	now   func() int64
	down  bool
	keys  map[string]*memKey
	beats map[string]int64
	syncs int
}

type memKey struct {
	tat  int64
	seen map[string]int64
}

const memWindow = 300 * time.Millisecond // 3·S

func newMemStore(now func() int64) *memStore {
	return &memStore{now: now, keys: map[string]*memKey{}, beats: map[string]int64{}}
}

// view is one instance's Store.
type view struct {
	s  *memStore
	id string
}

var errDown = errors.New("store down")

func (v *view) Sync(_ context.Context, items []SyncItem) error {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errDown
	}
	s.syncs++
	now := s.now()
	for i := range items {
		it := &items[i]
		name := fmt.Sprintf("%s:%x", it.Rule, it.Key)
		k := s.keys[name]
		if k == nil {
			k = &memKey{seen: map[string]int64{}}
			s.keys[name] = k
		}
		k.tat = max(k.tat, now-it.Age) + int64(it.N)*it.Interval
		k.seen[v.id] = now
		it.Active = 0
		for id, t := range k.seen {
			if t >= now-int64(memWindow) {
				it.Active++
			} else {
				delete(k.seen, id)
			}
		}
		it.Debt = k.tat - now
	}
	return nil
}

func (v *view) Heartbeat(context.Context) (int, error) {
	s := v.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return 0, errDown
	}
	now := s.now()
	s.beats[v.id] = now
	n := 0
	for _, t := range s.beats {
		if t >= now-int64(3*time.Second) {
			n++
		}
	}
	return n, nil
}

// cluster is N instances of one shared rule on a virtual clock.
type cluster struct {
	now      int64
	store    *memStore
	rules    []*Rule
	syncers  []*Syncer
	phase    []int64
	fallback []bool
}

func newCluster(t *testing.T, n int, o RuleOptions) *cluster {
	c := &cluster{now: int64(time.Hour)}
	c.store = newMemStore(func() int64 { return c.now + 5*int64(time.Hour) }) // the store's clock differs
	o.Shared, o.ID = true, "f/web/r"
	for i := range n {
		r, err := NewRule(o)
		if err != nil {
			t.Fatal(err)
		}
		i := i
		c.fallback = append(c.fallback, false)
		s := NewSyncer(SyncerOptions{Store: &view{s: c.store, id: fmt.Sprint("i", i)}, Now: func() int64 { return c.now },
			Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
			OnFallback: func(on bool, _ int) { c.fallback[i] = on }})
		s.SetRules([]*Rule{r})
		c.rules, c.syncers = append(c.rules, r), append(c.syncers, s)
		c.phase = append(c.phase, int64(i)*int64(100/n)*int64(time.Millisecond)) // cycles out of step
	}
	return c
}

// run advances d in 1 ms steps; each step instance i is asked load(i)
// times for key; syncers cycle every 100 ms at their phase. It returns the
// events admitted per instance.
func (c *cluster) run(d time.Duration, key uint64, load func(i int) int) []int {
	got := make([]int, len(c.rules))
	const step = int64(time.Millisecond)
	for end := c.now + int64(d); c.now < end; c.now += step {
		for i, r := range c.rules {
			for range load(i) {
				if ok, _ := r.Allow(key, c.now); ok {
					got[i]++
				}
			}
			if (c.now-c.phase[i])%int64(100*time.Millisecond) == 0 {
				c.syncers[i].Cycle(context.Background())
			}
		}
	}
	return got
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// Three instances under an even overload admit the cluster-wide limit, not
// three times it; and the bound of the package doc holds over every window.
func TestSharedEvenLoad(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		const rate, burst = 300.0, 30
		c := newCluster(t, 3, RuleOptions{Name: "r", Rate: rate, Burst: burst, Keyed: keyed})
		got := c.run(10*time.Second, 42, func(int) int { return 1 }) // 1000/s each: 10× the limit
		total := sum(got)
		want := rate*10 + burst
		if d := math.Abs(float64(total)-want) / want; d > 0.03 {
			t.Errorf("keyed=%v: cluster admitted %d (%v per instance) in 10s, want %.0f ±3%%", keyed, total, got, want)
		}
		bound := rate*10 + burst + 2*(burst+rate*0.1)
		if float64(total) > bound {
			t.Errorf("keyed=%v: admitted %d > bound %.0f", keyed, total, bound)
		}
		for i, g := range got {
			if g < total/3*8/10 || g > total/3*12/10 {
				t.Errorf("keyed=%v: instance %d admitted %d of %d: shares are uneven", keyed, i, g, total)
			}
		}
		t.Logf("keyed=%v: %d admitted (%v), limit %.0f", keyed, total, got, want)
	}
}

// Without sharing (each instance alone) the same load gets three times the
// limit: what the store prevents.
func TestSharedBaselineUnshared(t *testing.T) {
	var total int
	for range 3 {
		r, _ := NewRule(RuleOptions{Name: "r", Rate: 300, Burst: 30})
		for now := int64(time.Hour); now < int64(time.Hour+10*time.Second); now += int64(time.Millisecond) {
			if ok, _ := r.Allow(0, now); ok {
				total++
			}
		}
	}
	if total < 3*3000 {
		t.Fatalf("unshared: %d", total)
	}
}

// One instance carries 90% of the load of a key: the cluster still gets
// (nearly) the whole limit, the busy instance most of it.
func TestSharedUnevenLoad(t *testing.T) {
	const rate, burst = 300.0, 300
	c := newCluster(t, 3, RuleOptions{Name: "r", Rate: rate, Burst: burst, Keyed: true})
	got := c.run(10*time.Second, 7, func(i int) int {
		if i == 0 {
			return 9 // 9000/s
		}
		if c.now%int64(10*time.Millisecond) == 0 {
			return 1 // 100/s each
		}
		return 0
	})
	total := sum(got)
	want := rate*10 + burst
	if float64(total) < want*0.9 || float64(total) > want*1.03 {
		t.Errorf("cluster admitted %d (%v), want %.0f (-10%%, +3%%)", total, got, want)
	}
	t.Logf("uneven: %d admitted (%v), limit %.0f", total, got, want)
}

// A key used by one instance only keeps its whole burst there: it is never
// divided by the number of instances.
func TestSharedSingleInstanceKeepsBurst(t *testing.T) {
	c := newCluster(t, 3, RuleOptions{Name: "r", Rate: 10, Burst: 20, Keyed: true})
	c.run(time.Second, 1, func(i int) int { return b2i(i == 0) }) // syncs: only instance 0 active
	c.now += int64(10 * time.Second)                              // refill
	c.run(300*time.Millisecond, 2, func(int) int { return 0 })    // cycles pass
	n := 0
	for range 30 {
		if ok, _ := c.rules[0].Allow(1, c.now); ok {
			n++
		}
	}
	if n != 20 {
		t.Errorf("a burst of 30 on the only active instance admitted %d, want 20 (the whole burst)", n)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Store down: each instance enforces limit/N locally (the cluster keeps
// close to the limit), says so once, and shares again when it is back.
func TestSharedFallbackAndRecovery(t *testing.T) {
	const rate, burst = 300.0, 30
	c := newCluster(t, 3, RuleOptions{Name: "r", Rate: rate, Burst: burst})
	c.run(2*time.Second, 0, func(int) int { return 1 }) // heartbeats: 3 instances known
	c.store.mu.Lock()
	c.store.down = true
	c.store.mu.Unlock()
	c.run(200*time.Millisecond, 0, func(int) int { return 1 }) // every instance notices
	for i, s := range c.syncers {
		if on, n := s.Fallback(); !on || n != 3 || !c.fallback[i] {
			t.Fatalf("instance %d: fallback %v share %d (callback %v), want on with 3", i, on, n, c.fallback[i])
		}
	}
	got := c.run(10*time.Second, 0, func(int) int { return 1 })
	if total := sum(got); math.Abs(float64(total)-rate*10)/(rate*10) > 0.05 {
		t.Errorf("in fallback the cluster admitted %d (%v) in 10s, want %.0f ±5%%", total, got, rate*10)
	}
	c.store.mu.Lock()
	c.store.down = false
	c.store.mu.Unlock()
	c.run(200*time.Millisecond, 0, func(int) int { return 1 })
	for i, s := range c.syncers {
		if on, _ := s.Fallback(); on || c.fallback[i] {
			t.Fatalf("instance %d still in fallback after the store came back", i)
		}
	}
	got = c.run(10*time.Second, 0, func(int) int { return 1 })
	if total := sum(got); math.Abs(float64(total)-rate*10)/(rate*10) > 0.05 {
		t.Errorf("after recovery the cluster admitted %d (%v) in 10s, want %.0f ±5%%", total, got, rate*10)
	}
}

// A rule that is not shared is never synced, and a shared rule's hot path
// counts what the syncer needs.
func TestSyncerIgnoresLocalRules(t *testing.T) {
	var now int64 = int64(time.Hour)
	st := newMemStore(func() int64 { return now })
	s := NewSyncer(SyncerOptions{Store: &view{s: st, id: "a"}, Now: func() int64 { return now }})
	local, _ := NewRule(RuleOptions{Name: "l", Rate: 10, Burst: 1})
	shared, _ := NewRule(RuleOptions{Name: "s", Rate: 10, Burst: 1, Keyed: true, Shared: true, ID: "x"})
	s.SetRules([]*Rule{local, shared})
	local.Allow(0, now)
	shared.Allow(5, now)
	shared.Allow(5, now) // refused: still one event
	s.Cycle(context.Background())
	if len(st.keys) != 1 || st.keys["x:5"] == nil || st.keys["x:5"].tat != now+int64(100*time.Millisecond) {
		t.Fatalf("store keys after one cycle: %v", st.keys)
	}
	if _, err := NewRule(RuleOptions{Name: "s", Rate: 1, Shared: true}); err == nil {
		t.Error("a shared rule without an ID was accepted")
	}
}

// stuckStore answers nothing until the cycle's deadline.
type stuckStore struct{ entered chan struct{} }

func (s stuckStore) Sync(ctx context.Context, _ []SyncItem) error {
	<-ctx.Done()
	return ctx.Err()
}

func (s stuckStore) Heartbeat(ctx context.Context) (int, error) {
	close(s.entered)
	<-ctx.Done()
	return 0, ctx.Err()
}

// A reload (SetRules) never waits for a cycle stuck on the store, and a
// rule set meanwhile ends up in the mode the cycle chose (fallback).
func TestSyncerSetRulesDoesNotWait(t *testing.T) {
	st := stuckStore{entered: make(chan struct{})}
	s := NewSyncer(SyncerOptions{Store: st, Every: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan struct{})
	go func() { s.Cycle(context.Background()); close(done) }()
	<-st.entered
	r, _ := NewRule(RuleOptions{Name: "r", Rate: 10, Burst: 1, Shared: true, ID: "r"})
	start := time.Now()
	s.SetRules([]*Rule{r})
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("SetRules waited %v for a stuck cycle", d)
	}
	<-done
	if on, _ := s.Fallback(); !on || r.shared().fallback.Load() != 1 {
		t.Fatalf("after the failed cycle: fallback %v, rule share %d", on, r.shared().fallback.Load())
	}
}
