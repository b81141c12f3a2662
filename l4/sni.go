package l4

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/sluicelb/sluice/clienthello"
)

// Route sends the sessions whose TLS ClientHello names one of Names to
// Backend, without terminating TLS (contract §7, tcp routes).
type Route struct {
	// Name identifies the route (logs).
	Name string
	// Names are server names: exact ("db1.example.com") or a leading
	// wildcard ("*.example.com": one more label, not example.com itself),
	// lower case.
	Names []string
	// Backend receives the matching sessions. Required.
	Backend *Backend
}

// helloBufPool holds the buffers ClientHellos are read into.
var helloBufPool = make(chan []byte, 64)

func getHelloBuf() []byte {
	select {
	case b := <-helloBufPool:
		return b[:0]
	default:
		return make([]byte, 0, clienthello.MaxRead)
	}
}

func putHelloBuf(b []byte) {
	select {
	case helloBufPool <- b:
	default:
	}
}

// readHello reads a client's first bytes until they hold a whole
// ClientHello, or are not one, at most clienthello.MaxRead bytes and until
// deadline. It returns what it read (to be replayed to the server) and the
// server name; name is "" when there is none or the bytes are not a
// well-formed ClientHello (err says which: nil for no SNI, else the parse
// or read error).
func readHello(c *net.TCPConn, deadline time.Time, buf []byte) (read []byte, name string, err error) {
	_ = c.SetReadDeadline(deadline)
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	var rerr error
	for {
		info, perr := clienthello.Parse(buf) // bytes already there (after a PROXY header) count
		switch {
		case perr == nil:
			return buf, info.ServerName, nil
		case !errors.Is(perr, clienthello.ErrNeedMore):
			return buf, "", perr
		case rerr != nil:
			return buf, "", rerr
		case len(buf) == cap(buf):
			return buf, "", clienthello.ErrTooLong
		}
		var n int
		n, rerr = c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
	}
}

// route returns the index of the first route naming name, or -1.
func (st *frontendState) route(name string) int {
	if name == "" {
		return -1
	}
	for i := range st.Routes {
		for _, n := range st.Routes[i].Names {
			if MatchName(n, name) {
				return i
			}
		}
	}
	return -1
}

// MatchName reports whether a route's server name pattern — exact, or
// "*.suffix" (one more label) — matches name (both lower case). It is the
// one rule of tcp routing (explain asks it too).
func MatchName(pattern, name string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return len(name) > len(suffix) && strings.HasSuffix(name, suffix) &&
			!strings.Contains(name[:len(name)-len(suffix)], ".")
	}
	return pattern == name
}
