package l7

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/valyala/fasthttp"
)

// StickyOptions configure sticky sessions: the first response to a client
// sets a cookie naming the server that answered by an opaque keyed hash of
// its identity (backend and address, never the address itself); later
// requests carrying it go to that server while it can serve (healthy,
// enabled, not draining, below its limit), else the balancer picks again
// and the cookie is rewritten. It works with every algorithm
// (balance.PickPreferred). The zero value (Cookie "") is off.
type StickyOptions struct {
	// Cookie is the cookie name (a token).
	Cookie string
	// TTL is the cookie's Max-Age; 0 = a session cookie.
	TTL time.Duration
	// Secret keys the cookie values; a value made with another secret names
	// no server (the client is placed again). Keep it across restarts
	// (state_dir) so that cookies outlive the process.
	Secret [32]byte
}

// stickyTable maps cookie values to the servers of one Backend; built when
// the server list changes, read without locks.
type stickyTable struct {
	cookie  []byte // the cookie name
	entries []stickyEntry
}

type stickyEntry struct {
	id        uint64
	srv       *balance.Server
	setCookie [2][]byte // Set-Cookie value, plain and with Secure (TLS frontends)
}

// stickyID is the server's cookie value as a number: the first 8 bytes of
// HMAC-SHA256(secret, backend NUL address).
func stickyID(secret *[32]byte, backend, addr string) uint64 {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte(backend))
	m.Write([]byte{0})
	m.Write([]byte(addr))
	return binary.BigEndian.Uint64(m.Sum(nil))
}

// newStickyTable builds the table of servers under o; nil when sticky
// sessions are off.
func newStickyTable(o *BackendOptions, servers []*balance.Server) *stickyTable {
	s := &o.Sticky
	if s.Cookie == "" {
		return nil
	}
	t := &stickyTable{cookie: []byte(s.Cookie)}
	for _, srv := range servers {
		id := stickyID(&s.Secret, o.Name, srv.Addr())
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], id)
		c := s.Cookie + "=" + hex.EncodeToString(v[:]) + "; Path=/"
		if s.TTL > 0 {
			c += "; Max-Age=" + strconv.FormatInt(int64((s.TTL+time.Second-1)/time.Second), 10)
		}
		c += "; HttpOnly; SameSite=Lax"
		t.entries = append(t.entries, stickyEntry{id: id, srv: srv,
			setCookie: [2][]byte{[]byte(c), []byte(c + "; Secure")}})
	}
	return t
}

// preferred returns the server the cookie value v names, or nil.
// Allocation-free.
func (t *stickyTable) preferred(v []byte) *balance.Server {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) != 16 {
		return nil
	}
	var id uint64
	for _, c := range v {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return nil
		}
		id = id<<4 | uint64(d)
	}
	for i := range t.entries {
		if t.entries[i].id == id {
			return t.entries[i].srv
		}
	}
	return nil
}

// setCookie returns the Set-Cookie value pinning srv (nil if srv is not in
// the table).
func (t *stickyTable) setCookie(srv *balance.Server, secure bool) []byte {
	for i := range t.entries {
		if t.entries[i].srv == srv {
			if secure {
				return t.entries[i].setCookie[1]
			}
			return t.entries[i].setCookie[0]
		}
	}
	return nil
}

var strSetCookie = []byte("Set-Cookie")

// stickyPreference returns the backend's sticky table and the server the
// request's cookie names (nil: none, or sticky sessions are off).
func (b *Backend) stickyPreference(h *fasthttp.RequestHeader) (*stickyTable, *balance.Server) {
	t := b.sticky.Load()
	if t == nil {
		return nil, nil
	}
	// The server parsed the Cookie header into its cookie list already:
	// looking the name up there allocates nothing (Peek("Cookie") would
	// re-serialize the list).
	return t, t.preferred(h.CookieBytes(t.cookie))
}
