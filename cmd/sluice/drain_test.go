package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// drainLoad is the load of the drain tests: keep-alive HTTP clients, clients
// that open a connection per request, and one long TCP session. None of
// them retries: every error is a failed request (Go's http.Transport would
// quietly resend a GET whose reused connection was closed, and hide what
// these tests look for).
type drainLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	ok      atomic.Int64
	failed  atomic.Int64
	closes  atomic.Int64 // responses that carried Connection: close
	tcpOK   atomic.Int64
	mu      sync.Mutex
	errs    []string
	started time.Time
}

func newDrainLoad() *drainLoad { return &drainLoad{stop: make(chan struct{}), started: time.Now()} }

func (l *drainLoad) fail(what string, err error) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf("%v after start: %s: %v", time.Since(l.started).Round(time.Millisecond), what, err))
	}
	l.mu.Unlock()
}

func (l *drainLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// oneRequest sends a GET on c and reads the whole response: it reports
// whether the response asked to close the connection.
func oneRequest(c net.Conn, br *bufio.Reader, closeConn bool) (bool, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: drain.test\r\n\r\n"
	if closeConn {
		req = "GET / HTTP/1.1\r\nHost: drain.test\r\nConnection: close\r\n\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return false, fmt.Errorf("read: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "a" {
		return false, fmt.Errorf("status %d body %q err %v", resp.StatusCode, body, err)
	}
	return resp.Close, nil
}

// keepAlive runs one keep-alive client. addr gives the address to dial for
// each new connection; moved, when not nil, is called when the proxy closed
// the connection with Connection: close (a client told to go elsewhere).
func (l *drainLoad) keepAlive(addr func() string, moved func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		var c net.Conn
		var br *bufio.Reader
		defer func() {
			if c != nil {
				c.Close()
			}
		}()
		for !l.stopped() {
			if c == nil {
				var err error
				if c, err = net.DialTimeout("tcp", addr(), 5*time.Second); err != nil {
					c = nil
					l.fail("keep-alive dial", err)
					time.Sleep(10 * time.Millisecond) // pacing after a failure, not waiting for a state
					continue
				}
				br = bufio.NewReader(c)
			}
			closed, err := oneRequest(c, br, false)
			if err != nil {
				l.fail("keep-alive request", err)
			} else {
				l.ok.Add(1)
			}
			if err != nil || closed {
				if closed {
					l.closes.Add(1)
					if moved != nil {
						moved()
					}
				}
				c.Close()
				c = nil
			}
		}
	}()
}

// perRequest runs one client that opens a connection for every request.
func (l *drainLoad) perRequest(addr func() string) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for !l.stopped() {
			c, err := net.DialTimeout("tcp", addr(), 5*time.Second)
			if err != nil {
				l.fail("new-connection dial", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if _, err := oneRequest(c, bufio.NewReader(c), true); err != nil {
				l.fail("new-connection request", err)
			} else {
				l.ok.Add(1)
			}
			c.Close()
		}
	}()
}

// longTCP runs one TCP session with an echo round trip every 10 ms until
// stop; the session must never break.
func (l *drainLoad) longTCP(t *testing.T, addr string) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer c.Close()
		buf := make([]byte, 64)
		for i := 0; !l.stopped(); i++ {
			msg := []byte("long " + strconv.Itoa(i) + "\n")
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(msg); err != nil {
				l.fail("long tcp write", err)
				return
			}
			if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil || string(buf[:len(msg)]) != string(msg) {
				l.fail("long tcp echo", fmt.Errorf("%q %v", buf[:len(msg)], err))
				return
			}
			l.tcpOK.Add(1)
			select {
			case <-l.stop:
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
}

// progress waits until n more requests succeeded than when it was called.
func (l *drainLoad) progress(t *testing.T, n int64) {
	t.Helper()
	from := l.ok.Load()
	waitFor(t, fmt.Sprintf("%d more requests", n), 20*time.Second, func() bool { return l.ok.Load() >= from+n })
}

func (l *drainLoad) finish(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	t.Logf("requests ok %d, failed %d, answered with Connection: close %d; tcp round trips %d",
		l.ok.Load(), l.failed.Load(), l.closes.Load(), l.tcpOK.Load())
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d requests failed: %s", n, strings.Join(l.errs, "\n  "))
	}
}

func drainConfig(admin string, fronts []string, web, tcp string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: %q}\nlogging: {access_log: off, level: info}\nshutdown_timeout: 60s\nfrontends:\n", admin)
	for _, f := range fronts {
		b.WriteString("  - " + f + "\n")
	}
	fmt.Fprintf(&b, "backends:\n  - {name: web, servers: [{address: %q}]}\n  - {name: tcp, servers: [{address: %q}]}\n", web, tcp)
	return b.String()
}

// TestUpgradeDropsNoRequest: ten binary upgrades (SIGUSR2) in a row, each
// new process upgraded again as soon as it is ready and traffic flows
// through it, under four keep-alive HTTP clients, two clients opening a
// connection per request and one long TCP session. Not one request may
// fail: a draining process answers each keep-alive connection's next
// request with Connection: close and never closes one under a request.
func TestUpgradeDropsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running load test")
	}
	be, echo := httpBackend(t, "a"), echoBackend(t)
	admin, web, tcp := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := drainConfig(admin, []string{
		fmt.Sprintf("{name: web, mode: http, listen: %q, backend: web}", web),
		fmt.Sprintf("{name: tcp, mode: tcp, listen: %q, backend: tcp}", tcp),
	}, be, echo)
	p := start(t, "run", "-c", writeFile(t, t.TempDir(), "c.yaml", cfg))
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })

	l := newDrainLoad()
	webAddr := func() string { return web }
	for i := 0; i < 4; i++ {
		l.keepAlive(webAddr, nil)
	}
	for i := 0; i < 2; i++ {
		l.perRequest(webAddr)
	}
	l.longTCP(t, tcp)
	l.progress(t, 500)

	started := regexp.MustCompile(`"binary upgrade: new process started","pid":(\d+)`)
	target := p.cmd.Process
	var pids []int
	for i := 1; i <= 10; i++ {
		if err := target.Signal(syscall.SIGUSR2); err != nil {
			t.Fatalf("upgrade %d: %v", i, err)
		}
		waitFor(t, fmt.Sprintf("upgrade %d ready", i), 30*time.Second, func() bool {
			return strings.Count(p.log(), "binary upgrade: new process ready") >= i
		})
		m := started.FindAllStringSubmatch(p.log(), -1)
		if len(m) < i {
			t.Fatalf("upgrade %d: no pid of the new process in the log", i)
		}
		pid, _ := strconv.Atoi(m[i-1][1])
		np, err := os.FindProcess(pid)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { np.Kill() })
		pids = append(pids, pid)
		target = np
		l.progress(t, 300) // traffic flows through the new process
	}
	l.finish(t)
	if l.tcpOK.Load() == 0 {
		t.Fatal("the long tcp session made no round trip")
	}
	// The long TCP session has ended: the first process drains and exits
	// cleanly, and so do the nine in between; the last one serves.
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("first process exit code %d", code)
	}
	for _, pid := range pids[:len(pids)-1] {
		waitFor(t, fmt.Sprintf("process %d exits", pid), 30*time.Second, func() bool {
			return syscall.Kill(pid, 0) != nil
		})
	}
	if c, _, _ := get("http://" + admin + "/readyz"); c != 200 {
		t.Fatalf("the last process is not ready: %d", c)
	}
	_ = target.Signal(syscall.SIGTERM)
	last := pids[len(pids)-1]
	waitFor(t, "the last process exits", 30*time.Second, func() bool { return syscall.Kill(last, 0) != nil })
}

// TestReloadRetiresFrontendUnderLoad: a reload moves an http frontend and a
// tcp frontend to new addresses and removes another http frontend while
// clients keep their connections to them busy. Every request gets its
// answer: each kept-alive connection of a retired frontend is answered
// with Connection: close (then the client goes to the new address, as a
// client told that a service moved would), the tcp session opened on the
// old address goes on, and new connections to a kept frontend never fail.
func TestReloadRetiresFrontendUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	be, echo := httpBackend(t, "a"), echoBackend(t)
	admin, web1, web2, gone, stay, tcp1, tcp2 := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	fe := func(name, mode, addr, backend string) string {
		return fmt.Sprintf("{name: %s, mode: %s, listen: %q, backend: %s}", name, mode, addr, backend)
	}
	v1 := drainConfig(admin, []string{fe("web", "http", web1, "web"), fe("gone", "http", gone, "web"),
		fe("stay", "http", stay, "web"), fe("tcp", "tcp", tcp1, "tcp")}, be, echo)
	v2 := drainConfig(admin, []string{fe("web", "http", web2, "web"),
		fe("stay", "http", stay, "web"), fe("tcp", "tcp", tcp2, "tcp")}, be, echo)
	dir := t.TempDir()
	path := writeFile(t, dir, "c.yaml", v1)
	p := start(t, "run", "-c", path)
	waitFor(t, "ready", 10*time.Second, func() bool { c, _, _ := get("http://" + admin + "/readyz"); return c == 200 })

	l := newDrainLoad()
	var reloaded atomic.Bool
	// Keep-alive clients of web and gone: after a Connection: close from
	// the retired frontend they go to where the service is now.
	for i := 0; i < 4; i++ {
		var movedTo atomic.Pointer[string]
		from, to := web1, web2
		if i%2 == 1 {
			from, to = gone, stay
		}
		movedTo.Store(&from)
		l.keepAlive(func() string { return *movedTo.Load() }, func() {
			if reloaded.Load() {
				movedTo.Store(&to)
			}
		})
	}
	stayAddr := func() string { return stay }
	for i := 0; i < 2; i++ {
		l.perRequest(stayAddr)
	}
	l.longTCP(t, tcp1)
	l.progress(t, 500)

	writeFile(t, dir, "c.yaml", v2)
	reloaded.Store(true) // from here a Connection: close means "moved"
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload applied", 10*time.Second, func() bool {
		return metric(t, admin, `sluice_config_reloads_total{result="success"}`) == "1"
	})
	l.progress(t, 1000)
	l.finish(t)
	if l.closes.Load() < 4 {
		t.Fatalf("%d responses with Connection: close; want one per keep-alive client of a retired frontend", l.closes.Load())
	}
	for _, addr := range []string{web1, gone, tcp1} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("the retired frontend at %s still accepts connections", addr)
		}
	}
	if c, err := net.DialTimeout("tcp", tcp2, time.Second); err != nil {
		t.Fatalf("the moved tcp frontend: %v", err)
	} else {
		c.Close()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
