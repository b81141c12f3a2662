package health

import (
	"fmt"
	"testing"
	"time"
)

// TestPassiveReasons: every step of the passive breaker is reported with a
// reason naming the failure kinds — the ejection ("2 consecutive failures
// on live traffic: 5xx, timeout"), the end of the cooldown (half-open), a
// failed trial (with its kind) and a successful one — in order, once each.
func TestPassiveReasons(t *testing.T) {
	f := newFake("127.0.0.1:1")
	var got []string
	rec := func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) }
	p := NewPassive(f, PassiveOptions{UnhealthyThreshold: 2, Cooldown: 5 * time.Second,
		Kinds:         []string{"connect error", "timeout", "reset", "5xx"},
		OnTransition:  func(_ PassiveTarget, up bool, r string) { rec("up=%v %s", up, r) },
		OnHalfOpen:    func(_ PassiveTarget, r string) { rec("half-open %s", r) },
		OnTrialFailed: func(_ PassiveTarget, r string) { rec("trial-failed %s", r) }})
	p.FailureOf(0, 2) // reset, then a success: that run is forgotten
	p.Success()
	p.FailureOf(1*sec, 3)
	p.FailureOf(2*sec, 1) // ejected until 7s
	p.Tick(2 * sec)
	p.Tick(7 * sec) // half-open
	p.FailureOf(8*sec, 0)
	p.Tick(8 * sec)  // trial failed: ejected until 13s
	p.Tick(13 * sec) // half-open again
	p.Success()
	p.Tick(14 * sec)
	want := []string{
		"up=false 2 consecutive failures on live traffic: timeout, 5xx",
		"half-open cooldown of 5s over: one trial request allowed",
		"trial-failed trial failed: connect error; ejected for another 5s",
		"half-open cooldown of 5s over: one trial request allowed",
		"up=true trial succeeded after cooldown",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports:\n%q\nwant\n%q", got, want)
	}
	// A failure of no named kind (Failure) names none.
	p.Failure(15 * sec)
	p.Failure(15 * sec)
	p.Tick(15 * sec)
	if last := got[len(got)-1]; last != "up=false 2 consecutive failures on live traffic" {
		t.Fatalf("last report %q", last)
	}
}
