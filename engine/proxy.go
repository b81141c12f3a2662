package engine

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// enrollTimeout bounds how long Proxy waits for a loop to take the backend.
const enrollTimeout = 5 * time.Second

// Proxy joins client and backend on one event loop and pumps bytes both ways
// until the session ends, then calls opts.OnEnd. It must be called off the event
// loops (it waits for the loop to register the connections), typically right
// after the backend was dialed. Proxy takes ownership of both connections: on
// error they are closed and OnEnd is still called exactly once.
func (e *Engine) Proxy(cl, be *net.TCPConn, opts *SessionOptions, user any) error {
	s := &Session{User: user, Start: time.Now(), e: e, opts: opts}
	s.side[client].fd, s.side[backend].fd = -1, -1
	e.active.Add(1)
	if e.closed.Load() {
		_ = cl.Close()
		_ = be.Close()
		s.Close = Shutdown
		s.end()
		return ErrStopped
	}
	gc, err := e.cli.EnrollContext(cl, s) // closes cl; the loop has its own descriptor
	if err != nil {
		_ = be.Close()
		s.Close, s.Err = ClientError, err
		s.end()
		return fmt.Errorf("engine: register client: %w", err)
	}
	el := gc.EventLoop()
	ch, err := el.Enroll(gnet.NewContext(context.Background(), s), be)
	if err == nil {
		select {
		case r := <-ch:
			err = r.Err
		case <-time.After(enrollTimeout):
			err = fmt.Errorf("timed out after %v", enrollTimeout)
		}
	} else {
		_ = be.Close()
	}
	if err != nil {
		err = fmt.Errorf("engine: register backend: %w", err)
		_ = el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			if s.state == stOpening {
				s.abort(nil, BackendError, err)
			}
			return nil
		}))
		return err
	}
	return nil
}
