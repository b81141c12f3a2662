package l7

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func deadAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// closingBackend accepts and closes each connection after reading a little.
func closingBackend(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b := make([]byte, 64)
				_, _ = c.Read(b)
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func checkReleased(t testing.TB, b *Backend) {
	t.Helper()
	waitFor(t, 5*time.Second, "servers released", func() bool {
		for _, s := range b.Balancer().Servers() {
			if s.Active() != 0 {
				return false
			}
		}
		return true
	})
}

func TestFailureConnect502AndRetry(t *testing.T) {
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{ConnectTimeout: time.Second}, deadAddr(t))
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	res := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false)
	if res.status != 502 {
		t.Fatalf("status %d", res.status)
	}
	if r := obs.last(t); r.Failure != FailConnect || r.Status != 502 {
		t.Fatalf("record %+v", r)
	}
	checkReleased(t, bk)

	// One dead and one live server: a connect failure is retried, even for POST.
	live := startBackend(t, okHandler)
	obs2 := &recObserver{}
	bk2 := newBackend(t, "web", BackendOptions{}, deadAddr(t), live.addr)
	_, addr2 := startProxy(t, Options{Default: bk2, Observer: obs2})
	for i := 0; i < 4; i++ {
		res := rawExchange(t, addr2, "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false)
		if res.status != 200 {
			t.Fatalf("try %d: status %d", i, res.status)
		}
	}
	obs2.mu.Lock()
	nConnect := 0
	for _, f := range obs2.attempts {
		if f == FailConnect {
			nConnect++
		}
	}
	obs2.mu.Unlock()
	if nConnect == 0 {
		t.Fatal("round robin never hit the dead server")
	}
	checkReleased(t, bk2)
}

func TestFailureTimeout504(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) { <-block })
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{ResponseTimeout: 200 * time.Millisecond}, be.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	start := time.Now()
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if res.status != 504 {
		t.Fatalf("status %d", res.status)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	if r := obs.last(t); r.Failure != FailTimeout {
		t.Fatalf("failure %v", r.Failure)
	}
	if be.count() != 1 {
		t.Fatalf("timeout was retried: backend got %d", be.count())
	}
	checkReleased(t, bk)
}

func TestFailureReset502AndIdempotentRetry(t *testing.T) {
	bad := closingBackend(t)
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, bad)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false)
	if res.status != 502 {
		t.Fatalf("status %d", res.status)
	}
	if r := obs.last(t); r.Failure != FailReset {
		t.Fatalf("failure %v", r.Failure)
	}

	// bad + good: GET is retried once on the other server; POST with a body is not.
	good := startBackend(t, okHandler)
	obs2 := &recObserver{}
	bk2 := newBackend(t, "web", BackendOptions{}, bad, good.addr)
	_, addr2 := startProxy(t, Options{Default: bk2, Observer: obs2})
	gets, posts502 := 0, 0
	for i := 0; i < 6; i++ {
		if res := rawExchange(t, addr2, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status == 200 {
			gets++
		}
		if res := rawExchange(t, addr2, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", false); res.status == 502 {
			posts502++
		}
	}
	if gets != 6 {
		t.Fatalf("GETs answered 200: %d of 6", gets)
	}
	if posts502 == 0 {
		t.Fatal("a POST that hit the resetting server was retried (or never hit it)")
	}
	checkReleased(t, bk2)
}

func TestFailureNoServer503And5xx(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/err") {
			w.WriteHeader(500)
		}
	})
	obs := &recObserver{}
	bk := newBackend(t, "web", BackendOptions{}, be.addr)
	_, addr := startProxy(t, Options{Default: bk, Observer: obs})
	if res := rawExchange(t, addr, "GET /err HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 500 {
		t.Fatalf("5xx passthrough: %d", res.status)
	}
	if r := obs.last(t); r.Failure != FailStatus5xx || r.Status != 500 {
		t.Fatalf("record %+v", r)
	}
	bk.Balancer().Servers()[0].SetActiveUp(false)
	if res := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false); res.status != 503 {
		t.Fatalf("no server: %d", res.status)
	}
	if r := obs.last(t); r.Failure != FailNoServer {
		t.Fatalf("failure %v", r.Failure)
	}
}

func TestFailureTable(t *testing.T) {
	for f := FailNone + 1; f < numFailures; f++ {
		if f.Label() == "" {
			t.Errorf("failure %d has no label", f)
		}
		if f != FailStatus5xx && f.Status() == 0 {
			t.Errorf("%v has no status", f)
		}
	}
	if !FailConnect.RetrySafe(false, true) || FailReset.RetrySafe(false, false) || FailReset.RetrySafe(true, true) || !FailReset.RetrySafe(true, false) || FailTimeout.RetrySafe(true, false) {
		t.Fatal("retry policy")
	}
	if FailConnect.Status() != 502 || FailTimeout.Status() != 504 || FailReset.Status() != 502 || FailNoServer.Status() != 503 {
		t.Fatal("statuses")
	}
	// A stale pooled connection: on a fresh connection to the same server,
	// never counted against it; with nothing written any method without a
	// body, else only idempotent ones; a body never.
	for _, c := range []struct {
		f                 Failure
		idem, body, retry bool
	}{
		{FailStale, true, false, true}, {FailStale, false, false, false}, {FailStale, true, true, false},
		{FailStaleUnsent, true, false, true}, {FailStaleUnsent, false, false, true}, {FailStaleUnsent, false, true, false},
	} {
		if got := c.f.RetrySafe(c.idem, c.body); got != c.retry || !c.f.RetryFresh() || c.f.CountsAgainstServer() || c.f.Status() != 502 {
			t.Errorf("%v idempotent=%v body=%v: retry %v fresh %v counts %v status %d", c.f, c.idem, c.body,
				got, c.f.RetryFresh(), c.f.CountsAgainstServer(), c.f.Status())
		}
	}
	if FailReset.RetryFresh() || FailConnect.RetryFresh() {
		t.Error("only stale connections are retried on the same server")
	}
}
