// Package gate owns connection limits: a counter with a ceiling that many
// goroutines take from and give back to without locks. The process-wide
// max_connections gate is shared by every l4 and l7 frontend.
package gate

import (
	"math"
	"sync/atomic"
)

// Gate admits at most Max holders at a time. The zero value admits nobody;
// use New. Methods are safe for concurrent use and never allocate.
type Gate struct {
	n   atomic.Int64
	max atomic.Int64
}

// New returns a Gate with ceiling max; max <= 0 means unlimited.
func New(max int64) *Gate {
	g := &Gate{}
	g.SetMax(max)
	return g
}

// SetMax changes the ceiling (reload). Holders above a lowered ceiling keep
// their place; new ones wait until the count is below it. max <= 0 means unlimited.
func (g *Gate) SetMax(max int64) {
	if max <= 0 {
		max = math.MaxInt64
	}
	g.max.Store(max)
}

// Max returns the ceiling (math.MaxInt64 when unlimited).
func (g *Gate) Max() int64 { return g.max.Load() }

// TryAcquire takes a place and reports whether one was free.
func (g *Gate) TryAcquire() bool {
	if g.n.Add(1) > g.max.Load() {
		g.n.Add(-1)
		return false
	}
	return true
}

// Release gives a place back. Each successful TryAcquire must be paired with one Release.
func (g *Gate) Release() { g.n.Add(-1) }

// Count returns the number of current holders.
func (g *Gate) Count() int64 { return g.n.Load() }
