package l7

import (
	"bufio"
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
)

// rloop is l7's state on one event loop: what the connections served there
// share. Loop-owned: only that loop's goroutine touches it (no locks).
type rloop struct {
	eng *engine.Engine
	el  gnet.EventLoop

	// Head parsing: fasthttp reads a head from a bufio.Reader; rd serves it
	// the head bytes the strict pre-parser has framed, so it never waits.
	rd bytes.Reader
	br *bufio.Reader

	wq     writeQueue // gathers one sendmsg
	scr    []byte     // scratch for a serialized head
	timers timerSet

	// cur is the connection whose callback is running, act the action
	// that callback will return (see closeConn).
	cur gnet.Conn
	act gnet.Action

	conns  connList // every client connection on this loop
	pools  map[*upstream]*bpool
	freeEx *exchange // free list

	queued   []*exchange // waiting for a server slot (queue.go)
	qscratch []*exchange
	watching map[*balance.Balancer]bool
}

// brSize bounds a head fasthttp can parse: the largest MaxHeaderBytes plus
// room; heads are framed (and limited) before they are parsed.
const brSize = 256 << 10

// loopsByEL maps a gnet.EventLoop to its *rloop (one per loop per process).
var loopsByEL sync.Map

// loopOf returns the rloop of el, creating it on first use.
func loopOf(eng *engine.Engine, el gnet.EventLoop) *rloop {
	if v, ok := loopsByEL.Load(el); ok {
		return v.(*rloop)
	}
	l := &rloop{eng: eng, el: el, pools: make(map[*upstream]*bpool)}
	l.br = bufio.NewReaderSize(&l.rd, 4096)
	v, _ := loopsByEL.LoadOrStore(el, l)
	return v.(*rloop)
}

// tick runs on the loop (engine.AddTicker): it fires expired timeouts.
func (l *rloop) tick() {
	l.timers.run(monoNow())
}

// now is the clock timeouts are armed with and fire by: monotonic
// nanoseconds. (Not the engine's coarse clock, which lags by up to a tick
// and would fire timeouts early.)
func (l *rloop) now() int64 { return monoNow() }

var monoEpoch = time.Now()

// monoNow reads the monotonic clock (ns since the process's l7 start).
func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// pool returns this loop's idle connections to u.
func (l *rloop) pool(u *upstream) *bpool {
	bp := l.pools[u]
	if bp == nil {
		bp = &bpool{u: u}
		l.pools[u] = bp
	}
	return bp
}

// connList is an intrusive doubly linked list of client connections.
type connList struct{ head *hconn }

func (cl *connList) add(c *hconn) {
	c.lprev, c.lnext = nil, cl.head
	if cl.head != nil {
		cl.head.lprev = c
	}
	cl.head = c
}

func (cl *connList) remove(c *hconn) {
	if c.lprev == nil && c.lnext == nil && cl.head != c {
		return
	}
	if c.lprev != nil {
		c.lprev.lnext = c.lnext
	} else {
		cl.head = c.lnext
	}
	if c.lnext != nil {
		c.lnext.lprev = c.lprev
	}
	c.lprev, c.lnext = nil, nil
}

// closeConn closes c: the connection whose callback is running through the
// action that callback returns, any other one at once (gnet then calls its
// OnClose right away).
func (l *rloop) closeConn(c gnet.Conn) {
	if c == l.cur {
		l.act = gnet.Close
		return
	}
	_ = l.el.Close(c)
}

// loopTask makes f a gnet task (for EventLoop.Execute).
func loopTask(f func()) gnet.Runnable {
	return gnet.RunnableFunc(func(context.Context) error {
		f()
		return nil
	})
}
