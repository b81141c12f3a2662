package health

import (
	"strings"
	"testing"
)

// seq turns "++-+" into results: + success, - failure.
func seq(s string) []bool {
	r := make([]bool, len(s))
	for i, c := range s {
		r[i] = c == '+'
	}
	return r
}

func TestHysteresisSequences(t *testing.T) {
	tests := []struct {
		name               string
		healthy, unhealthy int
		startDown          bool
		in                 string
		flips              []int // indexes in `in` where a flip happens
		final              bool  // state at the end
	}{
		{"up: exactly 3 failures take it down", 2, 3, false, "---", []int{2}, false},
		{"up: 2 failures are not enough", 2, 3, false, "--", nil, true},
		{"up: a success resets the failure run", 2, 3, false, "--+--+--", nil, true},
		{"up: down then back after 2", 2, 3, false, "---++", []int{2, 4}, true},
		{"down: one success is not enough", 2, 3, false, "---+-+", []int{2}, false},
		{"startDown: back after 2 successes", 2, 3, true, "++", []int{1}, true},
		{"startDown: failures keep it down", 2, 3, true, "---+", nil, false},
		{"startDown: success run reset by a failure", 2, 3, true, "+-+-++", []int{5}, true},
		{"thresholds 1 flip on every change", 1, 1, false, "-+-+", []int{0, 1, 2, 3}, true},
		{"thresholds below 1 mean 1", 0, -4, false, "-+", []int{0, 1}, true},
		{"flap after flip restarts run", 2, 3, false, "----+++---", []int{2, 5, 9}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHysteresis(tc.healthy, tc.unhealthy, tc.startDown)
			if h.Up() == tc.startDown {
				t.Fatalf("initial Up=%v with startDown=%v", h.Up(), tc.startDown)
			}
			var flips []int
			for i, ok := range seq(tc.in) {
				flipped, up := h.Observe(ok)
				if up != h.Up() {
					t.Fatalf("step %d: returned up=%v, Up()=%v", i, up, h.Up())
				}
				if flipped {
					flips = append(flips, i)
					if up != ok {
						t.Fatalf("step %d: flipped to %v on result %v", i, up, ok)
					}
				}
			}
			if !equalInts(flips, tc.flips) {
				t.Fatalf("flips at %v, want %v (seq %s)", flips, tc.flips, strings.TrimSpace(tc.in))
			}
			if h.Up() != tc.final {
				t.Fatalf("final Up=%v, want %v", h.Up(), tc.final)
			}
		})
	}
}

func TestHysteresisSetThresholdsKeepsRun(t *testing.T) {
	h := NewHysteresis(2, 5, false)
	h.Observe(false)
	h.Observe(false)
	if h.Pending() != 2 {
		t.Fatalf("Pending=%d, want 2", h.Pending())
	}
	h.SetThresholds(2, 2) // run already at the new threshold: next failure flips
	if flipped, up := h.Observe(false); !flipped || up {
		t.Fatalf("Observe after lowering = (%v,%v), want (true,false)", flipped, up)
	}
	if h.Pending() != 0 {
		t.Fatalf("Pending after flip=%d, want 0", h.Pending())
	}
}

func TestHysteresisZeroValue(t *testing.T) {
	var h Hysteresis // down, thresholds treated as 1
	if flipped, up := h.Observe(true); !flipped || !up {
		t.Fatalf("zero value Observe(true) = (%v,%v), want (true,true)", flipped, up)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
