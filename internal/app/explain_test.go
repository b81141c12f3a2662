package app

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/internal/state"
)

// whoBackend is an HTTP server that answers every request with its own
// address, so a test knows who answered.
func whoBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", addr)
		io.WriteString(w, addr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return addr
}

// Explain agrees with the server actually picked: 1,000 random requests
// (hosts, paths, methods, client addresses through a trusted proxy) over
// routes to backends of every algorithm, with servers down (active checks),
// draining and disabled, a rate limit that refuses, and requests no route
// takes, are explained and then sent, one at a time, through the running
// App to real servers that say who answered.
func TestExplainAgreesWithPick(t *testing.T) {
	type be struct {
		name, algo, extra string
		live              int
		dead              int
		weights           []int
	}
	bes := []be{
		{name: "rr", algo: "round_robin", live: 3, dead: 1},
		{name: "wrr", algo: "weighted_round_robin", live: 3, dead: 1, weights: []int{1, 2, 3, 2}},
		{name: "lc", algo: "least_connections", live: 3, dead: 1},
		{name: "hash", algo: "ip_hash", live: 4, dead: 1},
		{name: "bounded", algo: "ip_hash", live: 3, extra: "    hash_balance_factor: 1.5\n"},
	}
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	var b strings.Builder
	fmt.Fprintf(&b, `admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - name: web
    listen: %q
    trusted_proxies: [127.0.0.0/8]
    rate_limits:
      - {name: scarce, key: frontend, rate: 1/h, burst: 3, match: {path_prefix: /scarce/}}
    routes:
      - {name: api, match: {host: api.example.com, path_prefix: /v1/}, backend: rr}
      - {name: tenants, match: {host: "*.example.com"}, backend: hash}
      - {name: writes, match: {methods: [POST, PUT]}, backend: wrr}
      - {name: static, match: {path_prefix: /static/}, backend: lc}
      - {name: scarce, match: {path_prefix: /scarce/}, backend: bounded}
      - {name: bounded, match: {path_prefix: /b/}, backend: bounded}
      - {name: other, match: {host: other.org}, backend: rr}
backends:
`, admin, web)
	dead := map[string]bool{}
	for _, x := range bes {
		fmt.Fprintf(&b, "  - name: %s\n    algorithm: %s\n%s", x.name, x.algo, x.extra)
		b.WriteString("    health:\n      active: {type: http, path: /health, interval: 1s, timeout: 900ms, healthy_threshold: 1, unhealthy_threshold: 1}\n      passive: {unhealthy_threshold: 0}\n    servers:\n")
		for i := 0; i < x.live+x.dead; i++ {
			var addr string
			if i < x.live {
				addr = whoBackend(t)
			} else {
				addr = obsFreeAddr(t)
				dead[addr] = true
			}
			w := 1
			if x.weights != nil {
				w = x.weights[i]
			}
			fmt.Fprintf(&b, "      - {address: %q, weight: %d}\n", addr, w)
		}
	}
	a := obsStart(t, b.String(), Options{})
	obsWaitListening(t, web)

	// Operator state: one server draining, one disabled.
	a.mu.Lock()
	var drained, disabled string
	for _, s := range a.backends["rr"].bal.Servers() {
		if !dead[s.Addr()] && drained == "" {
			drained = s.Addr()
			s.SetDraining(true)
		}
	}
	for _, s := range a.backends["hash"].bal.Servers() {
		if !dead[s.Addr()] && disabled == "" {
			disabled = s.Addr()
			s.SetEnabled(false)
		}
	}
	bals := []*balance.Balancer{}
	for _, rt := range a.backends {
		bals = append(bals, rt.bal)
	}
	a.mu.Unlock()

	// Wait until the active checks hold the dead servers out.
	obsEventually(t, 10*time.Second, func() error {
		for _, x := range bes {
			ex, err := a.Explain(state.ExplainQuery{Frontend: "web", Method: "GET", Host: "x", Path: "/", ClientIP: "127.0.0.1"})
			_ = ex
			if err != nil {
				return err
			}
			a.mu.Lock()
			servers := a.backends[x.name].bal.Servers()
			a.mu.Unlock()
			for _, s := range servers {
				if dead[s.Addr()] && s.Healthy() {
					return fmt.Errorf("%s still up", s.Addr())
				}
			}
		}
		return nil
	})

	rng := rand.New(rand.NewPCG(7, 9))
	hosts := []string{"api.example.com", "API.Example.com:8080", "a.example.com", "b.c.example.com", "example.com", "other.org", "nowhere.test"}
	paths := []string{"/", "/v1/users", "/v2/x", "/static/app.js", "/scarce/1", "/v1/../static/x", "/b/1", "/b/2"}
	methods := []string{"GET", "GET", "POST", "PUT", "DELETE", "HEAD"}
	c, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	counts := map[string]int{}
	for i := 0; i < 1000; i++ {
		var client netip.Addr
		if rng.IntN(4) == 0 {
			var b16 [16]byte
			b16[0], b16[1] = 0x20, 0x01
			for j := 2; j < 16; j++ {
				b16[j] = byte(rng.IntN(256))
			}
			client = netip.AddrFrom16(b16)
		} else {
			client = netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(1 + rng.IntN(254))})
		}
		host, path, method := hosts[rng.IntN(len(hosts))], paths[rng.IntN(len(paths))], methods[rng.IntN(len(methods))]
		// One at a time: the previous request has been released everywhere.
		obsEventually(t, 5*time.Second, func() error {
			for _, bal := range bals {
				if n := bal.Active(); n != 0 {
					return fmt.Errorf("%d requests still active", n)
				}
			}
			return nil
		})
		ex, err := a.Explain(state.ExplainQuery{Frontend: "web", Method: method, Host: host, Path: path,
			ClientIP: "127.0.0.1", Headers: map[string]string{"X-Forwarded-For": client.String()}})
		if err != nil {
			t.Fatal(err)
		}
		if ex.ClientIP != client.String() {
			t.Fatalf("request %d: explain sees client %s, want %s", i, ex.ClientIP, client)
		}
		req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\n", method, path, host, client)
		if method == "POST" || method == "PUT" {
			req += "Content-Length: 0\r\n"
		}
		status, server, err := exchange(c, br, method, req+"\r\n")
		if err != nil {
			t.Fatalf("request %d (%s %s %s): %v", i, method, host, path, err)
		}
		want := ex.Status
		if want == 0 {
			want = 200
		}
		if status != want || want == 200 && server != ex.Pick {
			t.Fatalf("request %d: %s %s%s from %s: explain said %d %q via %q/%q (%s), got %d from %q\nroutes: %+v\nservers: %+v",
				i, method, host, path, client, want, ex.Pick, ex.Route, ex.Backend, ex.Reason, status, server, ex.Routes, ex.Servers)
		}
		if want == 200 && (dead[ex.Pick] || ex.Pick == drained || ex.Pick == disabled) {
			t.Fatalf("request %d: picked %s, which is down, draining or disabled", i, ex.Pick)
		}
		key := fmt.Sprint(want)
		if want == 200 {
			key = ex.Backend
		}
		counts[key]++
	}
	t.Logf("outcomes: %v", counts)
	for _, k := range []string{"rr", "wrr", "lc", "hash", "bounded", "404", "429"} {
		if counts[k] < 10 {
			t.Errorf("only %d requests went %s: the random requests do not cover it", counts[k], k)
		}
	}
}

// exchange sends one request on c and returns the status and the server
// that answered (X-Server; HEAD answers have no body).
func exchange(c net.Conn, br *bufio.Reader, method, req string) (int, string, error) {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return 0, "", err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Server"), err
}

// The same for a tcp frontend: each connection is explained, then made;
// the server that greets it is the one explain named.
func TestExplainAgreesWithPickTCP(t *testing.T) {
	greeter := func() string { // a server that greets with its own address
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = io.WriteString(c, addr+"\n")
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close() })
		return addr
	}
	live := []string{greeter(), greeter(), greeter()}
	deadAddr := obsFreeAddr(t)
	admin, db := obsFreeAddr(t), obsFreeAddr(t)
	conf := fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: "off"}
frontends:
  - {name: db, mode: tcp, listen: %q, backend: pool}
backends:
  - name: pool
    algorithm: least_connections
    health: {active: {type: tcp, interval: 1s, timeout: 900ms, healthy_threshold: 1, unhealthy_threshold: 1}, passive: {unhealthy_threshold: 0}}
    servers: [{address: %q}, {address: %q}, {address: %q}, {address: %q}]
`, admin, db, live[0], deadAddr, live[1], live[2])
	a := obsStart(t, conf, Options{})
	obsWaitListening(t, db)
	a.mu.Lock()
	bal := a.backends["pool"].bal
	a.mu.Unlock()
	for _, s := range bal.Servers() {
		if s.Addr() == live[2] {
			s.SetDraining(true)
		}
	}
	obsEventually(t, 10*time.Second, func() error {
		ex, err := a.Explain(state.ExplainQuery{Frontend: "db", ClientIP: "127.0.0.1"})
		if err != nil {
			return err
		}
		if ex.Servers[1].Reason != "down (active health check)" {
			return fmt.Errorf("dead server: %+v", ex.Servers[1])
		}
		return nil
	})
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		obsEventually(t, 5*time.Second, func() error {
			if n := bal.Active(); n != 0 {
				return fmt.Errorf("%d sessions still active", n)
			}
			return nil
		})
		ex, err := a.Explain(state.ExplainQuery{Frontend: "db", ClientIP: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		got := tcpGreeting(t, db)
		if got != ex.Pick || ex.Pick == deadAddr || ex.Pick == live[2] {
			t.Fatalf("connection %d: explain said %q (%s), greeted by %q; servers %+v", i, ex.Pick, ex.Reason, got, ex.Servers)
		}
		seen[got]++
	}
	if seen[live[0]] == 0 || seen[live[1]] == 0 || len(seen) != 2 {
		t.Fatalf("picks %v", seen)
	}
}
