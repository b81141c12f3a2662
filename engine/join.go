package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Join turns two connections that are already on one event loop (an HTTP
// client connection that was upgraded, and its backend connection) into a
// Session, which from then on pumps bytes both ways exactly as a session
// made by Proxy does (moving to splice when a side cannot keep up, idle
// timeout, half-close, OnEnd once at the end). toBackend and toClient are
// bytes already read from one side and not yet written to the other (they
// are copied and counted). Bytes still buffered by gnet for either side are
// taken over too.
//
// Join must run on that event loop, from a callback of cur (one of the two
// connections, or nil from a task); it returns the action for cur.
func (e *Engine) Join(cur, cli, be gnet.Conn, toBackend, toClient []byte, opts *SessionOptions, user any) gnet.Action {
	s := &Session{User: user, Start: time.Now(), e: e, opts: opts}
	e.active.Add(1)
	s.side[client] = side{c: cli, fd: cli.Fd(), open: true}
	s.side[backend] = side{c: be, fd: be.Fd(), open: true}
	cli.SetContext(s)
	be.SetContext(s)
	s.l = e.loopFor(cli.EventLoop())
	s.last = e.now.Load()
	s.l.add(s)
	s.state = stLoop
	if len(toBackend) > 0 {
		s.countIn(client, len(toBackend))
		s.pend[backend] = append(s.pend[backend], toBackend...)
	}
	if len(toClient) > 0 {
		s.countIn(backend, len(toClient))
		s.pend[client] = append(s.pend[client], toClient...)
	}
	for i := range s.side {
		if c := s.side[i].c; c.InboundBuffered() > 0 {
			b, _ := c.Next(-1)
			s.countIn(i, len(b))
			s.pend[1-i] = append(s.pend[1-i], b...)
		}
	}
	return s.flush(cur)
}
