package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
)

// ConnHandler handles the events of one connection that a user of the engine
// (package l7) enrolled with Enroll or EnrollOn: the connection's context is
// its ConnHandler. Every method runs on the connection's event loop and must
// not block; the rules of gnet's EventHandler apply (see engine.go).
type ConnHandler interface {
	OnOpen(c gnet.Conn) gnet.Action
	OnTraffic(c gnet.Conn) gnet.Action
	OnClose(c gnet.Conn, err error)
}

// handler is the gnet event handler. A connection's context is its *Session
// (L4), or the ConnHandler it was enrolled with.
type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *Session:
		return nil, x.onOpen(c)
	case ConnHandler:
		h.e.loopFor(c.EventLoop()) // its tickers run there from now on
		return nil, x.OnOpen(c)
	}
	return nil, gnet.Close
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *Session:
		return x.onTraffic(c)
	case ConnHandler:
		return x.OnTraffic(c)
	}
	return gnet.Close
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *Session:
		x.onClose(c, err)
	case ConnHandler:
		x.OnClose(c, err)
	}
	return gnet.None
}

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	return h.e.tick(), gnet.None
}
