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
	// AllowClient applies the access lists to a client address. It is
	// called once per accepted connection with the peer's address, unless
	// the peer is one of the frontend's trusted proxies: then it is called
	// once per request with the client that the request's X-Forwarded-For
	// names (the peer itself when there is none), after trusted proxies are
	// skipped. false: that connection's requests (or that request) are
	// answered 403 Forbidden and nothing reaches a backend; a refused
	// connection is closed, a trusted proxy's connection stays open for the
	// requests it relays for other clients. An implementation counts each
	// refusal once (sluice_denied_total).
	AllowClient(client netip.Addr) bool
	// AllowRequest is called once per request after the route is chosen and
	// before a server is picked, with the client address (after trusted
	// X-Forwarded-For). ok=false: answer 429 with header
	// `Retry-After: <retryAfter>` (whole seconds, >= 1); nothing reaches a
	// backend.
	AllowRequest(req *fasthttp.Request, client netip.Addr) (ok bool, retryAfter int)
}

var hdrRetryAfter = []byte("Retry-After")

// allowRequest runs the frontend Guard and then the backend's RateLimit
// for one request. ok=false: answer FailRateLimited with Retry-After
// retryAfter (whole seconds, >= 1).
func allowRequest(t *table, req *fasthttp.Request, be *Backend, client netip.Addr) (ok bool, retryAfter int) {
	if g := t.guard; g != nil {
		if ok, ra := g.AllowRequest(req, client); !ok {
			return false, max(ra, 1)
		}
	}
	if rl := be.opts.RateLimit; rl != nil {
		if ok, wait := rl.Allow(0, ratelimit.Now()); !ok {
			return false, max(int(ratelimit.RetryAfterSeconds(wait)), 1)
		}
	}
	return true, 0
}

// appendRetryAfter writes the Retry-After field of a 429 without
// allocating; buf is scratch memory, returned grown.
func appendRetryAfter(h *fasthttp.ResponseHeader, secs int, buf []byte) []byte {
	buf = strconv.AppendInt(buf[:0], int64(max(secs, 1)), 10)
	h.SetBytesKV(hdrRetryAfter, buf)
	return buf
}
