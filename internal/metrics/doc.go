// Package metrics owns Sluice's Prometheus series: it creates every handle
// when a configuration is applied, hands pre-resolved handles to the data
// plane (l4, l7), and renders the exposition served on the admin /metrics
// endpoint.
//
// Layout: a Registry owns one VictoriaMetrics Set per frontend, per
// (frontend, backend) Pair, per backend Server and one for process-level
// series. A series lives in exactly one Set, so removing an entity (a server
// that has drained, a frontend dropped by a reload) unregisters exactly its
// series, and re-adding it later creates fresh ones without duplicate-name
// panics. Asking the Registry again for an entity it already holds returns
// the same handles, so a reload that keeps a frontend or server keeps its
// counters.
//
// Hot path: every update is an atomic operation on a handle resolved in
// advance (Counter.Inc/Add, an atomic.Pointer load for the per-status-code
// counter). Nothing on the hot path looks anything up by label string,
// formats a name or allocates. The only lock is inside the request-duration
// histogram (VictoriaMetrics PrometheusHistogram.Update) and on the first use
// of a status code by a Pair.
//
// Gauges that mirror state owned elsewhere (server health, active
// connections) are callback gauges sampled at scrape time; they take plain
// funcs so this package never imports balance.
//
// The contract names (docs: contract §4) are the constants Name*; they must
// never be renamed.
package metrics
