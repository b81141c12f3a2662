package health

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// flapRec records OnDamp calls as "damped <reason>" / "trusted <reason>".
type flapRec struct {
	mu  sync.Mutex
	got []string
}

func (r *flapRec) on(_ DampTarget, damped bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if damped {
		r.got = append(r.got, "damped "+reason)
	} else {
		r.got = append(r.got, "trusted "+reason)
	}
}

func (r *flapRec) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func newTestFlap(o FlapOptions) (*Flap, *fakeTarget, *flapRec) {
	f := newFake("127.0.0.1:1")
	rec := &flapRec{}
	o.OnDamp = rec.on
	return NewFlap(f, o), f, rec
}

var flapOpts = FlapOptions{MaxTransitions: 4, Window: time.Minute, Penalty: 30 * time.Second, MaxPenalty: 10 * time.Minute}

// TestFlapDampsOnMoreThanMaxTransitionsWithinWindow: the fifth transition
// within a minute damps (max_transitions 4); four do not, nor do five that
// span more than the window.
func TestFlapDampsOnMoreThanMaxTransitionsWithinWindow(t *testing.T) {
	fl, f, rec := newTestFlap(flapOpts)
	for _, at := range []int64{0, 10, 20, 30} {
		fl.Transition(at * sec)
	}
	if d, _ := fl.Damped(); d || f.damped.Load() {
		t.Fatal("damped after 4 transitions (max_transitions 4)")
	}
	fl.Transition(40 * sec)
	if d, until := fl.Damped(); !d || until != 70*sec || !f.damped.Load() {
		t.Fatalf("Damped() = %v, %v (target %v); want true until 70s", d, until, f.damped.Load())
	}
	want := []string{"damped flapping: 5 state changes within 1m; held out for 30s"}
	if got := rec.list(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("reports %q, want %q", got, want)
	}

	// Spread over more than the window: never damped.
	fl2, f2, _ := newTestFlap(flapOpts)
	for i := range int64(20) {
		fl2.Transition(i * 16 * sec) // 5 transitions span 64s > 1m
	}
	if d, _ := fl2.Damped(); d || f2.damped.Load() {
		t.Fatal("damped although no 5 transitions fell within a minute")
	}
	// ... but one more inside the window does it.
	fl2.Transition(19*16*sec + 1)
	if d, _ := fl2.Damped(); !d {
		t.Fatal("not damped by 5 transitions within 48s")
	}
}

// TestFlapTrustedAgainAfterPenalty: the hold-out ends exactly at its end
// (a Tick just before it changes nothing), and a quiet hold-out is not
// extended; transitions before the damping do not count against it.
func TestFlapTrustedAgainAfterPenalty(t *testing.T) {
	fl, f, rec := newTestFlap(flapOpts)
	for i := range int64(5) {
		fl.Transition(i * sec)
	}
	fl.Tick(4*sec + 30*sec - 1)
	if !f.damped.Load() {
		t.Fatal("trusted before the penalty ended")
	}
	fl.Transition(10 * sec) // one change while held out: not flapping
	fl.Tick(34 * sec)
	if d, _ := fl.Damped(); d || f.damped.Load() {
		t.Fatal("still damped after the penalty")
	}
	got := rec.list()
	if len(got) != 2 || got[1] != "trusted trusted again after 30s held out by flap damping" {
		t.Fatalf("reports %q", got)
	}
	fl.Tick(100 * sec) // nothing more to report
	if len(rec.list()) != 2 {
		t.Fatalf("extra reports %q", rec.list())
	}
}

// TestFlapPenaltyGrowsExponentiallyCapped: a server that keeps flapping
// while held out is held out again at the end of each penalty for twice
// as long, up to max_penalty.
func TestFlapPenaltyGrowsExponentiallyCapped(t *testing.T) {
	o := flapOpts
	o.MaxPenalty = 100 * time.Second
	fl, f, rec := newTestFlap(o)
	now := int64(0)
	flap := func(until int64) { // one transition every 5s up to until
		for ; now < until; now += 5 * sec {
			fl.Transition(now)
		}
	}
	flap(25 * sec) // damped at 20s
	var penalties []int64
	for range 5 {
		d, until := fl.Damped()
		if !d {
			t.Fatalf("not damped at %ds", now/sec)
		}
		penalties = append(penalties, until/sec)
		flap(until) // flapping all through the hold-out
		now = until
		fl.Tick(now)
	}
	// Damped at 20s for 30s (until 50s), then 60s (110s), 100s (210s), 100s, 100s.
	want := []int64{50, 110, 210, 310, 410}
	if fmt.Sprint(penalties) != fmt.Sprint(want) {
		t.Fatalf("hold-outs end at %v s, want %v s", penalties, want)
	}
	if !f.damped.Load() {
		t.Fatal("target not damped while held out")
	}
	got := rec.list()
	if got[1] != "damped still flapping: 5 state changes within 1m while held out; held out for 1m (repeat 1)" ||
		got[2] != "damped still flapping: 5 state changes within 1m while held out; held out for 1m40s (repeat 2)" {
		t.Fatalf("reports %q", got)
	}
	// Quiet from now on: trusted at the end of the current penalty.
	fl.Tick(now + 100*sec)
	if d, _ := fl.Damped(); d || f.damped.Load() {
		t.Fatal("a quiet server stays damped")
	}
}

// TestFlapRepeatsResetAfterMaxPenalty: a damping that starts soon after the
// previous one ended doubles the penalty; after max_penalty of trust it is
// back to penalty.
func TestFlapRepeatsResetAfterMaxPenalty(t *testing.T) {
	o := flapOpts
	o.MaxPenalty = 5 * time.Minute
	fl, _, _ := newTestFlap(o)
	burst := func(at int64) int64 {
		for i := range int64(5) {
			fl.Transition(at + i*sec)
		}
		d, until := fl.Damped()
		if !d {
			t.Fatalf("burst at %ds did not damp", at/sec)
		}
		return until - (at + 4*sec)
	}
	if p := burst(0); p != 30*sec {
		t.Fatalf("first penalty %ds", p/sec)
	}
	fl.Tick(34 * sec)
	if p := burst(100 * sec); p != 60*sec { // 66s after the end: a repeat
		t.Fatalf("second penalty %ds, want 60", p/sec)
	}
	fl.Tick(164 * sec)
	if p := burst(164*sec + 5*60*sec); p != 30*sec { // trusted for max_penalty: from the start
		t.Fatalf("penalty after 5m of trust %ds, want 30", p/sec)
	}
}

// TestFlapRelease: flap damping turned off lets a held-out server go at
// once and forgets its history.
func TestFlapRelease(t *testing.T) {
	fl, f, rec := newTestFlap(flapOpts)
	for i := range int64(5) {
		fl.Transition(i * sec)
	}
	fl.Release()
	if d, _ := fl.Damped(); d || f.damped.Load() {
		t.Fatal("damped after Release")
	}
	if got := rec.list(); got[len(got)-1] != "trusted flap damping turned off" {
		t.Fatalf("reports %q", got)
	}
	fl.Transition(6 * sec)
	if d, _ := fl.Damped(); d {
		t.Fatal("transitions before Release still counted")
	}
}

// TestFlapSetOptionsKeepsState: new options keep a hold-out and the newest
// transitions; a lower max_transitions applies to the next transition.
func TestFlapSetOptionsKeepsState(t *testing.T) {
	fl, _, _ := newTestFlap(flapOpts)
	for i := range int64(3) {
		fl.Transition(i * sec)
	}
	o := flapOpts
	o.MaxTransitions = 2
	fl.SetOptions(o)
	fl.Transition(3 * sec) // 4 transitions within a minute > 2; the ring keeps the newest 3
	if d, until := fl.Damped(); !d || until != 33*sec {
		t.Fatalf("Damped() = %v, %d after lowering max_transitions", d, until)
	}
	fl.SetOptions(flapOpts)
	if d, until := fl.Damped(); !d || until != 33*sec {
		t.Fatal("SetOptions ended a hold-out")
	}
}

func TestFlapOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    FlapOptions
		want string
	}{
		{FlapOptions{}, ""},
		{FlapOptions{MaxTransitions: -1}, "max_transitions -1"},
		{FlapOptions{MaxTransitions: MaxFlapTransitions + 1}, "max_transitions 1001"},
		{FlapOptions{Window: -time.Second}, "window -1s is negative"},
		{FlapOptions{Penalty: time.Minute, MaxPenalty: time.Second}, "max_penalty 1s is shorter than penalty 1m0s"},
		{FlapOptions{Penalty: time.Hour}, ""}, // max_penalty defaults to at least penalty
	} {
		err := tc.o.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Second: "30s", time.Minute: "1m", 90 * time.Second: "1m30s",
		2 * time.Hour: "2h", 250 * time.Millisecond: "250ms", time.Hour + time.Minute: "1h1m"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestSweeperTicksFlaps: the Sweeper ends hold-outs on time.
func TestSweeperTicksFlaps(t *testing.T) {
	o := flapOpts
	o.Penalty = 50 * time.Millisecond
	fl, f, _ := newTestFlap(o)
	now := Now()
	for range 5 {
		fl.Transition(now)
	}
	s := NewSweeper(10*time.Millisecond, nil)
	defer s.Stop()
	s.SetFlaps([]*Flap{fl})
	waitFor(t, 2*time.Second, "hold-out ended by the sweeper", func() bool { return !f.damped.Load() })
}
