package engine

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// pipeChunk bounds one splice call, so deadlines are refreshed at least this often
// while data flows.
const pipeChunk = 256 << 10

// pipeState is a session's state once it has left the event loop.
type pipeState struct {
	mu      sync.Mutex // guards conns while runPipe sets them up (pipeAbort may run meanwhile)
	conns   [2]Stream
	done    atomic.Int32 // directions finished
	aborted atomic.Bool
	lastAct atomic.Int64  // unix nanos of the last byte moved either way
	reason  atomic.Uint32 // abort reason
	first   atomic.Uint32 // who reached end of stream first
	err     atomic.Pointer[errBox]
}

func (e *Engine) startPipe(s *Session) {
	e.pipeMu.Lock()
	e.pipes[s] = struct{}{}
	e.pipeMu.Unlock()
	go s.runPipe()
}

// runPipe takes over from the event loop: every side's descriptor is a
// duplicate the session owns, pend holds bytes not yet written.
func (s *Session) runPipe() {
	p := &s.pipe
	p.lastAct.Store(time.Now().UnixNano())
	p.mu.Lock()
	for i := range s.side {
		sd := &s.side[i]
		c, err := fdConn(sd.fd)
		sd.fd, sd.owned = -1, false
		if err != nil {
			if s.Close == 0 || s.Close < ClientError {
				s.Close, s.Err = errReason(i), err
			}
			p.aborted.Store(true)
			continue
		}
		p.conns[i] = c
	}
	p.mu.Unlock()
	if p.aborted.Load() { // here, or by pipeAbort before the conns were set
		s.pipeClose()
		s.pipeEnd()
		return
	}
	for i := range s.side {
		j := 1 - i
		if s.side[i].eof && len(s.pend[j]) == 0 && s.side[j].shut {
			p.done.Add(1) // nothing left in this direction
			continue
		}
		go s.pipeDir(i)
	}
	if p.done.Load() == 2 {
		s.pipeClose()
		s.pipeEnd()
	}
}

// pipeDir copies from side i to side j until i's end of stream, then passes the FIN on.
func (s *Session) pipeDir(i int) {
	p := &s.pipe
	j := 1 - i
	src, dst := p.conns[i], p.conns[j]
	idle := s.opts.IdleTimeout
	ok := true
	if len(s.pend[j]) > 0 {
		_ = dst.SetWriteDeadline(time.Now().Add(2 * idle))
		if _, err := dst.Write(s.pend[j]); err != nil {
			s.pipeAbort(errReason(j), err)
			ok = false
		}
		s.pend[j] = nil
	}
	if ok && !s.side[i].eof {
		ok = s.splice(i, src, dst, idle)
	}
	if ok && s.opts.CloseOnEOF {
		s.pipe.first.CompareAndSwap(0, uint32(closedBy(i)))
		s.pipeAbort(closedBy(i), nil) // ends the other direction too
	} else if ok && !s.side[j].shut {
		_ = dst.CloseWrite()
	}
	if p.done.Add(1) == 2 {
		s.pipeClose()
		s.pipeEnd()
	}
}

// splice moves bytes from src to dst until src's end of stream; false when the
// session was aborted.
func (s *Session) splice(i int, src, dst Stream, idle time.Duration) bool {
	p := &s.pipe
	lr := &io.LimitedReader{R: src}
	for {
		now := time.Now()
		// The read deadline finds idleness; it can only fire while the kernel
		// pipe is empty, so going on after it loses nothing. The write deadline
		// is later: when it fires, bytes may be stuck, and the session ends.
		_ = src.SetReadDeadline(now.Add(idle))
		wdl := now.Add(2 * idle)
		_ = dst.SetWriteDeadline(wdl)
		lr.N = pipeChunk
		n, err := io.Copy(dst, lr)
		if n > 0 {
			s.countPipe(i, int(n))
			p.lastAct.Store(time.Now().UnixNano())
		}
		if err == nil {
			if lr.N == 0 {
				continue // chunk done, more to come
			}
			s.pipe.first.CompareAndSwap(0, uint32(closedBy(i)))
			return true // end of stream
		}
		if p.aborted.Load() {
			return false
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t := time.Now()
			if !t.Before(wdl) {
				s.pipeAbort(IdleTimeout, nil)
				return false
			}
			if n > 0 || t.UnixNano()-p.lastAct.Load() < int64(idle) {
				continue // the other direction is busy: not idle
			}
			s.pipeAbort(IdleTimeout, nil)
			return false
		}
		s.pipeAbort(errReason(i), err)
		return false
	}
}

func closedBy(i int) CloseReason {
	if i == client {
		return ClientClosed
	}
	return BackendClosed
}

func (s *Session) countPipe(i, n int) {
	if i == client {
		s.BytesIn += int64(n)
		s.opts.BytesIn.Add(n)
	} else {
		s.BytesOut += int64(n)
		s.opts.BytesOut.Add(n)
	}
}

// pipeAbort ends a pipe-mode session at once: closing both connections makes
// both goroutines return.
// When one side failed, the other is reset (see finish).
func (s *Session) pipeAbort(reason CloseReason, err error) {
	if s.pipe.aborted.CompareAndSwap(false, true) {
		s.pipe.reason.Store(uint32(reason))
		if err != nil {
			s.pipe.err.Store(&errBox{err})
		}
		if i := resetSide(reason); i >= 0 {
			s.pipe.mu.Lock()
			if c, ok := s.pipe.conns[i].(*net.TCPConn); ok {
				_ = c.SetLinger(0)
			}
			s.pipe.mu.Unlock()
		}
		s.pipeClose()
	}
}

func (s *Session) pipeClose() {
	s.pipe.mu.Lock()
	defer s.pipe.mu.Unlock()
	for _, c := range s.pipe.conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

func (s *Session) pipeEnd() {
	if r := CloseReason(s.pipe.reason.Load()); r != 0 {
		s.Close = r
		if b := s.pipe.err.Load(); b != nil {
			s.Err = b.err
		}
	} else if s.Close == 0 {
		s.Close = CloseReason(s.pipe.first.Load())
	}
	s.e.pipeMu.Lock()
	delete(s.e.pipes, s)
	s.e.pipeMu.Unlock()
	s.state = stDone
	s.end()
}

type errBox struct{ err error }
