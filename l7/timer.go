package l7

import "time"

// timer is one armed timeout: an intrusive node of a timerList, embedded in
// the connection it belongs to. Loop-owned: only the event loop of its
// connection touches it.
type timer struct {
	prev, next *timer
	list       *timerList
	when       int64 // monoNow when it expires
	owner      timeoutOwner
}

// timeoutOwner is told when its timer expires (on the loop).
type timeoutOwner interface{ timeout(now int64) }

// timerList holds the armed timers of one duration, oldest first: every
// timer in it was armed as now+d with a clock that never goes back, so the
// list is sorted by expiry and the sweep only looks at its head.
type timerList struct {
	d          int64
	head, tail *timer
}

// timerSet is the timers of one event loop, one list per distinct duration
// (a handful: the client, backend and queue timeouts of the configuration).
// Arming and stopping are O(1); a tick costs one look per list plus the
// expired timers.
type timerSet struct {
	lists []*timerList
}

func (s *timerSet) listFor(d int64) *timerList {
	for _, l := range s.lists {
		if l.d == d {
			return l
		}
	}
	l := &timerList{d: d}
	s.lists = append(s.lists, l)
	return l
}

// arm (re)starts t to expire d after now.
func (s *timerSet) arm(t *timer, now int64, d time.Duration) {
	if t.list != nil {
		if t.list.d == int64(d) && t.list.tail == t {
			t.when = now + int64(d) // already last in its list: stays sorted
			return
		}
		t.list.unlink(t)
	}
	l := s.listFor(int64(d))
	t.when = now + int64(d)
	t.list = l
	t.prev, t.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = t
	} else {
		l.head = t
	}
	l.tail = t
}

// stop disarms t (no-op when it is not armed).
func (s *timerSet) stop(t *timer) {
	if t.list != nil {
		t.list.unlink(t)
	}
}

func (l *timerList) unlink(t *timer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		l.head = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		l.tail = t.prev
	}
	t.prev, t.next, t.list = nil, nil, nil
}

// run fires every timer that expired by now. A fired timer is disarmed
// before its owner is told, so the owner may arm it again.
func (s *timerSet) run(now int64) {
	for _, l := range s.lists {
		for t := l.head; t != nil && t.when <= now; t = l.head {
			l.unlink(t)
			t.owner.timeout(now)
		}
	}
}
