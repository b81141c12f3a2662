package l7

import (
	"context"

	"github.com/sluicelb/sluice/balance"
)

// queue parks ex until a server of its backend frees a slot
// (max_connections_per_server) or MaxConnWait passes (then 503 pool_full).
// Every release of one of the backend's servers wakes the loops with queued
// requests (Backend.wake); the loop's tick also looks again, for slots that
// free without a release (a server enabled, its weight raised).
//
// It registers first and then looks again (balance.Peek), so a slot freed
// in between (by another loop, whose wake found nobody yet) is not missed:
// false means a slot is free now and the caller should pick again.
func (ex *exchange) queue(bal *balance.Balancer) bool {
	l := ex.l
	ex.state = xQueue
	l.queued = append(l.queued, ex)
	ex.be.addWaiter(l)
	if ex.requeues < maxRequeues && bal.Peek(ex.key, &ex.tried) != nil {
		ex.requeues++
		ex.unqueue()
		ex.state = xStart
		return false
	}
	if !ex.queued {
		ex.queued = true
		l.timers.arm(&ex.hc.tm, l.now(), ex.be.opts.MaxConnWait)
	}
	return true
}

// maxRequeues bounds how often one request finds a slot free at the last
// look and loses it to another loop before it waits for the next release.
const maxRequeues = 8

// limited reports whether a server of bal is usable but for its connection
// limit: a request that found no server should wait for a slot (queue)
// rather than be refused.
func (b *Backend) limited(bal *balance.Balancer) bool {
	if b.opts.MaxConnsPerServer <= 0 {
		return false
	}
	for _, s := range bal.Servers() {
		if s.Healthy() && !s.Draining() && s.Enabled() && s.Weight() > 0 {
			return true
		}
	}
	return false
}

// unqueue takes ex out of its loop's queue (its deadline stays armed while
// it is still queued, see queue).
func (ex *exchange) unqueue() {
	l := ex.l
	for i, q := range l.queued {
		if q == ex {
			l.queued = append(l.queued[:i], l.queued[i+1:]...)
			ex.be.removeWaiter(l)
			break
		}
	}
}

// retryQueued gives every queued exchange of this loop another pick; those
// that find no server yet queue again (their deadline unchanged).
func (l *rloop) retryQueued() {
	if len(l.queued) == 0 {
		return
	}
	qs := append(l.qscratch[:0], l.queued...)
	l.queued = l.queued[:0]
	for _, ex := range qs {
		ex.be.removeWaiter(l)
	}
	for _, ex := range qs {
		if ex.state == xQueue {
			ex.state = xStart
			ex.forward()
		}
	}
	clear(qs)
	l.qscratch = qs[:0]
}

func (b *Backend) addWaiter(l *rloop) {
	b.wmu.Lock()
	if b.wloops == nil {
		b.wloops = make(map[*rloop]int)
	}
	b.wloops[l]++
	b.waiting.Add(1)
	b.wmu.Unlock()
}

func (b *Backend) removeWaiter(l *rloop) {
	b.wmu.Lock()
	if n := b.wloops[l]; n > 1 {
		b.wloops[l] = n - 1
	} else {
		delete(b.wloops, l)
	}
	b.waiting.Add(-1)
	b.wmu.Unlock()
}

// wake tells the loops with requests queued for b that a slot freed: cur
// (the caller's loop, or nil off the loops) retries its queue at once, the
// others get a task.
func (b *Backend) wake(cur *rloop) {
	if b.waiting.Load() == 0 {
		return
	}
	b.wmu.Lock()
	var others []*rloop
	for l := range b.wloops {
		if l != cur {
			others = append(others, l)
		}
	}
	b.wmu.Unlock()
	for _, l := range others {
		_ = l.el.Execute(context.Background(), loopTask(l.retryQueued))
	}
	if cur != nil {
		cur.retryQueued()
	}
}
