package live

import (
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/state"
)

func TestEventRing(t *testing.T) {
	r := NewEventRing(5)
	if got := r.List(0, 0); len(got) != 0 || got == nil {
		t.Fatalf("empty ring: %v (want an empty, non-nil list)", got)
	}
	at := time.Unix(100, 0)
	for i := range 8 {
		e := r.Add(state.Event{Type: state.EventHealth, Message: string(rune('a' + i))})
		if e.ID != uint64(i+1) || e.Time.IsZero() || e.Severity != "info" {
			t.Fatalf("Add returned %+v", e)
		}
	}
	if e := r.Add(state.Event{Time: at, Severity: "warn"}); e.Time != at || e.Severity != "warn" || e.ID != 9 {
		t.Fatalf("given time and severity must be kept: %+v", e)
	}
	all := r.List(0, 0)
	if len(all) != 5 || all[0].ID != 5 || all[4].ID != 9 {
		t.Fatalf("kept %d events %d..%d, want 5..9", len(all), all[0].ID, all[len(all)-1].ID)
	}
	if got := r.List(6, 0); len(got) != 3 || got[0].ID != 7 {
		t.Fatalf("after 6: %+v", got)
	}
	if got := r.List(5, 2); len(got) != 2 || got[0].ID != 6 || got[1].ID != 7 {
		t.Fatalf("after 5, limit 2: %+v", got)
	}
	if got := r.List(9, 0); len(got) != 0 {
		t.Fatalf("after the newest: %+v", got)
	}
	if r.Last() != 9 {
		t.Fatalf("Last = %d", r.Last())
	}
}
