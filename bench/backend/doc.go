// Package backend owns the demo and benchmark backends of Sluice: a fast HTTP server
// (fasthttp) and TCP echo and line servers, each started in-process on a 127.0.0.1
// address and closed by its owner.
//
// The servers are meant for `sluice-bench backends` (the `make run` demo), the
// benchmark harness and other packages' tests that need real backends:
//
//	b, err := backend.StartHTTP("127.0.0.1:0")
//	defer b.Close()
//	... send traffic through the proxy to b.Addr() ...
//	if b.Requests() != 3 { ... }
//
// Every server counts what it served in atomics (safe to read from any goroutine while
// it runs), so tests can assert how a balancer spread the load.
package backend
