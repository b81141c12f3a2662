package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// CloseReason says why a session ended: who closed first, or what went wrong.
type CloseReason uint8

// Close reasons, in the order they can be reported.
const (
	ClientClosed  CloseReason = iota + 1 // the client finished first (FIN)
	BackendClosed                        // the backend finished first (FIN)
	ClientError                          // reading from or writing to the client failed (reset, broken pipe)
	BackendError                         // reading from or writing to the backend failed
	IdleTimeout                          // no traffic for SessionOptions.IdleTimeout
	Shutdown                             // the engine closed it (stop, drain deadline)
)

var reasonText = [...]string{"", "client", "backend", "client_error", "backend_error", "idle_timeout", "shutdown"}

// String returns the access-log spelling of r ("client", "backend", "client_error", …).
func (r CloseReason) String() string {
	if int(r) < len(reasonText) {
		return reasonText[r]
	}
	return "unknown"
}

const (
	client  = 0
	backend = 1
)

const (
	stOpening = iota // client registered, backend not yet
	stLoop           // both on the event loop
	stPipe           // handed to the pipe goroutines
	stDone
)

// side is one connection of a session, as the event loop sees it.
type side struct {
	c     gnet.Conn // nil before it opens and after gnet let go of it
	fd    int       // where bytes for this side are written: c.Fd(), or our duplicate
	owned bool      // fd is a duplicate that the session must close
	open  bool      // OnOpen has run for this side
	eof   bool      // this side will send no more bytes
	shut  bool      // we have shut down writing toward this side
}

// Session is one client connection joined to one backend connection.
//
// The exported fields are final when SessionOptions.OnEnd runs; the Session
// must not be kept after that.
type Session struct {
	// User is the caller's value from Proxy; the engine never touches it.
	User any
	// Start is when Proxy was called.
	Start time.Time
	// Close is who closed first, or what went wrong.
	Close CloseReason
	// Err is the error behind ClientError, BackendError (nil otherwise).
	Err error
	// BytesIn counts bytes from the client, BytesOut bytes to it.
	BytesIn, BytesOut int64

	e    *Engine
	opts *SessionOptions
	l    *loop
	prev *Session // loop list, loop-owned
	next *Session

	state int
	side  [2]side
	pend  [2][]byte // bytes waiting to be written to side i
	last  int64     // last traffic, coarse clock (loop mode)

	pipe pipeState
}

// index reports which side c is, or -1 for a connection the session let go of.
func (s *Session) index(c gnet.Conn) int {
	switch c {
	case s.side[client].c:
		return client
	case s.side[backend].c:
		return backend
	}
	return -1
}

func (s *Session) onOpen(c gnet.Conn) gnet.Action {
	if s.state == stDone {
		return gnet.Close // aborted while the backend was being registered
	}
	if !s.side[client].open {
		s.side[client] = side{c: c, fd: c.Fd(), open: true}
		s.l = s.e.loopFor(c.EventLoop())
		s.last = s.e.now.Load()
		s.l.add(s)
		return gnet.None
	}
	s.side[backend] = side{c: c, fd: c.Fd(), open: true}
	s.state = stLoop
	// The client may have sent bytes (or even closed) while the backend was
	// being registered: they wait in its gnet buffer or in pend.
	if cl := s.side[client].c; cl != nil && cl.InboundBuffered() > 0 {
		b, _ := cl.Next(-1)
		s.countIn(client, len(b))
		s.pend[backend] = append(s.pend[backend], b...)
	}
	return s.flush(c)
}

// flush writes pending bytes and passes on pending FINs (loop mode).
func (s *Session) flush(cur gnet.Conn) gnet.Action {
	for j := range s.side {
		if len(s.pend[j]) == 0 {
			continue
		}
		n, err := writeFull(s.side[j].fd, s.pend[j])
		if err == unix.EAGAIN {
			s.pend[j] = s.pend[j][n:]
			return s.migrate(cur)
		}
		if err != nil {
			return s.abort(cur, errReason(j), err)
		}
		s.pend[j] = s.pend[j][:0]
	}
	for i := range s.side {
		if s.side[i].eof && !s.side[1-i].shut {
			shutdownWrite(s.side[1-i].fd)
			s.side[1-i].shut = true
		}
	}
	if s.side[client].eof && s.side[backend].eof {
		return s.finish(cur)
	}
	return gnet.None
}

func (s *Session) onTraffic(c gnet.Conn) gnet.Action {
	i := s.index(c)
	if i < 0 || s.state != stLoop {
		return gnet.None // opening: keep the bytes buffered until the backend is there
	}
	b, _ := c.Next(-1)
	if len(b) == 0 {
		return gnet.None
	}
	s.countIn(i, len(b))
	s.last = s.e.now.Load()
	n, err := writeFull(s.side[1-i].fd, b)
	if err == nil {
		return gnet.None
	}
	if err == unix.EAGAIN {
		// The kernel takes no more: keep the rest and move to splice, where
		// TCP flow control holds the sender back.
		s.pend[1-i] = append(s.pend[1-i][:0], b[n:]...)
		return s.migrate(c)
	}
	return s.abort(c, errReason(1-i), err)
}

func (s *Session) onClose(c gnet.Conn, err error) {
	i := s.index(c)
	if i < 0 {
		return
	}
	sd := &s.side[i]
	if s.state == stOpening && c.InboundBuffered() > 0 {
		b, _ := c.Next(-1)
		s.countIn(i, len(b))
		s.pend[1-i] = append(s.pend[1-i], b...)
	}
	sd.c = nil // gnet closes its descriptor after this returns
	if s.state == stDone {
		return
	}
	if err == nil { // gnet closed it itself (engine stop)
		s.abort(nil, Shutdown, nil)
		return
	}
	if !isEOF(err) {
		s.abort(nil, errReason(i), err)
		return
	}
	sd.eof = true
	if s.Close == 0 {
		s.Close = closedBy(i)
	}
	if s.opts.CloseOnEOF && s.state == stLoop {
		// Pass on what the closing side sent (best effort: the other side
		// is being closed as well), then end.
		if p := s.pend[1-i]; len(p) > 0 && s.side[1-i].fd >= 0 {
			_, _ = writeFull(s.side[1-i].fd, p)
		}
		s.finish(nil)
		return
	}
	if s.side[1-i].eof {
		s.finish(nil) // both directions are done
		return
	}
	// The other direction goes on: keep the socket alive to write to it.
	fd, derr := dupFD(sd.fd)
	if derr != nil {
		sd.fd = -1
		s.abort(nil, errReason(i), derr)
		return
	}
	sd.fd, sd.owned = fd, true
	if s.state == stOpening {
		return // the backend's OnOpen flushes and passes the FIN on
	}
	if p := &s.side[1-i]; !p.shut {
		shutdownWrite(p.fd)
		p.shut = true
	}
}

// migrate hands the session to the pipe goroutines. cur is the connection whose
// callback is running (nil from a sweep); the returned action closes it.
func (s *Session) migrate(cur gnet.Conn) gnet.Action {
	act := gnet.None
	for i := range s.side {
		sd := &s.side[i]
		c := sd.c
		if c == nil {
			continue
		}
		if c.InboundBuffered() > 0 {
			b, _ := c.Next(-1)
			s.countIn(i, len(b))
			s.pend[1-i] = append(s.pend[1-i], b...)
		}
		fd, err := dupFD(sd.fd)
		if err != nil {
			return s.abort(cur, errReason(i), err)
		}
		sd.c, sd.fd, sd.owned = nil, fd, true
		if c == cur {
			act = gnet.Close
		} else {
			_ = s.l.el.Close(c)
		}
	}
	s.l.remove(s)
	s.state = stPipe
	s.e.startPipe(s)
	return act
}

// abort ends the session now because of reason.
func (s *Session) abort(cur gnet.Conn, reason CloseReason, err error) gnet.Action {
	if s.Close == 0 || reason >= ClientError {
		s.Close, s.Err = reason, err
	}
	return s.finish(cur)
}

// finish closes whatever the session still holds and reports its end. When
// one side failed (reset, broken pipe), the other is reset too: a clean end
// of stream would tell it the exchange was complete.
func (s *Session) finish(cur gnet.Conn) gnet.Action {
	act := gnet.None
	s.state = stDone
	if s.l != nil {
		s.l.remove(s)
	}
	rst := resetSide(s.Close)
	for i := range s.side {
		sd := &s.side[i]
		if i == rst && sd.fd >= 0 {
			resetOnClose(sd.fd)
		}
		if c := sd.c; c != nil {
			sd.c = nil
			if c == cur {
				act = gnet.Close
			} else {
				_ = s.l.el.Close(c)
			}
		} else if sd.owned {
			_ = unix.Close(sd.fd)
		}
		sd.owned, sd.fd = false, -1
	}
	s.end()
	return act
}

// countIn counts n bytes read from side i.
func (s *Session) countIn(i, n int) {
	if i == client {
		s.BytesIn += int64(n)
		s.opts.BytesIn.Add(n)
	} else {
		s.BytesOut += int64(n)
		s.opts.BytesOut.Add(n)
	}
}

func (s *Session) end() {
	s.e.active.Add(-1)
	s.opts.OnEnd(s)
}

// resetSide is the side to close with a reset when a session ends for
// reason: the peer of a side that failed; -1 for an orderly end.
func resetSide(reason CloseReason) int {
	switch reason {
	case ClientError:
		return backend
	case BackendError:
		return client
	}
	return -1
}

func errReason(i int) CloseReason {
	if i == client {
		return ClientError
	}
	return BackendError
}
