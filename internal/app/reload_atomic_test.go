package app

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// atomicConf is the configuration of TestReloadAllOrNothing: v1 runs, v2
// changes every kind of object a reload builds.
type atomicConf struct {
	admin, web, api, mv1, mv2, extra, tcp1, tcp2 string // listen addresses
	a, b, t1, t2                                 string // servers
	logPath                                      string
}

func (c *atomicConf) yaml(v2 bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin: {listen: %q}\nshutdown_timeout: 2s\n", c.admin)
	if v2 {
		fmt.Fprintf(&b, "logging: {access_log: %q}\n", c.logPath) // a new access log
	} else {
		b.WriteString("logging: {access_log: \"off\"}\n")
	}
	b.WriteString("frontends:\n")
	if v2 { // web gains a rate limit: a new guard
		fmt.Fprintf(&b, "  - {name: web, mode: http, listen: %q, backend: a, rate_limits: [{name: r, key: client_ip, rate: 1000/s, burst: 1000}]}\n", c.web)
	} else {
		fmt.Fprintf(&b, "  - {name: web, mode: http, listen: %q, backend: a}\n", c.web)
	}
	route := "a"
	if v2 {
		route = "b" // api is kept: its routing table is rebuilt
	}
	fmt.Fprintf(&b, "  - {name: api, mode: http, listen: %q, backend: a, routes: [{name: x, match: {path_prefix: /x}, backend: %s}]}\n", c.api, route)
	mv, tcp := c.mv1, c.tcp1
	if v2 { // moved: new listeners, a new proxy and a new tcp frontend
		mv, tcp = c.mv2, c.tcp2
		fmt.Fprintf(&b, "  - {name: extra, mode: http, listen: %q, backend: b}\n", c.extra)
	}
	fmt.Fprintf(&b, "  - {name: mv, mode: http, listen: %q, backend: a}\n", mv)
	fmt.Fprintf(&b, "  - {name: tcp, mode: tcp, listen: %q, backend: t}\n", tcp)
	fmt.Fprintf(&b, "backends:\n  - {name: a, servers: [{address: %q}]}\n", c.a)
	t := c.t1
	if v2 {
		fmt.Fprintf(&b, "  - {name: b, servers: [{address: %q}]}\n", c.b) // a new backend
		t = c.t2
	}
	fmt.Fprintf(&b, "  - {name: t, servers: [{address: %q}]}\n", t)
	return b.String()
}

// greetEcho is a tcp server that sends name and a newline, then echoes.
func greetEcho(t *testing.T, name string) string {
	return obsServe(t, func(c net.Conn) {
		if _, err := io.WriteString(c, name+"\n"); err == nil {
			_, _ = io.Copy(c, c)
		}
	})
}

// tcpSession is one open session through a tcp frontend.
type tcpSession struct {
	c  net.Conn
	br *bufio.Reader
}

func openTCP(t *testing.T, addr string) (*tcpSession, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("tcp %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	s := &tcpSession{c: c, br: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	greet, err := s.br.ReadString('\n')
	if err != nil {
		t.Fatalf("tcp %s: no greeting: %v", addr, err)
	}
	return s, strings.TrimSpace(greet)
}

func (s *tcpSession) echo(msg string) error {
	_ = s.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(s.c, msg+"\n"); err != nil {
		return err
	}
	got, err := s.br.ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg+"\n" {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

// keepAlive is one keep-alive HTTP client connection.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func openKeepAlive(t *testing.T, addr string) *keepAlive {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

func (k *keepAlive) get(path string) (int, string, error) {
	return obsRawGet(k.c, k.br, "GET "+path+" HTTP/1.1\r\nHost: obs.test\r\n\r\n")
}

// refused reports whether nothing accepts connections at addr.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// TestReloadAllOrNothing: a reload that fails at any step — a backend's
// options, binding a listener, building a guard, building a moved
// frontend's proxy, preparing a kept frontend's routing table, opening the
// access log — changes nothing: every frontend of the running configuration
// goes on serving (on connections opened before and after the attempt), no
// new listener is left open, and the attempt counts as a failed reload.
// Then the same reload without a failure applies whole.
func TestReloadAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	c := &atomicConf{
		admin: obsFreeAddr(t), web: obsFreeAddr(t), api: obsFreeAddr(t), mv1: obsFreeAddr(t),
		mv2: obsFreeAddr(t), extra: obsFreeAddr(t), tcp1: obsFreeAddr(t), tcp2: obsFreeAddr(t),
		a: obsHTTPBackend(t, 200, "a"), b: obsHTTPBackend(t, 200, "b"),
		t1: greetEcho(t, "t1"), t2: greetEcho(t, "t2"),
		logPath: filepath.Join(dir, "access.log"),
	}
	path := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(path, []byte(c.yaml(false)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := obsStart(t, c.yaml(false), Options{})
	for _, addr := range []string{c.web, c.api, c.mv1, c.tcp1} {
		obsWaitListening(t, addr)
	}
	// Connections opened before the reloads, used after each of them.
	mvConn := openKeepAlive(t, c.mv1)
	if st, body, err := mvConn.get("/"); st != 200 || body != "a" {
		t.Fatalf("mv before: %d %q %v", st, body, err)
	}
	sess, greet := openTCP(t, c.tcp1)
	if greet != "t1" {
		t.Fatalf("tcp greeting %q", greet)
	}
	if err := os.WriteFile(path, []byte(c.yaml(true)), 0o644); err != nil {
		t.Fatal(err)
	}

	errInjected := errors.New("injected failure")
	type failure struct {
		name  string
		setup func() (undo func()) // a real failure, or the hook
	}
	hook := func(step, who string) func() (undo func()) {
		return func() func() {
			a.mu.Lock()
			a.failStep = func(s, name string) error {
				if s == step && name == who {
					return errInjected
				}
				return nil
			}
			a.mu.Unlock()
			return func() { a.mu.Lock(); a.failStep = nil; a.mu.Unlock() }
		}
	}
	cases := []failure{
		{"backend b", hook(stepBackend, "b")},
		{"listen mv (hook)", hook(stepListen, "mv")},
		{"listen extra (port in use)", func() func() {
			ln, err := net.Listen("tcp", c.extra) // no SO_REUSEPORT: sluice's bind fails
			if err != nil {
				t.Fatal(err)
			}
			return func() { ln.Close() }
		}},
		{"guard web", hook(stepGuard, "web")},
		{"proxy mv", hook(stepProxy, "mv")},
		{"proxy extra", hook(stepProxy, "extra")},
		{"update api", hook(stepUpdate, "api")},
		{"access log (hook)", hook(stepAccessLog, c.logPath)},
		{"access log (no such directory)", func() func() {
			good := c.logPath
			c.logPath = filepath.Join(dir, "missing", "access.log")
			if err := os.WriteFile(path, []byte(c.yaml(true)), 0o644); err != nil {
				t.Fatal(err)
			}
			return func() {
				c.logPath = good
				if err := os.WriteFile(path, []byte(c.yaml(true)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
	for i, fc := range cases {
		undo := fc.setup()
		err := a.Reload(path)
		undo()
		if err == nil {
			t.Fatalf("%s: the reload succeeded", fc.name)
		}
		// Everything as before: old frontends serve, new addresses are closed.
		for _, fe := range []struct{ addr, path, want string }{
			{c.web, "/", "a"}, {c.api, "/x", "a"}, {c.mv1, "/", "a"},
		} {
			if st, body := obsGet(t, fe.addr, fe.path); st != 200 || body != fe.want {
				t.Fatalf("%s: %s%s answered %d %q, want 200 %q", fc.name, fe.addr, fe.path, st, body, fe.want)
			}
		}
		if st, body, err := mvConn.get("/"); st != 200 || body != "a" {
			t.Fatalf("%s: the keep-alive connection to mv: %d %q %v", fc.name, st, body, err)
		}
		if _, greet := openTCP(t, c.tcp1); greet != "t1" {
			t.Fatalf("%s: new tcp session greeted %q", fc.name, greet)
		}
		if err := sess.echo(fmt.Sprint("round ", i)); err != nil {
			t.Fatalf("%s: the tcp session opened before: %v", fc.name, err)
		}
		for _, addr := range []string{c.mv2, c.tcp2} {
			if !refused(addr) {
				t.Fatalf("%s: %s is listening", fc.name, addr)
			}
		}
		if fc.name != "listen extra (port in use)" && !refused(c.extra) {
			t.Fatalf("%s: %s is listening", fc.name, c.extra)
		}
		s := obsMetrics(t, c.admin)
		if v, _ := obsFind(s, "sluice_config_reloads_total", obsLabels("result", "failure")); v != float64(i+1) {
			t.Fatalf("%s: reloads_total{failure} = %v, want %d", fc.name, v, i+1)
		}
		if v, _ := obsFind(s, "sluice_config_reloads_total", obsLabels("result", "success")); v != 0 {
			t.Fatalf("%s: reloads_total{success} = %v", fc.name, v)
		}
		if _, ok := obsFind(s, "sluice_active_connections", obsLabels("frontend", "extra")); ok {
			t.Fatalf("%s: the abandoned frontend extra has metrics", fc.name)
		}
		if _, ok := obsFind(s, "sluice_ratelimited_total", obsLabels("frontend", "web", "rule", "r")); ok {
			t.Fatalf("%s: the abandoned rate limit of web has metrics", fc.name)
		}
	}

	// The same reload with nothing failing applies whole.
	if err := a.Reload(path); err != nil {
		t.Fatal(err)
	}
	for _, fe := range []struct{ addr, path, want string }{
		{c.web, "/", "a"}, {c.api, "/x", "b"}, {c.mv2, "/", "a"}, {c.extra, "/", "b"},
	} {
		if st, body := obsGet(t, fe.addr, fe.path); st != 200 || body != fe.want {
			t.Fatalf("after the good reload: %s%s answered %d %q, want 200 %q", fe.addr, fe.path, st, body, fe.want)
		}
	}
	if _, greet := openTCP(t, c.tcp2); greet != "t2" {
		t.Fatalf("after the good reload: tcp greeted %q", greet)
	}
	obsWant(t, c.admin, 1, "sluice_config_reloads_total", "result", "success")
	obsEventually(t, 5*time.Second, func() error {
		if b, _ := os.ReadFile(c.logPath); !strings.Contains(string(b), `"frontend":"extra"`) {
			return fmt.Errorf("the new access log has no line of frontend extra: %q", b)
		}
		return nil
	})
}
