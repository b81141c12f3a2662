package engine

import (
	"context"

	"github.com/panjf2000/gnet/v2"
)

// loop is the engine's state for one event loop: the list of its loop-mode
// sessions, which only that loop touches.
type loop struct {
	e         *Engine
	el        gnet.EventLoop
	head      *Session
	lastSweep int64
}

func (l *loop) add(s *Session) {
	s.prev, s.next = nil, l.head
	if l.head != nil {
		l.head.prev = s
	}
	l.head = s
}

func (l *loop) remove(s *Session) {
	if s.prev == nil && s.next == nil && l.head != s {
		return // not listed
	}
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
}

// Run is posted onto the loop by the engine's ticker: it runs the tickers
// (AddTicker) and, once per SweepInterval, the sweep that closes the
// sessions that have been idle too long.
func (l *loop) Run(context.Context) error {
	now := l.e.now.Load()
	l.runTickers(now)
	if now-l.lastSweep < int64(l.e.opts.SweepInterval) {
		return nil
	}
	l.lastSweep = now
	for s := l.head; s != nil; {
		next := s.next
		if now-s.last > int64(s.opts.IdleTimeout) {
			s.abort(nil, IdleTimeout, nil)
		}
		s = next
	}
	return nil
}

// abortWhere closes the loop-mode sessions of this loop that match accepts
// (all when match is nil).
func (l *loop) abortWhere(match func(user any) bool) {
	for s := l.head; s != nil; {
		next := s.next
		if match == nil || match(s.User) {
			s.abort(nil, Shutdown, nil)
		}
		s = next
	}
}
