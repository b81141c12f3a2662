package balance

import "math/bits"

// MaxServers is the largest number of servers one Balancer serves; [New] and
// [Balancer.Update] ignore servers past it. It is the capacity of [Tried]
// (config validation rejects backends with more servers).
const MaxServers = 256

// Tried is the set of servers already tried for one connection or request,
// so that a retry goes elsewhere. The zero value is empty; keep it on the
// stack or in the per-request state, pass the same *Tried to every Pick of
// that request, and Reset it before reusing it for another request.
//
// It is a 256-bit mask over the Balancer's server slots (see [MaxServers]).
// A server keeps its slot across Set rebuilds, across [Balancer.Update], and
// when Update removes it and a later Update adds it back, so a reload between
// two attempts never makes Pick return an already-tried server. (Only after
// more than MaxServers distinct servers have passed through one Balancer is
// the slot of a removed server given to a new one; a Tried holding that slot
// then skips the new server: conservative, never a repeat.) A Tried is
// meaningful for one Balancer only and is not safe for concurrent use.
type Tried struct {
	bits [MaxServers / 64]uint64
}

// Reset empties t.
func (t *Tried) Reset() { *t = Tried{} }

// Len returns the number of servers recorded in t.
func (t *Tried) Len() int {
	n := 0
	for _, w := range t.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

func (t *Tried) has(slot uint8) bool { return t.bits[slot>>6]&(1<<(slot&63)) != 0 }
func (t *Tried) add(slot uint8)      { t.bits[slot>>6] |= 1 << (slot & 63) }

// countNotIn returns how many slots of m are not in t.
func (t *Tried) countNotIn(m *[MaxServers / 64]uint64) int {
	n := 0
	for i, w := range m {
		n += bits.OnesCount64(w &^ t.bits[i])
	}
	return n
}
