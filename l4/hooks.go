package l4

import (
	"net/netip"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
)

// SessionInfo describes a finished session. It is valid only during Hooks.Ended.
type SessionInfo struct {
	Frontend, Backend string
	// Route is the index in Options.Routes of the route that chose the
	// backend, -1 for Options.Backend.
	Route             int
	Client            netip.Addr
	Server            *balance.Server
	Start             time.Time
	Duration          time.Duration
	Close             engine.CloseReason
	Err               error
	BytesIn, BytesOut int64
}

// Hooks receive what happens on a frontend; internal/app wires them to metrics,
// the access log and passive health. Methods are called from accept, dial and
// event-loop goroutines concurrently: they must be safe for that, fast, and
// must not block.
type Hooks interface {
	// BytesIn and BytesOut count bytes from and to clients (called at Update).
	BytesIn() engine.Counter
	BytesOut() engine.Counter
	// Opened and Closed bracket every admitted client connection.
	Opened()
	Closed()
	// Refused: a client was turned away (closed at once) for reason r.
	Refused(r Refusal, client netip.Addr)
	// ConnectFailed: dialing srv failed; it counts against srv.
	ConnectFailed(srv *balance.Server, err error)
	// Connected: a session with srv begins.
	Connected(srv *balance.Server)
	// Ended: a session finished.
	Ended(info *SessionInfo)
}

// NopHooks does nothing; embed it to implement only some hooks.
type NopHooks struct{}

func (NopHooks) BytesIn() engine.Counter              { return engine.Discard }
func (NopHooks) BytesOut() engine.Counter             { return engine.Discard }
func (NopHooks) Opened()                              {}
func (NopHooks) Closed()                              {}
func (NopHooks) Refused(Refusal, netip.Addr)          {}
func (NopHooks) ConnectFailed(*balance.Server, error) {}
func (NopHooks) Connected(*balance.Server)            {}
func (NopHooks) Ended(*SessionInfo)                   {}

var _ Hooks = NopHooks{}
