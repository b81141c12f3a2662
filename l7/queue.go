package l7

// queue parks ex until a server of its backend frees a slot
// (max_connections_per_server) or MaxConnWait passes (then 503 pool_full).
// A release on this loop wakes the queue at once; each tick looks again for
// releases on other loops.
func (ex *exchange) queue() {
	l := ex.l
	if !ex.queued {
		ex.queued = true
		l.timers.arm(&ex.hc.tm, l.now(), ex.be.opts.MaxConnWait)
	}
	ex.state = xQueue
	l.queued = append(l.queued, ex)
}

// unqueue takes ex out of its loop's queue.
func (ex *exchange) unqueue() {
	l := ex.l
	for i, q := range l.queued {
		if q == ex {
			l.queued = append(l.queued[:i], l.queued[i+1:]...)
			break
		}
	}
	l.timers.stop(&ex.hc.tm)
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
		if ex.state == xQueue {
			ex.state = xStart
			ex.forward()
		}
	}
	clear(qs)
	l.qscratch = qs[:0]
}
