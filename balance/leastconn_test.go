package balance

import "testing"

func TestLeastConnections(t *testing.T) {
	ss := mkServers(1, 1, 1)
	b := New(Options{Algorithm: LeastConnections}, ss)
	var held []*Server
	active := func() [3]int64 { return [3]int64{ss[0].Active(), ss[1].Active(), ss[2].Active()} }
	pick := func(want int, after [3]int64) {
		t.Helper()
		s := b.Pick(0, nil)
		if s == nil {
			t.Fatalf("Pick = nil, want server %d", want)
		}
		if got := indexOf(t, ss, s); got != want || active() != after {
			t.Fatalf("Pick = server %d (active %v), want %d (active %v)", got, active(), want, after)
		}
		held = append(held, s)
	}
	// The tie-break cursor advances by one per Pick (0, 1, 2, 0, ...) and
	// names the server the scan starts from; the first minimum wins.
	pick(0, [3]int64{1, 0, 0}) // all idle: cursor 0
	pick(1, [3]int64{1, 1, 0}) // 1 and 2 idle: cursor 1
	pick(2, [3]int64{1, 1, 1}) // only 2 idle
	held[1].Release()          // [1 0 1]; the slot is cleared below
	pick(1, [3]int64{1, 1, 1}) // cursor 0, but 1 is the least loaded
	pick(1, [3]int64{1, 2, 1}) // all equal: cursor 1
	pick(2, [3]int64{1, 2, 2}) // 0 and 2 tie: cursor 2
	pick(0, [3]int64{2, 2, 2}) // 0 is the least loaded
	held[5].Release()          // a server 2 connection: [2 2 1]
	held[0].Release()          // a server 0 connection: [1 2 1]
	pick(2, [3]int64{1, 2, 2}) // 0 and 2 tie at 1: cursor 1 scans 1, 2, 0
	pick(0, [3]int64{2, 2, 2}) // 0 is the least loaded
	held[1], held[5], held[0] = nil, nil, nil
	for _, s := range held {
		if s != nil {
			s.Release()
		}
	}
	assertZero(t, b, ss)
}

// TestLeastConnectionsIdleShare: with connections released at once every
// server is idle at each Pick, and the tie-break shares them in turn.
func TestLeastConnectionsIdleShare(t *testing.T) {
	ss := mkServers(1, 1, 1, 1)
	b := New(Options{Algorithm: LeastConnections}, ss)
	for i := range 40 {
		if got := pickRelease(t, b, 0, ss); got != i%4 {
			t.Fatalf("pick %d: server %d, want %d", i, got, i%4)
		}
	}
}
