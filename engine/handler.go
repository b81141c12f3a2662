package engine

import (
	"time"

	"github.com/panjf2000/gnet/v2"
)

// handler is the gnet event handler. Every connection's context is its *Session.
type handler struct {
	gnet.BuiltinEventEngine
	e *Engine
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	s, ok := c.Context().(*Session)
	if !ok {
		return nil, gnet.Close
	}
	return nil, s.onOpen(c)
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	s, ok := c.Context().(*Session)
	if !ok {
		return gnet.Close
	}
	return s.onTraffic(c)
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	if s, ok := c.Context().(*Session); ok {
		s.onClose(c, err)
	}
	return gnet.None
}

func (h *handler) OnTick() (time.Duration, gnet.Action) {
	return h.e.tick(), gnet.None
}
