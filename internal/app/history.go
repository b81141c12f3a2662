package app

import (
	"math/bits"
	"sync"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/state"
)

// Health history (issue 22): per server, the last historyLen transitions
// with their time, source and reason — fed from the one place that turns
// health changes into events (addEvent), so the history, the events ring
// and the stream always say the same — and the share of the last hour the
// server spent up, from the sampler's once-a-second view.

// historyLen is how many transitions a server keeps.
const historyLen = 100

// history is one server's transition ring; part of srvState, kept across
// reloads with the server. Appended to from checker and sweeper
// goroutines and API changes (a lock: once per transition, never per
// request).
type history struct {
	mu   sync.Mutex
	ring [historyLen]state.HealthTransition
	n    int // kept, <= historyLen
	next int
}

func (h *history) add(t state.HealthTransition) {
	h.mu.Lock()
	h.ring[h.next] = t
	h.next = (h.next + 1) % historyLen
	h.n = min(h.n+1, historyLen)
	h.mu.Unlock()
}

// list returns the kept transitions, oldest first.
func (h *history) list() []state.HealthTransition {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]state.HealthTransition, 0, h.n)
	for i := range h.n {
		out = append(out, h.ring[(h.next-h.n+i+historyLen)%historyLen])
	}
	return out
}

// upSamples is the window of the up ratio: one sample a second for an hour.
const upSamples = 3600

// upRing is a ring of one bit per sample (1 = up), owned by the sampler.
type upRing struct {
	bits [(upSamples + 63) / 64]uint64
	n    int // samples kept, <= upSamples
	next int
	ones int
}

func (r *upRing) add(up bool) {
	w, b := r.next/64, uint(r.next%64)
	if r.n == upSamples && r.bits[w]&(1<<b) != 0 {
		r.ones--
	}
	r.bits[w] &^= 1 << b
	if up {
		r.bits[w] |= 1 << b
		r.ones++
	}
	r.next = (r.next + 1) % upSamples
	r.n = min(r.n+1, upSamples)
}

// ratio is the share of kept samples that were up (1 before the first).
func (r *upRing) ratio() float64 {
	if r.n == 0 {
		return 1
	}
	return float64(r.ones) / float64(r.n)
}

// count recounts the ones (tests).
func (r *upRing) count() (n int) {
	for _, w := range r.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// recordHistory appends a health event to its server's history. The
// server is found in the published view (lock-free: hooks run on checker
// goroutines that a.mu's holder may be waiting for).
func (a *App) recordHistory(e *state.Event) {
	if e.Type != state.EventHealth || e.Server == "" {
		return
	}
	p := a.pub.Load()
	if p == nil {
		return
	}
	for i := range p.bes {
		if p.bes[i].name != e.Backend {
			continue
		}
		for _, ps := range p.bes[i].servers {
			if ps.s.Addr() == e.Server {
				ps.st.hist.add(state.HealthTransition{Time: e.Time, Source: e.Source, State: e.State, Reason: e.Reason})
				return
			}
		}
	}
}

// History is state.HistoryReader: the server's last transitions, oldest
// first (nil when there is no such server).
func (c *control) History(backend, address string) []state.HealthTransition {
	p := c.a.pub.Load()
	for i := range p.bes {
		if p.bes[i].name != backend {
			continue
		}
		for _, ps := range p.bes[i].servers {
			if ps.s.Addr() == address {
				return ps.st.hist.list()
			}
		}
	}
	return nil
}

// flapHook is a backend's flap-damping hook: each hold-out and each
// return is a health event (source "damping") and so a history entry.
func (a *App) flapHook(backend string) func(t health.DampTarget, damped bool, reason string) {
	return func(t health.DampTarget, damped bool, reason string) {
		e := state.Event{Type: state.EventHealth, Backend: backend, Server: t.Addr(), Source: "damping", Reason: reason}
		if damped {
			e.Severity, e.State = "warn", state.HealthDamped
			e.Message = "server " + t.Addr() + " of backend " + backend + " is held out by flap damping: " + reason
			a.setReason(t, reason)
		} else {
			e.Severity, e.State = "info", state.HealthDown
			if s, ok := t.(*balance.Server); ok && s.Healthy() {
				e.State = state.HealthUp
			}
			e.Message = "server " + t.Addr() + " of backend " + backend + " is trusted again: " + reason
		}
		a.addEvent(e)
	}
}
