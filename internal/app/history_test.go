package app

import (
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

// TestUpRing: the up ratio is over the last hour of samples; old samples
// leave the window as new ones come.
func TestUpRing(t *testing.T) {
	var r upRing
	if r.ratio() != 1 {
		t.Fatalf("empty ratio %v", r.ratio())
	}
	for i := range upSamples {
		r.add(i%4 != 0) // 3 of 4 up
	}
	if r.ratio() != 0.75 || r.count() != r.ones {
		t.Fatalf("ratio %v ones %d count %d", r.ratio(), r.ones, r.count())
	}
	for range upSamples / 2 {
		r.add(false) // half the hour down
	}
	if got := r.ratio(); got != 0.375 || r.count() != r.ones {
		t.Fatalf("after half an hour down: %v (ones %d, count %d)", got, r.ones, r.count())
	}
	for range 3 * upSamples {
		r.add(true)
	}
	if r.ratio() != 1 || r.n != upSamples {
		t.Fatalf("after hours up: %v n %d", r.ratio(), r.n)
	}
}

// TestHistoryRing keeps the newest 100 transitions, oldest first.
func TestHistoryRing(t *testing.T) {
	var h history
	for i := range 250 {
		h.add(state.HealthTransition{Reason: string(rune('a' + i%26)), State: "up"})
	}
	l := h.list()
	if len(l) != historyLen || l[0].Reason != string(rune('a'+150%26)) || l[99].Reason != string(rune('a'+249%26)) {
		t.Fatalf("history %d entries, first %q last %q", len(l), l[0].Reason, l[len(l)-1].Reason)
	}
}
