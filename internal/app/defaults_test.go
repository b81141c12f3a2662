package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
)

// healthEndpoint is an http server whose /health answers status (with a
// Location for redirects) and whose other paths answer 200 "ok"; it counts
// the probes it receives.
func healthEndpoint(t *testing.T, status int) (addr string, probes *atomic.Int64) {
	probes = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		probes.Add(1)
		if status/100 == 3 {
			w.Header().Set("Location", "/health/") // Django's APPEND_SLASH
		}
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), probes
}

// TestHealthCheckAccepts204And301: with no expect_status an http check
// counts any 2xx or 3xx as healthy (HAProxy, Traefik), so a health endpoint
// answering 204 or redirecting (301) keeps its server in; expect_status may
// be a code, a class or a list, and a 500 or an unexpected code takes the
// server out. Real servers, the whole App, sluice_backend_health observed.
func TestHealthCheckAccepts204And301(t *testing.T) {
	s204, p204 := healthEndpoint(t, http.StatusNoContent)
	s301, p301 := healthEndpoint(t, http.StatusMovedPermanently)
	s500, _ := healthEndpoint(t, http.StatusInternalServerError)
	ad := distinctAddrs(t, 2)
	admin, web := ad[0], ad[1]
	const check = "type: http, path: /health, interval: 100ms, timeout: 80ms, healthy_threshold: 1, unhealthy_threshold: 1"
	// Every probe's outcome, by server: on a loaded machine a probe may
	// time out (and, at unhealthy_threshold 1, take its server out until
	// the next one), so the statuses are judged probe by probe.
	var mu sync.Mutex
	outcomes := map[*balance.Server][]string{}
	a := obsStart(t, fmt.Sprintf(`
admin: {listen: %[1]q}
logging: {level: error, access_log: "off"}
frontends:
  - name: web
    listen: %[2]q
    routes: [{match: {path_prefix: /redir/}, backend: redir}]
    backend: nocontent
backends:
  - {name: nocontent, servers: [{address: %[3]q}], health: {passive: {unhealthy_threshold: 0}, active: {%[6]s}}}
  - {name: redir, servers: [{address: %[4]q}], health: {passive: {unhealthy_threshold: 0}, active: {%[6]s}}}
  - {name: broken, servers: [{address: %[5]q}], health: {passive: {unhealthy_threshold: 0}, active: {%[6]s}}}
  - {name: class, servers: [{address: %[3]q}], health: {active: {%[6]s, expect_status: 2xx}}}
  - {name: list, servers: [{address: %[4]q}], health: {active: {%[6]s, expect_status: [200, 301]}}}
  - {name: strict, servers: [{address: %[3]q}], health: {active: {%[6]s, expect_status: 200}}}
`, admin, web, s204, s301, s500, check), Options{probeDone: func(s *balance.Server, ok bool, reason string) {
		mu.Lock()
		outcomes[s] = append(outcomes[s], fmt.Sprintf("%v %s", ok, reason))
		mu.Unlock()
	}})
	obsWaitListening(t, admin)
	// The 500 and the 204 that expect_status 200 refuses go out at their
	// first probe: proof that the checks run.
	obsWant(t, admin, 0, "sluice_backend_health", "backend", "broken", "server", s500)
	obsWant(t, admin, 0, "sluice_backend_health", "backend", "strict", "server", s204)
	// Several more probes of the 204 and 301 endpoints, each of which would
	// have taken its server out (unhealthy_threshold 1).
	n204, n301 := p204.Load(), p301.Load()
	obsEventually(t, 5*time.Second, func() error {
		if p204.Load() < n204+6 || p301.Load() < n301+3 {
			return fmt.Errorf("probes: 204 endpoint %d, 301 endpoint %d", p204.Load(), p301.Load())
		}
		return nil
	})
	// Each probe that got an answer judged its status as configured.
	for _, c := range []struct {
		backend, addr, want string
	}{
		{"nocontent", s204, "true status 204"}, {"redir", s301, "true status 301"}, {"broken", s500, "false status 500"},
		{"class", s204, "true status 204"}, {"list", s301, "true status 301"}, {"strict", s204, "false status 204"},
	} {
		a.mu.Lock()
		srv := a.backends[c.backend].servers[c.addr]
		a.mu.Unlock()
		mu.Lock()
		var answered []string
		for _, o := range outcomes[srv] {
			if strings.Contains(o, " status ") {
				answered = append(answered, o)
			}
		}
		mu.Unlock()
		if len(answered) == 0 {
			t.Errorf("backend %s: no probe of %s got an answer", c.backend, c.addr)
		}
		for _, o := range answered {
			if o != c.want {
				t.Errorf("backend %s: a probe of %s gave %q, want %q (all: %q)", c.backend, c.addr, o, c.want, answered)
				break
			}
		}
	}
	for _, bs := range [][2]string{{"nocontent", s204}, {"redir", s301}, {"class", s204}, {"list", s301}} {
		obsWant(t, admin, 1, "sluice_backend_health", "backend", bs[0], "server", bs[1])
	}
	for _, path := range []string{"/", "/redir/x"} {
		obsEventually(t, 5*time.Second, func() error {
			if st, body := obsGet(t, web, path); st != 200 || body != "ok" {
				return fmt.Errorf("GET %s: %d %q, want 200 from a server whose health endpoint answers 204 or 301", path, st, body)
			}
			return nil
		})
	}
}

// TestTCPIdleSession: a tcp frontend closes a session only after
// timeouts.client_idle without traffic. A session idle for most of that
// time goes on; past it, it is closed. (A short configured value keeps the
// test fast; the tcp default, 1h, is checked below and in
// internal/config's TestTCPClientIdleDefault.)
func TestTCPIdleSession(t *testing.T) {
	echo := obsServe(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	ad := distinctAddrs(t, 3)
	admin, db, plain := ad[0], ad[1], ad[2]
	a := obsStart(t, fmt.Sprintf(`
admin: {listen: %q}
logging: {level: error, access_log: "off"}
frontends:
  - {name: db, mode: tcp, listen: %q, backend: echo, timeouts: {client_idle: 1500ms}}
  - {name: plain, mode: tcp, listen: %q, backend: echo}
backends:
  - {name: echo, servers: [{address: %q}]}
`, admin, db, plain, echo), Options{})
	obsWaitListening(t, admin)

	c, err := net.Dial("tcp", db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	ask := func(msg string) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, msg+"\n"); err != nil {
			return err
		}
		got, err := br.ReadString('\n')
		if err == nil && got != msg+"\n" {
			err = fmt.Errorf("echo %q, want %q", got, msg)
		}
		return err
	}
	if err := ask("one"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // idle 1s twice: each under client_idle, together over it
		time.Sleep(time.Second)
		if err := ask(fmt.Sprint("after idle ", i)); err != nil {
			t.Fatalf("session idle 1s (client_idle 1.5s) was cut: %v", err)
		}
	}
	// Now stay idle: the session must be closed after 1.5s (plus the
	// engine's sweep), well before 5s.
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle session: read %v, want EOF from the idle timeout", err)
	}
	if d := time.Since(start); d < 1400*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle session closed after %v, want about 1.5s", d)
	}

	// The running frontend without timeouts has the tcp default, 1h, which
	// tcpOptions hands to l4 as IdleTimeout.
	a.mu.Lock()
	idle := a.frontends["plain"].cfg.Timeouts.ClientIdle
	a.mu.Unlock()
	if idle != time.Hour {
		t.Fatalf("tcp frontend without timeouts: client_idle %v, want 1h", idle)
	}
}
