// Package app wires Sluice together. It is the only package that sees the
// YAML types of internal/config: it turns a loaded *config.Config into
// running frontends (l4, l7), backends (balance, health), metrics, the access
// log and the admin listener.
//
// Every change of configuration — start-up, SIGHUP, --watch, and later the
// admin API — goes through one path, App.Apply, in two phases (plan.go).
// The plan builds the whole next configuration beside the running one:
// backend options, health-check options, listeners, guards, l7 proxies and
// routing tables, l4 frontends, the access log. Everything that can fail
// happens there, and an error undoes what was built and leaves the running
// configuration exactly as it was. The commit only swaps and starts what
// the plan built; it cannot fail. Objects whose identity did not change are kept: a frontend with the
// same name, mode and address keeps its listening sockets; a server with the
// same backend and address keeps its *balance.Server (health state, counters,
// pooled connections) and metrics.
//
// App methods are safe for concurrent use; Apply and Shutdown are serialised.
package app
