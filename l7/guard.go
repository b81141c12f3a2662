package l7

import (
	"net/netip"
	"strconv"

	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// Guard screens clients and requests (access lists, rate limits).
// Implementations are safe for concurrent use and neither block nor allocate.
type Guard interface {
	// AllowConn is called once per accepted connection with the peer
	// address. false: the connection's requests are answered 403 Forbidden
	// and it is closed; nothing reaches a backend.
	AllowConn(peer netip.Addr) bool
	// AllowRequest is called once per request after the route is chosen and
	// before a server is picked, with the client address (after trusted
	// X-Forwarded-For). ok=false: answer 429 with header
	// `Retry-After: <retryAfter>` (whole seconds, >= 1); nothing reaches a
	// backend.
	AllowRequest(req *fasthttp.Request, client netip.Addr) (ok bool, retryAfter int)
}

var hdrRetryAfter = []byte("Retry-After")

// allowRequest runs the frontend Guard and then the backend's RateLimit
// for one request. ok=false: answer FailRateLimited with ex.retryAfter set.
func (ex *exchange) allowRequest(req *fasthttp.Request, be *Backend, client netip.Addr) bool {
	if g := ex.t.guard; g != nil {
		if ok, ra := g.AllowRequest(req, client); !ok {
			ex.retryAfter = max(ra, 1)
			return false
		}
	}
	if rl := be.opts.RateLimit; rl != nil {
		if ok, wait := rl.Allow(0, ratelimit.Now()); !ok {
			ex.retryAfter = int(ratelimit.RetryAfterSeconds(wait))
			return false
		}
	}
	return true
}

// setRetryAfter writes the Retry-After field of a 429 without allocating.
func (ex *exchange) setRetryAfter(h *fasthttp.ResponseHeader) {
	ex.buf = strconv.AppendInt(ex.buf[:0], int64(max(ex.retryAfter, 1)), 10)
	h.SetBytesKV(hdrRetryAfter, ex.buf)
}
