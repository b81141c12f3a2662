package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicelb/sluice/internal/testtool"
)

// idleCloser is an HTTP server that closes keep-alive connections idle for
// 150 ms, as real servers do after a few seconds (Node.js 5s, Gunicorn 2s).
type idleCloser struct {
	addr  string
	conns func() int // connections it accepted so far
}

const serverIdle = 150 * time.Millisecond

// nodeIdleCloser runs Node.js's http server closing connections idle for
// 150 ms. (Its keepAliveTimeout cannot do it: Node 20 closes at
// keepAliveTimeout + 1 s, a buffer it hard-codes; so the idle timeout is the
// socket's own, as Node's servers had it before keepAliveTimeout existed.)
func nodeIdleCloser(t *testing.T) idleCloser {
	t.Helper()
	node := testtool.Need(t, "node")
	const script = `
const http = require('http');
let conns = 0;
const srv = http.createServer((req, res) => {
  if (req.url === '/conns') { res.end(String(conns)); return; }
  res.end('node');
});
srv.keepAliveTimeout = 0;
srv.on('connection', (s) => { conns++; s.setTimeout(150, () => s.destroy()); });
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "-e", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("node did not start: %v", err)
	}
	addr := "127.0.0.1:" + strings.TrimSpace(port)
	return idleCloser{addr: addr, conns: func() int {
		// Asked on a connection of its own (that counts one more).
		resp, err := http.Get("http://" + addr + "/conns")
		if err != nil {
			t.Fatalf("node /conns: %v", err)
		}
		defer resp.Body.Close()
		var n int
		_, _ = fmt.Fscan(resp.Body, &n)
		return n - 1
	}}
}

// goIdleCloser is a net/http server with IdleTimeout 150 ms.
func goIdleCloser(t *testing.T) idleCloser {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "go") }),
		IdleTimeout: serverIdle,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return idleCloser{addr: ln.Addr().String(), conns: func() int { return int(conns.Load()) }}
}

// TestStalePooledConnectionsNoBadGateway: behind sluice, a server that
// closes keep-alive connections idle for 150 ms, and clients arriving every
// 140–170 ms — so sluice's pooled connection is, again and again, closed by
// the server just before or just as it is reused. Every one of 60 requests
// gets a 200 (HAProxy and nginx: 60 of 60; sluice before: 23 of 60 were
// 502), and the server's passive health and sluice_backend_failures_total
// are untouched (passive unhealthy_threshold 1: one counted failure would
// take the only server out).
func TestStalePooledConnectionsNoBadGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("paced: 10 s")
	}
	for _, tc := range []struct {
		name  string
		start func(*testing.T) idleCloser
	}{{"node socket idle timeout", nodeIdleCloser}, {"go net/http IdleTimeout", goIdleCloser}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := tc.start(t)
			admin, web := obsFreeAddr(t), obsFreeAddr(t)
			obsStart(t, fmt.Sprintf(`
admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - {name: web, mode: http, listen: %q, backend: app}
backends:
  - name: app
    timeouts: {idle: 10s}   # longer than the server's own 150 ms
    health: {active: {type: none}, passive: {unhealthy_threshold: 1, cooldown: 30s}}
    servers: [{address: %q}]
`, admin, web, be.addr), Options{})
			obsWaitListening(t, web)
			rng := rand.New(rand.NewPCG(1, 2))
			bad := 0
			var codes []int
			next := time.Now()
			for i := 0; i < 60; i++ {
				time.Sleep(time.Until(next)) // the arrival schedule, not a wait for a state
				next = next.Add(140*time.Millisecond + time.Duration(rng.IntN(31))*time.Millisecond)
				code, _ := obsGet(t, web, "/")
				codes = append(codes, code)
				if code != 200 {
					bad++
				}
			}
			conns := be.conns()
			t.Logf("%d of 60 not 200; the server accepted %d connections", bad, conns)
			if bad != 0 {
				t.Fatalf("%d of 60 requests were not answered 200: %v", bad, codes)
			}
			if conns < 10 {
				t.Fatalf("the server accepted only %d connections: it did not close idle ones, the test proves nothing", conns)
			}
			s := obsMetrics(t, admin)
			for _, reason := range []string{"connect", "timeout", "reset", "status_5xx"} {
				if v, ok := obsFind(s, "sluice_backend_failures_total", obsLabels("backend", "app", "server", be.addr, "reason", reason)); !ok || v != 0 {
					t.Errorf("sluice_backend_failures_total{reason=%q} = %v (present %v), want 0", reason, v, ok)
				}
			}
			if v, ok := obsFind(s, "sluice_backend_health", obsLabels("backend", "app", "server", be.addr)); !ok || v != 1 {
				t.Errorf("sluice_backend_health = %v (present %v), want 1", v, ok)
			}
			if v, _ := obsFind(s, "sluice_backend_requests_total", obsLabels("backend", "app", "server", be.addr)); v != 60 {
				t.Errorf("sluice_backend_requests_total = %v, want 60 (one per request)", v)
			}
		})
	}
}
