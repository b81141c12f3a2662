package app

import (
	"fmt"
	"net"
	"testing"
	"time"

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

// TestHealthHistoryReasons: each cause of a server going down is in its
// history with the source and the reason an operator needs (connection
// refused, a timeout, a status, consecutive 5xx on live traffic);
// up_ratio_1h falls for a server that is down and stays 1 for one that is
// up. (Operator changes and flap damping reach the history through the
// same event path: TestFlapDampingCutsClientErrors checks a hold-out's.)
func TestHealthHistoryReasons(t *testing.T) {
	refused := hlAddr(hlPorts(t, 1)[0]) // nothing listens there
	hangLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hangLn.Close()
	go func() { // accepts, never answers
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := hangLn.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	s503, s503Addr, _, _ := startKnob(t)
	s503.status.Store(503)
	k500, a500, _, _ := startKnob(t)
	k500.status.Store(500)
	_, good, _, _ := startKnob(t)
	p := hlPorts(t, 2)
	yaml := fmt.Sprintf(`admin: {listen: "127.0.0.1:%d"}
logging: {level: info, access_log: "off"}
frontends:
  - {name: web, listen: "127.0.0.1:%d", backend: pas}
backends:
  - name: act
    servers: [{address: "%s"}, {address: "%s"}, {address: "%s"}, {address: "%s"}]
    health:
      active: {type: http, path: /x, interval: 100ms, timeout: 80ms, healthy_threshold: 1, unhealthy_threshold: 1}
      passive: {unhealthy_threshold: 0}
  - name: pas
    servers: [{address: "%s"}]
    health:
      passive: {unhealthy_threshold: 5, cooldown: 1h}
`, p[0], p[1], refused, hangLn.Addr(), good, s503Addr, a500)
	a := obsStart(t, yaml, Options{SampleInterval: 50 * time.Millisecond})
	hr := a.Control().(state.HistoryReader)
	has := func(backend, addr, source, st, reason string) func() bool {
		return func() bool {
			for _, h := range hr.History(backend, addr) {
				if h.Source == source && h.State == st && h.Reason == reason && !h.Time.IsZero() {
					return true
				}
			}
			return false
		}
	}
	hlWait(t, 5*time.Second, "connection refused", has("act", refused, "active", "down", "active check: connect: connection refused"))
	hlWait(t, 5*time.Second, "timeout", has("act", hangLn.Addr().String(), "active", "down", "active check: timeout after 80ms"))
	hlWait(t, 5*time.Second, "status 503", has("act", s503Addr, "active", "down", "active check: status 503"))
	// Live traffic: 5 consecutive 5xx eject the passive server.
	cl := hlHTTPClient(t)
	for range 5 {
		_, _, _ = hlGet(cl, fmt.Sprintf("http://127.0.0.1:%d/", p[1]))
	}
	hlWait(t, 5*time.Second, "5 consecutive 5xx", has("pas", a500, "passive", "down", "5 consecutive failures on live traffic: 5xx"))
	// Up ratio: the refused server is down in every sample, the good one up.
	hlWait(t, 5*time.Second, "up ratios", func() bool {
		var down, up float64 = -1, -1
		for _, b := range a.Control().Stats().Backends {
			for _, s := range b.Servers {
				switch s.Address {
				case refused:
					down = s.UpRatio
				case good:
					up = s.UpRatio
				}
			}
		}
		return down >= 0 && down < 0.5 && up == 1
	})
}
