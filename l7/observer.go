package l7

import (
	"net/netip"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// Record describes one finished request (or WebSocket tunnel). It is owned
// by the proxy and REUSED: it, and the byte slices in it, are valid only
// during the Observer call. Copy what you keep.
type Record struct {
	Frontend   string
	Route      string          // "" when the default backend (or none) served it
	Backend    string          // "" when no backend was chosen (404, 400…)
	Server     *balance.Server // nil when no server was reached
	ServerAddr string
	ClientIP   netip.Addr // after trusted X-Forwarded-For
	Method     []byte
	Host       []byte
	Path       []byte
	Status     int     // the status the client got (101 for a tunnel)
	Failure    Failure // FailNone, or why the request did not succeed normally
	Attempts   int     // servers tried
	Start      time.Time
	Duration   time.Duration // until the last response byte was handed to the socket (tunnel: until it closed)
	BytesIn    int64         // bytes read from the client for this request (head and body)
	BytesOut   int64         // response body bytes sent (tunnel: bytes sent to the client)
}

// Observer receives per-request and per-attempt events, typically to
// update metrics, the access log and passive health. Calls come from the
// request's goroutine, may be concurrent, and must not block; they must not
// retain the *Record.
type Observer interface {
	// RequestDone is called once per finished request.
	RequestDone(r *Record)
	// BackendAttempt is called once per attempt on a server with the
	// attempt's outcome (FailNone on a non-5xx response).
	BackendAttempt(s *balance.Server, f Failure)
}
