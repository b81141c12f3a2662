package l7

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Failure classifies why a request did not get a normal answer from a
// backend server. It is decided ONCE per attempt, where the attempt ends, and the table
// failures says, for each value, the status the client sees, the metric label
// (sluice_backend_failures_total{reason}), whether it counts against the
// server (passive health) and when a retry on another server is safe.
type Failure uint8

// Failure values. FailNone means the attempt produced a response.
const (
	FailNone          Failure = iota
	FailConnect               // dialing the server failed: nothing was sent
	FailPoolFull              // no free pooled connection within MaxConnWait: nothing was sent
	FailTimeout               // the server went silent longer than the response timeout
	FailReset                 // the server closed or reset the connection before a full response head
	FailStatus5xx             // the server answered 5xx (passed through as is)
	FailNoServer              // Pick found no available server
	FailNoRoute               // no route and no default backend
	FailBadRequest            // malformed or ambiguous request (strict.go)
	FailHeadTooLarge          // request head over Limits.MaxHeaderBytes
	FailBodyTooLarge          // request body over Limits.MaxBodyBytes
	FailClientTimeout         // the client was too slow sending its body (Timeouts.ClientRead)
	FailClientAbort           // the client went away while sending its body
	FailUpgrade               // a tunnel upgrade the backend refused or that broke during setup
	FailDenied                // Guard.AllowClient refused the client (access list): 403
	FailRateLimited           // Guard.AllowRequest or the backend's RateLimit refused the request: 429
	FailStale                 // a reused pooled connection the server had closed broke before any response byte, after request bytes were written
	FailStaleUnsent           // the same, before a single request byte was written
	numFailures
)

// retryPolicy says when an attempt that failed may be repeated on another server.
type retryPolicy uint8

const (
	retryNever      retryPolicy = iota
	retryAlways                 // nothing was sent to the server
	retryIdempotent             // only idempotent methods without a body, at most once
	// retryFresh and retryFreshUnsent: once more on the SAME server, on a
	// connection dialed for it. A request with a body never: its body was
	// streamed from the client and cannot be sent again.
	retryFresh       // idempotent methods without a body
	retryFreshUnsent // any method without a body: the server got nothing
)

type failureInfo struct {
	status int    // what the client sees; 0 = the server's own status is passed through
	label  string // metric label (contract §4 reasons first)
	counts bool   // counts against the server (passive health)
	retry  retryPolicy
}

// failures is the one classification table. Keep it in Failure order.
var failures = [numFailures]failureInfo{
	FailNone:          {0, "", false, retryNever},
	FailConnect:       {fasthttp.StatusBadGateway, "connect", true, retryAlways},
	FailPoolFull:      {fasthttp.StatusServiceUnavailable, "pool_full", false, retryAlways},
	FailTimeout:       {fasthttp.StatusGatewayTimeout, "timeout", true, retryNever}, // a retry would double the wait
	FailReset:         {fasthttp.StatusBadGateway, "reset", true, retryIdempotent},
	FailStatus5xx:     {0, "status_5xx", true, retryNever},
	FailNoServer:      {fasthttp.StatusServiceUnavailable, "no_server", false, retryNever},
	FailNoRoute:       {fasthttp.StatusNotFound, "no_route", false, retryNever},
	FailBadRequest:    {fasthttp.StatusBadRequest, "bad_request", false, retryNever},
	FailHeadTooLarge:  {fasthttp.StatusRequestHeaderFieldsTooLarge, "head_too_large", false, retryNever},
	FailBodyTooLarge:  {fasthttp.StatusRequestEntityTooLarge, "body_too_large", false, retryNever},
	FailClientTimeout: {fasthttp.StatusRequestTimeout, "client_timeout", false, retryNever},
	FailClientAbort:   {fasthttp.StatusBadRequest, "client_abort", false, retryNever},
	FailUpgrade:       {fasthttp.StatusBadGateway, "upgrade", true, retryNever},
	FailDenied:        {fasthttp.StatusForbidden, "denied", false, retryNever},
	FailRateLimited:   {fasthttp.StatusTooManyRequests, "rate_limited", false, retryNever},
	// Servers close idle keep-alive connections (Node.js 5s, Gunicorn 2s):
	// not the server's fault, and not the client's to pay for.
	FailStale:       {fasthttp.StatusBadGateway, "stale", false, retryFresh},
	FailStaleUnsent: {fasthttp.StatusBadGateway, "stale_unsent", false, retryFreshUnsent},
}

// Status is the HTTP status the client sees for f (0: the server's own).
func (f Failure) Status() int { return failures[f].status }

// Label is the metric label for f ("" for FailNone).
func (f Failure) Label() string { return failures[f].label }

// String is Label, or "none".
func (f Failure) String() string {
	if f == FailNone {
		return "none"
	}
	return failures[f].label
}

// CountsAgainstServer reports whether f is the server's fault (passive health).
// Client-caused failures never count.
func (f Failure) CountsAgainstServer() bool { return failures[f].counts }

// RetrySafe reports whether a request that failed with f may be sent
// again: always when nothing was sent (connect, pool_full); for a reset only
// if the method is idempotent and the request has no body; for a stale
// pooled connection, on a fresh connection to the same server (RetryFresh),
// if the request has no body and either nothing was written or the method
// is idempotent. The caller also guarantees no response byte reached the
// client yet, and that a non-connect retry happens at most once.
func (f Failure) RetrySafe(idempotent, hasBody bool) bool {
	switch failures[f].retry {
	case retryAlways:
		return true
	case retryIdempotent, retryFresh:
		return idempotent && !hasBody
	case retryFreshUnsent:
		return !hasBody
	}
	return false
}

// RetryFresh reports whether f is retried on a new connection to the same
// server rather than on another server.
func (f Failure) RetryFresh() bool {
	r := failures[f].retry
	return r == retryFresh || r == retryFreshUnsent
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isReset reports connection-level breakage (used only by tests and logs).
func isReset(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, fasthttp.ErrConnectionClosed)
}
