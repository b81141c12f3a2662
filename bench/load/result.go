package load

import "time"

// Result is what one driver run measured inside its measurement window (warm-up
// excluded).
type Result struct {
	Requests int64         // completed requests (HTTP) or round trips (L4 RR)
	Errors   int64         // connect/read/write errors and timeouts
	Non2xx   int64         // HTTP responses with a status outside 200..399
	Bytes    int64         // bytes received (bulk: echoed payload; HTTP: whole responses)
	Elapsed  time.Duration // length of the measurement window
	P50, P90 time.Duration // latency quantiles (0 for bulk)
	P99, Max time.Duration
	Driver   string // "go" or "wrk"
	// Handshakes and Resumed count the TLS handshakes completed in the
	// window and how many of them resumed a session (TLS runs only).
	Handshakes, Resumed int64
}

// RPS is requests per second over the window.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// MBps is received megabytes (10^6 bytes) per second over the window.
func (r Result) MBps() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

func (r *Result) fromHist(h *Histogram) {
	r.P50 = h.QuantileDuration(0.50)
	r.P90 = h.QuantileDuration(0.90)
	r.P99 = h.QuantileDuration(0.99)
	r.Max = time.Duration(h.Max())
}

// tally is what one connection of a request/response driver counted.
type tally struct {
	h                        *Histogram
	reqs, errs, non2xx, byts int64
	hs, resumed              int64
}

// newTallies returns n tallies, each with its own histogram.
func newTallies(n int) []tally {
	ts := make([]tally, n)
	for i := range ts {
		ts[i].h = NewHistogram()
	}
	return ts
}

// sum merges the tallies of a run whose measurement window lasted el.
func sum(ts []tally, el time.Duration) Result {
	res := Result{Elapsed: el, Driver: "go"}
	h := NewHistogram()
	for i := range ts {
		t := &ts[i]
		h.Merge(t.h)
		res.Requests += t.reqs
		res.Errors += t.errs
		res.Non2xx += t.non2xx
		res.Bytes += t.byts
		res.Handshakes += t.hs
		res.Resumed += t.resumed
	}
	res.fromHist(h)
	return res
}
