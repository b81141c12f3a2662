// Package live keeps the numbers and records the admin API reads without
// slowing the data path: lock-free latency histograms ([Hist]) fed per
// request and turned into last-minute percentiles by a sampler ([Window]),
// a bounded ring of access-log entries ([LogRing]) filled by copying into
// preallocated slots, a bounded ring of events ([EventRing]), and the hub
// that delivers stats, events and log lines to live subscribers ([Hub]).
//
// The data path only ever calls Hist.Observe and LogRing.AddHTTP/AddTCP:
// atomics and copies into fixed-size slots, no locks, no allocation. Values
// of package state are built only when something reads.
//
// The package is a leaf: standard library and internal/state only.
package live
