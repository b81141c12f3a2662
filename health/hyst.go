package health

// Hysteresis is the pure consecutive-threshold state machine behind both
// health checks: a server that is up goes down after UnhealthyThreshold
// consecutive failures, and a server that is down comes back after
// HealthyThreshold consecutive successes. A result that agrees with the
// current state resets the opposite run, so 2 failures, 1 success, 2 failures
// never reach an unhealthy threshold of 3.
//
// The zero value is down with both thresholds 1. Hysteresis is a plain value
// with no locks: it is owned by one goroutine (the Checker owns one per
// target). Thresholds below 1 are treated as 1.
type Hysteresis struct {
	up        bool
	run       int // consecutive results that disagree with up
	healthy   int
	unhealthy int
}

// NewHysteresis returns a machine with the given thresholds that starts down
// when startDown is set, and up otherwise (up but unconfirmed: it goes down
// after unhealthyThreshold failures, as HAProxy treats new servers).
func NewHysteresis(healthyThreshold, unhealthyThreshold int, startDown bool) Hysteresis {
	h := Hysteresis{up: !startDown}
	h.SetThresholds(healthyThreshold, unhealthyThreshold)
	return h
}

// SetThresholds changes the thresholds and keeps the state and the current
// run, so a run already at or past a lowered threshold flips on the next
// disagreeing result. Values below 1 are treated as 1.
func (h *Hysteresis) SetThresholds(healthyThreshold, unhealthyThreshold int) {
	h.healthy = max(healthyThreshold, 1)
	h.unhealthy = max(unhealthyThreshold, 1)
}

// Observe records one check result and returns whether it flipped the state,
// and the state after it. It flips exactly on the threshold-th consecutive
// disagreeing result, and the run restarts from zero after a flip.
func (h *Hysteresis) Observe(ok bool) (flipped, up bool) {
	if ok == h.up {
		h.run = 0
		return false, h.up
	}
	h.run++
	need := h.unhealthy
	if !h.up {
		need = h.healthy
	}
	if h.run < need {
		return false, h.up
	}
	h.up = ok
	h.run = 0
	return true, h.up
}

// Up reports the current state.
func (h *Hysteresis) Up() bool { return h.up }

// Pending returns the number of consecutive results so far that disagree
// with the current state (0 right after a flip or an agreeing result).
func (h *Hysteresis) Pending() int { return h.run }
