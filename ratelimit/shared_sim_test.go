package ratelimit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
)

// simCluster is N instances of one shared, frontend-wide rule on a virtual
// clock (1 ms steps), with what a loaded machine does to the sync cycle:
// cycles that start late, and store round trips that take time (the
// requests of every instance go on meanwhile, and the other instances'
// cycles run). Time is only ever an argument: the run is deterministic.
type simCluster struct {
	now     int64
	store   *memStore
	rules   []*Rule
	syncers []*Syncer
	tick    []int64 // when instance i's ticker fires next
	due     []int64 // when instance i's next cycle starts (-1: no tick read yet)
	busy    []bool  // instance i's cycle is in flight
	got     []int
	asked   []int
	rng     *rand.Rand
	// late is how long after its tick instance i's cycle starts; up and
	// down are the halves of its store round trip.
	late, up, down func(i int) int64
	// load is how many requests instance i is asked in the step ending now.
	load func(i int) int
	// stalled reports that instance i's process is not running: its
	// requests wait (asked at once when it runs again) and so does its cycle.
	stalled func(i int) bool
	backlog []int
	// lone is one local limit of the same rate and burst asked every
	// request of every instance: what a single proxy would admit.
	lone    *Limiter
	loneGot int
}

const simStep = int64(time.Millisecond)

func newSimCluster(t *testing.T, n int, rate float64, burst int) *simCluster {
	c := &simCluster{now: int64(time.Hour), rng: rand.New(rand.NewPCG(1, 2))}
	c.store = newMemStore(func() int64 { return c.now + 7*int64(time.Hour) }) // the store's own clock
	for i := range n {
		r, err := NewRule(RuleOptions{Name: "api", Rate: rate, Burst: burst, Shared: true, ID: "f/web/api"})
		if err != nil {
			t.Fatal(err)
		}
		s := NewSyncer(SyncerOptions{Store: &simView{c: c, i: i, v: view{s: c.store, id: fmt.Sprint("i", i)}},
			Now: func() int64 { return c.now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		s.SetRules([]*Rule{r})
		c.rules, c.syncers = append(c.rules, r), append(c.syncers, s)
		c.tick = append(c.tick, c.now+int64(i)*int64(100*time.Millisecond)/int64(n))
		c.due = append(c.due, -1)
		c.busy = append(c.busy, false)
	}
	c.got, c.asked, c.backlog = make([]int, n), make([]int, n), make([]int, n)
	c.stalled = func(int) bool { return false }
	c.lone, _ = NewLimiter(rate, burst)
	zero := func(int) int64 { return 0 }
	c.late, c.up, c.down = zero, zero, zero
	return c
}

// simView is instance i's Store: the store answers up after the call, on
// its clock of that moment, and the answer arrives down later.
type simView struct {
	c *simCluster
	i int
	v view
}

func (s *simView) Sync(ctx context.Context, items []SyncItem) error {
	s.c.stepTo(s.c.now + s.c.up(s.i))
	err := s.v.Sync(ctx, items)
	s.c.stepTo(s.c.now + s.c.down(s.i))
	return err
}

func (s *simView) Heartbeat(ctx context.Context) (int, error) { return s.v.Heartbeat(ctx) }

// stepTo advances the clock to t: every step, each instance is asked its
// load, and an instance whose ticker fired runs a cycle late(i) after the
// tick, once its previous cycle is done (a time.Ticker keeps one tick and
// drops those a slow reader missed).
func (c *simCluster) stepTo(t int64) {
	for c.now < t {
		c.now += simStep
		for i, r := range c.rules {
			n := c.load(i)
			if c.stalled(i) {
				c.backlog[i] += n
				continue
			}
			n, c.backlog[i] = n+c.backlog[i], 0
			for range n {
				c.asked[i]++
				if ok, _ := c.lone.Allow(c.now); ok {
					c.loneGot++
				}
				if ok, _ := r.Allow(0, c.now); ok {
					c.got[i]++
				}
			}
		}
		for i := range c.rules {
			if c.now >= c.tick[i] {
				if c.due[i] < 0 { // a tick is buffered until the loop reads it
					c.due[i] = c.tick[i] + c.late(i)
				}
				for c.tick[i] <= c.now {
					c.tick[i] += int64(100 * time.Millisecond)
				}
			}
			if c.busy[i] || c.due[i] < 0 || c.stalled(i) || c.now < c.due[i] {
				continue
			}
			c.due[i], c.busy[i] = -1, true
			c.syncers[i].Cycle(context.Background())
			c.busy[i] = false
		}
	}
}

// run advances d and returns the events admitted and asked meanwhile.
func (c *simCluster) run(d time.Duration) (admitted, asked int) {
	g0, a0 := sum(c.got), sum(c.asked)
	c.stepTo(c.now + int64(d))
	return sum(c.got) - g0, sum(c.asked) - a0
}

// TestSharedRateUnderLateSyncs: three instances each asked 240/s of a
// shared 150/s limit admit 150/s together — with cycles on time and instant
// round trips, and just as well when every cycle starts up to 60 ms late and
// the store's answers come back up to 60 ms late (a loaded machine).
func TestSharedRateUnderLateSyncs(t *testing.T) {
	const rate, burst = 150.0, 15
	cases := []struct {
		name           string
		late, up, down int64 // upper bounds (ms), drawn uniformly per cycle
	}{
		{"on time", 0, 0, 0},
		{"late cycles", 60, 0, 0},
		{"slow answers", 0, 2, 60},
		{"late and slow", 60, 20, 60},
		{"very late", 250, 30, 90},
	}
	for _, tc := range cases {
		c := newSimCluster(t, 3, rate, burst)
		ms := func(bound int64) func(int) int64 {
			return func(int) int64 { return c.rng.Int64N(bound+1) * simStep }
		}
		c.late, c.up, c.down = ms(tc.late), ms(tc.up), ms(tc.down)
		c.load = func(int) int { return b2i(c.rng.IntN(1000) < 240) } // 240/s each
		c.run(3 * time.Second)                                        // settle
		got, asked := c.run(30 * time.Second)
		perS := float64(got) / 30
		t.Logf("%s: %.1f/s admitted of %.1f/s asked (limit %.0f/s)", tc.name, perS, float64(asked)/30, rate)
		if perS < rate*0.98 || perS > rate*1.02 {
			t.Errorf("%s: %.1f/s admitted, want %.0f/s ±2%%", tc.name, perS, rate)
		}
	}
}

// TestSharedRateStalls: an instance whose process stops running for a while
// (its requests wait, its cycle too) costs the cluster nothing — the others
// spend its share through the shared debt; only when the requests stop
// reaching every instance at once is capacity lost, and then no more than
// one local limit asked the same requests loses.
func TestSharedRateStalls(t *testing.T) {
	const rate, burst = 150.0, 15
	for _, tc := range []struct {
		name  string
		who   int // instance stalled; 3: each in turn; -1: all at once
		stall int64
	}{{"one instance 300ms of every second", 0, 300}, {"each in turn 200ms", 3, 200}, {"all at once 300ms", -1, 300}} {
		c := newSimCluster(t, 3, rate, burst)
		c.load = func(int) int { return b2i(c.rng.IntN(1000) < 240) }
		c.late = func(int) int64 { return c.rng.Int64N(30) * simStep }
		c.up = func(int) int64 { return simStep }
		c.down = func(int) int64 { return c.rng.Int64N(30) * simStep }
		c.stalled = func(i int) bool {
			ph := (c.now / simStep) % 1000
			switch tc.who {
			case -1:
				return ph < tc.stall
			case 3:
				return ph >= int64(i)*333 && ph < int64(i)*333+tc.stall
			}
			return i == tc.who && ph < tc.stall
		}
		c.run(3 * time.Second)
		l0 := c.loneGot
		got, asked := c.run(30 * time.Second)
		perS, lone := float64(got)/30, float64(c.loneGot-l0)/30
		t.Logf("%s: %.1f/s admitted of %.1f/s asked (one local limit asked the same: %.1f/s)", tc.name, perS, float64(asked)/30, lone)
		if tc.who >= 0 && (perS < rate*0.98 || perS > rate*1.02) {
			t.Errorf("%s: %.1f/s admitted, want %.0f/s ±2%%", tc.name, perS, rate)
		}
		if tc.who < 0 && perS < lone {
			t.Errorf("%s: %.1f/s admitted, less than one local limit (%.1f/s)", tc.name, perS, lone)
		}
	}
}
