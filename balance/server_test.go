package balance

import (
	"testing"
	"time"
)

func TestServerState(t *testing.T) {
	s := NewServer("web", "127.0.0.1:9000", 300)
	if s.Backend() != "web" || s.Addr() != "127.0.0.1:9000" || s.Weight() != MaxWeight {
		t.Fatalf("NewServer: backend %q addr %q weight %d", s.Backend(), s.Addr(), s.Weight())
	}
	if !s.Healthy() || s.Draining() || !s.Enabled() || !s.Available() || s.Active() != 0 {
		t.Fatal("a new server must be healthy, enabled, not draining, available, idle")
	}
	if NewServer("web", "x", -3).Weight() != 0 {
		t.Fatal("negative weight must clamp to 0")
	}
	steps := []struct {
		name    string
		do      func() bool
		changed bool
		healthy bool
		avail   bool
	}{
		{"active down", func() bool { return s.SetActiveUp(false) }, true, false, false},
		{"active down again", func() bool { return s.SetActiveUp(false) }, false, false, false},
		{"passive down", func() bool { return s.SetPassiveUp(false) }, true, false, false},
		{"active up", func() bool { return s.SetActiveUp(true) }, true, false, false},
		{"passive up", func() bool { return s.SetPassiveUp(true) }, true, true, true},
		{"passive up again", func() bool { return s.SetPassiveUp(true) }, false, true, true},
		{"disable", func() bool { return s.SetEnabled(false) }, true, true, false},
		{"enable", func() bool { return s.SetEnabled(true) }, true, true, true},
		{"weight 5", func() bool { return s.SetWeight(5) }, true, true, true},
		{"weight 5 again", func() bool { return s.SetWeight(5) }, false, true, true},
	}
	for _, st := range steps {
		if got := st.do(); got != st.changed {
			t.Errorf("%s: changed = %v, want %v", st.name, got, st.changed)
		}
		if s.Healthy() != st.healthy || s.Available() != st.avail {
			t.Errorf("%s: Healthy %v Available %v, want %v %v", st.name, s.Healthy(), s.Available(), st.healthy, st.avail)
		}
	}
	s.SetDraining(true)
	if !s.Draining() || s.Available() {
		t.Fatal("draining server must not be available")
	}
	s.SetDraining(false)
	if s.Draining() || !s.Available() {
		t.Fatal("undrained server must be available")
	}
	s.Release() // unbalanced: ignored
	if s.Active() != 0 {
		t.Fatalf("unbalanced Release made Active() = %d", s.Active())
	}
}

func TestServerExt(t *testing.T) {
	s := NewServer("web", "127.0.0.1:9000", 1)
	if s.Ext(ExtL7) != nil || s.Ext(-1) != nil || s.Ext(NumExt) != nil {
		t.Fatal("unset or out-of-range Ext must be nil")
	}
	s.SetExt(ExtMetrics, 42)
	s.SetExt(ExtHealth, "h")
	if s.Ext(ExtMetrics) != 42 || s.Ext(ExtHealth) != "h" || s.Ext(ExtL7) != nil {
		t.Fatalf("Ext = %v %v %v", s.Ext(ExtMetrics), s.Ext(ExtHealth), s.Ext(ExtL7))
	}
	defer func() {
		if recover() == nil {
			t.Fatal("SetExt out of range must panic")
		}
	}()
	s.SetExt(NumExt, 1)
}

func TestMaxConnsAvailable(t *testing.T) {
	ss := mkServers(1)
	b := New(Options{MaxConnsPerServer: 2}, ss)
	p1, p2 := b.Pick(0, nil), b.Pick(0, nil)
	if p1 != ss[0] || p2 != ss[0] || ss[0].Available() {
		t.Fatalf("after two picks at max 2: %v %v available=%v", p1, p2, ss[0].Available())
	}
	if p := b.Pick(0, nil); p != nil {
		t.Fatal("Pick above MaxConnsPerServer returned a server")
	}
	p1.Release()
	if !ss[0].Available() || b.Pick(0, nil) != ss[0] {
		t.Fatal("released server must be available again")
	}
	ss[0].Release()
	ss[0].Release()
	assertZero(t, b, ss)
}

// TestWaitWokenByRelease: a caller that waits for a full server is woken by
// the Release that frees a slot (and by nothing before it), and Waiters
// counts it while it waits.
func TestWaitWokenByRelease(t *testing.T) {
	s := NewServer("b", "a:1", 1)
	b := New(Options{MaxConnsPerServer: 1}, []*Server{s})
	if b.Pick(0, nil) != s {
		t.Fatal("first pick failed")
	}
	freed := b.Wait()
	if b.Waiters() != 1 {
		t.Fatalf("waiters %d, want 1", b.Waiters())
	}
	if b.Pick(0, nil) != nil {
		t.Fatal("picked a full server")
	}
	select {
	case <-freed:
		t.Fatal("woken before any release")
	default:
	}
	s.Release()
	select {
	case <-freed:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by Release")
	}
	b.Unwait()
	if b.Waiters() != 0 {
		t.Fatalf("waiters %d after Unwait", b.Waiters())
	}
	if b.Pick(0, nil) != s {
		t.Fatal("no pick after the release")
	}
}
