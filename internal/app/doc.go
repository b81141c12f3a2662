// Package app wires Sluice together. It is the only package that sees the
// YAML types of internal/config: it turns a loaded *config.Config into
// running frontends (l4, l7), backends (balance, health), metrics, the access
// log and the admin listener.
//
// Every change of configuration — start-up, SIGHUP, --watch, and later the
// admin API — goes through one path, App.Apply: the new config is validated
// in full, new listeners are bound, and only then is anything swapped. An
// error at any step before the swap leaves the running configuration as it
// was. Objects whose identity did not change are kept: a frontend with the
// same name, mode and address keeps its listening sockets; a server with the
// same backend and address keeps its *balance.Server (health state, counters,
// pooled connections) and metrics.
//
// App methods are safe for concurrent use; Apply and Shutdown are serialised.
package app
