package balance

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestConcurrentPickFlipUpdate(t *testing.T) {
	cases := []struct {
		name string
		opts Options
	}{
		{"round_robin", Options{Algorithm: RoundRobin}},
		{"weighted_round_robin", Options{Algorithm: WeightedRoundRobin, SlowStart: time.Second}},
		{"least_connections", Options{Algorithm: LeastConnections, MaxConnsPerServer: 3, SlowStart: time.Second}},
		{"ip_hash", Options{Algorithm: IPHash}},
		{"ip_hash_bounded", Options{Algorithm: IPHash, HashBalanceFactor: 1.25, MaxConnsPerServer: 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8)
			b := New(tc.opts, ss)
			const pickers, iters = 4, 3000
			var wg sync.WaitGroup
			done := make(chan struct{})
			errs := make(chan string, pickers)
			for g := range pickers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 1))
					var ring [6]*Server
					for i := range iters {
						var tr Tried
						seen := [3]*Server{}
						for attempt := range 3 {
							s := b.Pick(r.Uint64(), &tr)
							if s == nil {
								break
							}
							for _, x := range seen[:attempt] {
								if x == s {
									errs <- "Pick returned an already-tried server"
									return
								}
							}
							seen[attempt] = s
							if attempt < 2 && r.IntN(3) == 0 { // "failed": retry elsewhere
								s.Release()
								continue
							}
							if old := ring[i%len(ring)]; old != nil {
								old.Release()
							}
							ring[i%len(ring)] = s
							break
						}
					}
					for _, s := range ring {
						if s != nil {
							s.Release()
						}
					}
				}()
			}
			flips := make(chan struct{})
			go func() {
				defer close(flips)
				r := rand.New(rand.NewPCG(99, 1))
				now := time.Unix(100, 0)
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					s := ss[r.IntN(len(ss))]
					switch r.IntN(9) {
					case 0:
						s.SetActiveUp(r.IntN(2) == 0)
					case 1:
						s.SetPassiveUp(r.IntN(2) == 0)
					case 2:
						s.SetDraining(r.IntN(4) == 0)
					case 3:
						s.SetEnabled(r.IntN(4) != 0)
					case 4:
						s.SetWeight(r.IntN(9))
					case 5:
						lo := r.IntN(3)
						b.Update(tc.opts, ss[lo:])
					case 6:
						now = now.Add(100 * time.Millisecond)
						b.Tick(now)
					case 7:
						s.SetPassiveHalfOpen()
					case 8:
						s.RearmTrial()
					}
					if i%50 == 0 {
						time.Sleep(100 * time.Microsecond) // let pickers run between bursts
					}
				}
			}()
			wg.Wait()
			close(done)
			<-flips
			close(errs)
			for e := range errs {
				t.Fatal(e)
			}
			assertZero(t, b, ss)
			assertSetMatchesState(t, b)
		})
	}
}

// assertSetMatchesState: after concurrent state changes the published Set
// reflects the final state of every server (no change lost by coalescing).
func assertSetMatchesState(t *testing.T, b *Balancer) {
	t.Helper()
	st := b.cur.Load()
	var want []uint8
	for i, s := range st.servers {
		if s.state.Load()&^stTrial == 0 && s.Weight() > 0 {
			want = append(want, uint8(i))
		}
	}
	var got []uint8
	for _, c := range st.elig {
		got = append(got, c.idx)
	}
	if string(want) != string(got) {
		t.Fatalf("published Set has eligible %v, server states say %v", got, want)
	}
}

func TestConcurrentStateChangesCoalesce(t *testing.T) {
	ss := mkServers(equalWeights(16)...)
	b := New(Options{Algorithm: WeightedRoundRobin}, ss)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for range 2000 {
				s := ss[r.IntN(len(ss))]
				s.SetActiveUp(r.IntN(2) == 0)
				s.SetWeight(r.IntN(3))
			}
		}()
	}
	wg.Wait()
	assertSetMatchesState(t, b)
}
