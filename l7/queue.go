package l7

import (
	"context"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// queue parks ex until a server of its balancer can take it (a slot freed
// under max_connections_per_server, or a rebuild) or MaxConnWait passes
// (then 503 pool_full). It waits on the balancer's release event
// (balance.Balancer.Wait): one watcher goroutine per loop and balancer
// turns the event into a retry of the loop's queue, nothing polls.
//
// It registers first and then looks again (balance.Peek), so a slot freed
// in between is not missed: false means a slot is free now and the caller
// should pick again.
func (ex *exchange) queue(bal *balance.Balancer) bool {
	l := ex.l
	freed := bal.Wait()
	if ex.requeues < maxRequeues && bal.Peek(ex.key, &ex.tried) != nil {
		bal.Unwait()
		ex.requeues++
		return false
	}
	ex.state = xQueue
	ex.qbal = bal
	l.queued = append(l.queued, ex)
	if !ex.queued {
		ex.queued = true
		l.timers.arm(&ex.hc.tm, l.now(), ex.be.opts.MaxConnWait)
	}
	l.watch(bal, freed, ex.be.opts.MaxConnWait)
	return true
}

// maxRequeues bounds how often one request finds a slot free at the last
// look and loses it to another loop before it waits for the next release.
const maxRequeues = 8

// unqueue takes ex out of its loop's queue (its deadline stays armed while
// it is still queued, see queue).
func (ex *exchange) unqueue() {
	l := ex.l
	for i, q := range l.queued {
		if q == ex {
			l.queued = append(l.queued[:i], l.queued[i+1:]...)
			ex.qbal.Unwait()
			ex.qbal = nil
			break
		}
	}
}

// watch makes sure a goroutine waits on freed (the balancer's next release
// or rebuild) for this loop, and then retries the loop's queue there. It
// gives up after wait (the requests queued by then have timed out).
func (l *rloop) watch(bal *balance.Balancer, freed <-chan struct{}, wait time.Duration) {
	if l.watching[bal] {
		return
	}
	if l.watching == nil {
		l.watching = make(map[*balance.Balancer]bool)
	}
	l.watching[bal] = true
	go func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-freed:
		case <-t.C:
		}
		_ = l.el.Execute(context.Background(), loopTask(func() {
			delete(l.watching, bal)
			l.retryQueued()
		}))
	}()
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
		ex.qbal.Unwait()
		ex.qbal = nil
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
