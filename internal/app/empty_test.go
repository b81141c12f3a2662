package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A backend with no servers is valid (contract §2): http answers 503 and
// tcp refuses, until a reload adds a server; then both serve.
func TestBackendWithoutServersUntilReload(t *testing.T) {
	httpSrv := obsHTTPBackend(t, 200, "from-server")
	tcpSrv := obsServe(t, func(c net.Conn) { _, _ = io.WriteString(c, "hello\n") })
	admin, web, db := obsFreeAddr(t), obsFreeAddr(t), obsFreeAddr(t)
	conf := func(httpServers, tcpServers string) string {
		return fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - {name: web, mode: http, listen: %q, backend: web}
  - {name: db, mode: tcp, listen: %q, backend: db}
backends:
  - name: web
    health: {active: {type: http, path: /, interval: 100ms, timeout: 50ms, healthy_threshold: 1}}
    servers: [%s]
  - name: db
%s`, admin, web, db, httpServers, tcpServers)
	}
	a := obsStart(t, conf("", ""), Options{})
	obsWaitListening(t, web)
	if code, body := obsGet(t, web, "/"); code != 503 {
		t.Fatalf("http with no servers: %d %q, want 503", code, body)
	}
	if line := tcpGreeting(t, db); line != "" {
		t.Fatalf("tcp with no servers got %q, want the connection refused", line)
	}
	if _, err := a.Apply(obsConfig(t, conf(fmt.Sprintf("{address: %q}", httpSrv),
		fmt.Sprintf("    servers:\n      - address: %q\n", tcpSrv)))); err != nil {
		t.Fatal(err)
	}
	obsEventually(t, 5*time.Second, func() error {
		if code, body := obsGet(t, web, "/"); code != 200 || body != "from-server" {
			return fmt.Errorf("http after adding a server: %d %q", code, body)
		}
		return nil
	})
	if line := tcpGreeting(t, db); line != "hello" {
		t.Fatalf("tcp after adding a server: %q", line)
	}
}

// tcpGreeting connects to addr and returns the first line the server sends,
// or "" when the connection is closed (or refused) without one.
func tcpGreeting(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("no greeting and no close within 5s")
		}
		return ""
	}
	return strings.TrimSpace(line)
}
