package l4

import (
	"bufio"
	"context"
	"errors"
	"github.com/sluicelb/sluice/internal/fdtest"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// namedEcho starts a backend that greets with its name, then echoes lines.
func namedEcho(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil { // EMFILE in the descriptor test: keep serving
				time.Sleep(5 * time.Millisecond)
				continue
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, name+"\n")
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// deadAddr returns an address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	_ = ln.Close()
	return a
}

type recHooks struct {
	NopHooks
	mu        sync.Mutex
	failed    map[string]int
	errs      []string
	refused   map[Refusal]int
	ended     chan SessionInfo
	connected atomic.Int64
}

func newRecHooks() *recHooks {
	return &recHooks{failed: map[string]int{}, refused: map[Refusal]int{}, ended: make(chan SessionInfo, 4096)}
}
func (h *recHooks) ConnectFailed(s *balance.Server, err error) {
	h.mu.Lock()
	if len(h.errs) < 10 {
		h.errs = append(h.errs, err.Error())
	}
	h.failed[s.Addr()]++
	h.mu.Unlock()
}
func (h *recHooks) Refused(r Refusal, _ netip.Addr) {
	h.mu.Lock()
	h.refused[r]++
	h.mu.Unlock()
}
func (h *recHooks) Connected(*balance.Server) { h.connected.Add(1) }
func (h *recHooks) Ended(i *SessionInfo)      { h.ended <- *i }

type fixture struct {
	f     *Frontend
	addr  string
	hooks *recHooks
	conns *gate.Gate
}

func start(t *testing.T, algo balance.Algorithm, maxConns int64, idle time.Duration, addrs ...string) *fixture {
	t.Helper()
	e, err := engine.New(engine.Options{Loops: 2, SweepInterval: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	var servers []*balance.Server
	for _, a := range addrs {
		servers = append(servers, balance.NewServer("be", a, 1))
	}
	h := newRecHooks()
	fx := &fixture{hooks: h, conns: gate.New(maxConns)}
	fx.f = New(Options{
		Name:        "fe",
		Engine:      e,
		Backend:     &Backend{Name: "be", Balancer: balance.New(balance.Options{Algorithm: algo}, servers), ConnectTimeout: time.Second},
		IdleTimeout: idle,
		Conns:       fx.conns,
		Global:      gate.New(0),
		Admit:       func(netip.Addr) Refusal { return 0 },
		Hooks:       h,
		Log:         quiet,
	})
	ln, err := engine.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fx.addr = ln.Addr().String()
	fx.f.Start(ln)
	t.Cleanup(func() {
		if t.Failed() {
			h.mu.Lock()
			t.Logf("hooks: refused %v failed %v errs %v", h.refused, h.failed, h.errs)
			h.mu.Unlock()
		}
		fx.f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return fx
}

func greet(t *testing.T, addr string) (string, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil { // a refusal can arrive while connecting
		t.Logf("greet %s: %v", addr, err)
		return "", nil
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Logf("greet %s: %v", addr, err)
		c.Close()
		return "", nil
	}
	return strings.TrimSpace(line), c
}

func TestRoundRobinThroughProxy(t *testing.T) {
	fx := start(t, balance.RoundRobin, 0, 10*time.Second, namedEcho(t, "a"), namedEcho(t, "b"), namedEcho(t, "c"))
	got := map[string]int{}
	for i := 0; i < 30; i++ {
		name, c := greet(t, fx.addr)
		if c == nil {
			t.Fatalf("connection %d got no greeting", i)
		}
		got[name]++
		c.Close()
	}
	if got["a"] != 10 || got["b"] != 10 || got["c"] != 10 {
		t.Fatalf("distribution %v, want 10 each", got)
	}
}

func TestConnectFailureTriesNextServer(t *testing.T) {
	dead := deadAddr(t)
	fx := start(t, balance.RoundRobin, 0, 10*time.Second, namedEcho(t, "a"), dead, namedEcho(t, "c"))
	for i := 0; i < 30; i++ {
		name, c := greet(t, fx.addr)
		if c == nil || (name != "a" && name != "c") {
			t.Fatalf("connection %d: greeting %q", i, name)
		}
		c.Close()
	}
	fx.hooks.mu.Lock()
	defer fx.hooks.mu.Unlock()
	// Retries advance the round-robin cursor too: sequential clients go
	// a, dead→c, a, dead→c, … so every second client meets the dead server once.
	if fx.hooks.failed[dead] != 15 || len(fx.hooks.failed) != 1 {
		t.Fatalf("failures %v, want 15 against %s only", fx.hooks.failed, dead)
	}
}

func TestNoServerReachableClosesClient(t *testing.T) {
	d1, d2 := deadAddr(t), deadAddr(t)
	fx := start(t, balance.RoundRobin, 0, 10*time.Second, d1, d2)
	if c, err := net.Dial("tcp", fx.addr); err == nil { // else refused while connecting
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Fatalf("read %d, %v; want the client closed", n, err)
		}
	}
	waitFor(t, func() bool {
		fx.hooks.mu.Lock()
		defer fx.hooks.mu.Unlock()
		return fx.hooks.refused[RefusedNoServer] == 1 && fx.hooks.failed[d1] == 1 && fx.hooks.failed[d2] == 1
	})
	if fx.conns.Count() != 0 {
		t.Fatalf("gate count %d after refusal", fx.conns.Count())
	}
}

func TestMaxConnectionsRefusesExcess(t *testing.T) {
	fx := start(t, balance.RoundRobin, 3, 10*time.Second, namedEcho(t, "a"))
	var open []net.Conn
	for i := 0; i < 3; i++ {
		_, c := greet(t, fx.addr)
		if c == nil {
			t.Fatalf("connection %d refused under the limit", i)
		}
		open = append(open, c)
	}
	if _, c := greet(t, fx.addr); c != nil {
		t.Fatal("4th connection admitted over max_connections 3")
	}
	open[0].Close()
	waitFor(t, func() bool { return fx.conns.Count() == 2 })
	_, c := greet(t, fx.addr)
	if c == nil {
		t.Fatal("connection refused after a place was freed")
	}
	c.Close()
	for _, c := range open[1:] {
		c.Close()
	}
	fx.hooks.mu.Lock()
	defer fx.hooks.mu.Unlock()
	if fx.hooks.refused[RefusedLimit] != 1 {
		t.Fatalf("refused %v", fx.hooks.refused)
	}
}

// printf 'req' | nc -N through the proxy gets the whole reply.
func TestHalfCloseLikeNetcat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, _ := io.ReadAll(c)
				_, _ = io.WriteString(c, strings.ToUpper(string(req)))
			}()
		}
	}()
	fx := start(t, balance.RoundRobin, 0, 10*time.Second, ln.Addr().String())
	c, err := net.Dial("tcp", fx.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "req")
	_ = c.(*net.TCPConn).CloseWrite()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "REQ" {
		t.Fatalf("got %q, %v", got, err)
	}
	info := <-fx.hooks.ended
	if info.Close != engine.ClientClosed || info.BytesIn != 3 || info.BytesOut != 3 || info.Server.Addr() != ln.Addr().String() {
		t.Fatalf("session info %+v", info)
	}
}

// Running out of descriptors refuses connections for a moment but never stops the listener.
func TestListenerSurvivesFDExhaustion(t *testing.T) {
	fx := start(t, balance.RoundRobin, 0, 10*time.Second, namedEcho(t, "a"))
	// Sessions of earlier tests may still be releasing descriptors, so a
	// probe can slip through: RefusedAtEMFILE retries until one is refused.
	refusals, served := fdtest.RefusedAtEMFILE(t, fx.addr, func(c net.Conn) error {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err
	})
	if refusals == 0 {
		t.Fatalf("no connection refused at EMFILE in %d attempts", served)
	}
	// The listener still serves.
	waitFor(t, func() bool {
		name, c := greet(t, fx.addr)
		if c != nil {
			c.Close()
		}
		return name == "a"
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
