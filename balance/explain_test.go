package balance

import (
	"math/rand/v2"
	"testing"
)

// Peek names the server the next Pick returns, under every algorithm and
// every server state, and moves nothing.
func TestPeekAgreesWithPick(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"round_robin", Options{Algorithm: RoundRobin}},
		{"weighted_round_robin", Options{Algorithm: WeightedRoundRobin}},
		{"least_connections", Options{Algorithm: LeastConnections}},
		{"ip_hash", Options{Algorithm: IPHash}},
		{"ip_hash_bounded", Options{Algorithm: IPHash, HashBalanceFactor: 1.25}},
		{"max_conns", Options{Algorithm: WeightedRoundRobin, MaxConnsPerServer: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			ss := mkServers(1, 2, 3, 4, 5, 6, 7, 8)
			b := New(c.opts, ss)
			var held []*Server
			for i := 0; i < 3000; i++ {
				if i%100 == 0 { // shuffle the states now and then
					for _, s := range ss {
						s.SetActiveUp(rng.IntN(5) != 0)
						s.SetDraining(rng.IntN(8) == 0)
						s.SetEnabled(rng.IntN(8) != 0)
						if rng.IntN(10) == 0 {
							s.SetPassiveHalfOpen()
						}
					}
				}
				key := rng.Uint64()
				rr, act := b.rr.Load(), b.Active()
				p := b.Peek(key, nil)
				if p2 := b.Peek(key, nil); p2 != p || b.rr.Load() != rr || b.Active() != act {
					t.Fatalf("step %d: Peek moved something", i)
				}
				got := b.Pick(key, nil)
				if got != p {
					t.Fatalf("step %d: Peek said %v, Pick gave %v", i, name(p), name(got))
				}
				if got != nil {
					held = append(held, got)
				}
				for len(held) > 0 && (len(held) > 6 || rng.IntN(2) == 0) { // vary Active() for least_connections
					j := rng.IntN(len(held))
					held[j].Release()
					held = append(held[:j], held[j+1:]...)
				}
			}
		})
	}
}

func name(s *Server) string {
	if s == nil {
		return "nil"
	}
	return s.Addr()
}

// Explain gives each server's reasons, and Peek's pick.
func TestExplainReasons(t *testing.T) {
	ss := mkServers(1, 1, 1, 1, 1, 1, 0, 1)
	b := New(Options{Algorithm: RoundRobin, MaxConnsPerServer: 1}, ss)
	ss[0].SetActiveUp(false)
	ss[1].SetPassiveUp(false)
	ss[2].SetPassiveHalfOpen()
	ss[3].SetDraining(true)
	ss[3].SetEnabled(false)
	ss[4].SetPassiveHalfOpen()
	// Round robin over the eligible ones: ss[2]'s trial, ss[4]'s trial, then
	// ss[5] (which is then at its limit of 1).
	for _, want := range []*Server{ss[2], ss[4], ss[5]} {
		if s := b.Pick(0, nil); s != want {
			t.Fatalf("pick %v, want %v", name(s), name(want))
		}
	}
	pick, es := b.Explain(0)
	want := []string{
		"down (active health check)",
		"down (passive check: failures on real traffic)",
		"half-open: its one trial request is in flight, at max_connections_per_server",
		"draining, disabled",
		"half-open: its one trial request is in flight, at max_connections_per_server",
		"at max_connections_per_server",
		"weight 0",
		"eligible",
	}
	for i, e := range es {
		if e.Server != ss[i] || e.Why.String() != want[i] {
			t.Errorf("server %d: %q, want %q", i, e.Why, want[i])
		}
	}
	if pick != ss[7] {
		t.Fatalf("pick %v, want %v", name(pick), name(ss[7]))
	}
}
