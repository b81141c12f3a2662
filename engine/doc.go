// Package engine carries TCP sessions (a client connection joined to a backend
// connection) on a gnet multi-reactor, with the two halves of every session on
// the same event loop.
//
// It owns the byte pump and nothing above it: no load balancing, no HTTP, no
// configuration. The l4 package picks and dials a server, then hands both
// connections to Engine.Proxy.
//
// # Two modes per session
//
// A session starts in loop mode: the event loop reads from one side and writes
// straight to the other side's socket with write(2). gnet's own output buffer
// is never used, so nothing can pile up in it (gnet v2.10.0 buffers output
// without bound and cannot pause reads).
//
// The moment the kernel will not take a whole write, the session moves to pipe
// mode: both sockets are duplicated, gnet lets go of its descriptors, and two
// goroutines on Go's own poller copy with splice(2). There the kernel's TCP flow
// control applies, so a fast sender facing a slow reader is held back rather
// than buffered. Chatty request/response sessions stay on the loop; bulk and
// slow ones move to splice.
//
// # Half-close and close
//
// gnet reports a peer's FIN as a close. When that happens the engine keeps a
// duplicate of that socket, passes the FIN on with shutdown(SHUT_WR) and lets
// the other direction keep flowing until it ends too. Every byte received from
// a side has been written to the other side before that side is closed.
//
// # Concurrency
//
// Session state is owned by its event loop while in loop mode (no locks) and by
// its two pipe goroutines afterwards; the hand-over is a goroutine start, which
// orders the two. Idle sessions are found by a per-loop sweep that gnet's
// ticker posts onto each loop with Execute.
package engine
