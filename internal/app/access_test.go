package app

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// accessBackend is a keep-alive HTTP backend that answers 200 "ok" and
// counts the requests that reach it.
func accessBackend(t *testing.T) (addr string, reached *atomic.Int64) {
	reached = new(atomic.Int64)
	addr = obsServe(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for obsReadHead(br) == nil {
			reached.Add(1)
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	})
	return addr, reached
}

// distinctAddrs returns n different loopback addresses that were free a
// moment ago (obsFreeAddr alone may draw the same port twice).
func distinctAddrs(t *testing.T, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	out := make([]string, 0, n)
	for len(out) < n {
		if a := obsFreeAddr(t); !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// TestAccessListsBehindTrustedProxy: on an http frontend with
// trusted_proxies, the access lists judge the client that a trusted peer's
// X-Forwarded-For names, request by request (contract section 2a): 403 for
// a relayed client in deny or outside allow, 200 for an allowed one, each
// denial counted once in sluice_denied_total and logged with that client's
// address; a peer that is not trusted is judged by its own address, whatever
// X-Forwarded-For it sends. Real sockets, a real backend, the whole App.
func TestAccessListsBehindTrustedProxy(t *testing.T) {
	be, reached := accessBackend(t)
	ad := distinctAddrs(t, 5)
	admin, relay, relayDeny, direct, open := ad[0], ad[1], ad[2], ad[3], ad[4]
	alog := &obsBuffer{}
	obsStart(t, fmt.Sprintf(`
admin: {listen: %q}
logging: {level: error, access_log: stdout}
frontends:
  - name: relay          # sluice behind a proxy on 127.0.0.1
    listen: %q
    backend: app
    trusted_proxies: [127.0.0.0/8]
    access: {allow: [10.0.0.0/8], deny: [10.1.2.0/24]}
  - name: relay-deny     # a deny list only: the proxy itself is admitted
    listen: %q
    backend: app
    trusted_proxies: [127.0.0.0/8]
    access: {deny: [10.1.2.0/24]}
  - name: direct         # the loopback peer is not a trusted proxy
    listen: %q
    backend: app
    trusted_proxies: [192.0.2.1]
    access: {deny: [127.0.0.0/8]}
  - name: open           # not trusted, allowed by its own address
    listen: %q
    backend: app
    trusted_proxies: [192.0.2.1]
    access: {allow: [127.0.0.1]}
backends:
  - name: app
    servers: [{address: %q}]
`, admin, relay, relayDeny, direct, open, be), Options{AccessLogWriter: alog})
	obsWaitListening(t, admin)

	// The proxy itself is admitted, so only a per-request check can refuse
	// the denied client it relays.
	for _, tc := range []struct {
		xff  string
		want int
	}{{"10.1.2.3", 403}, {"10.5.5.5", 200}} {
		cc, err := net.Dial("tcp", relayDeny)
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := obsRawGet(cc, bufio.NewReader(cc), "GET /z HTTP/1.1\r\nHost: r.test\r\nX-Forwarded-For: "+tc.xff+"\r\nConnection: close\r\n\r\n")
		cc.Close()
		if err != nil || st != tc.want {
			t.Fatalf("relayed client %s behind an admitted proxy: status %d (%v), want %d", tc.xff, st, err, tc.want)
		}
	}
	obsWant(t, admin, 1, "sluice_denied_total", "frontend", "relay-deny")
	if n := reached.Load(); n != 1 {
		t.Fatalf("backend reached %d times, want 1", n)
	}

	// One keep-alive connection from the trusted proxy relays every client.
	c, err := net.Dial("tcp", relay)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, tc := range []struct {
		xff  string
		want int
	}{
		{"10.1.2.3", 403},               // relayed client in deny
		{"192.168.7.7", 403},            // relayed client outside allow
		{"10.5.5.5", 200},               // relayed client allowed
		{"10.1.2.9, 10.5.5.6", 200},     // the right-most untrusted address is the client
		{"10.5.5.7, 198.51.100.1", 403}, // ... also when it is the one refused
	} {
		st, _, err := obsRawGet(c, br, "GET /x HTTP/1.1\r\nHost: relay.test\r\nX-Forwarded-For: "+tc.xff+"\r\n\r\n")
		if err != nil {
			t.Fatalf("XFF %q: %v", tc.xff, err)
		}
		if st != tc.want {
			t.Fatalf("relayed client %q: status %d, want %d", tc.xff, st, tc.want)
		}
	}
	// Without X-Forwarded-For the trusted peer is the client: outside allow.
	if st, _ := obsGet(t, relay, "/none"); st != 403 {
		t.Fatalf("trusted peer without X-Forwarded-For: status %d, want 403", st)
	}
	obsWant(t, admin, 4, "sluice_denied_total", "frontend", "relay")
	if n := reached.Load(); n != 3 {
		t.Fatalf("backend reached %d times, want 3 (denied requests must not reach it)", n)
	}

	// A peer that is not trusted: its own address decides.
	for _, tc := range []struct {
		addr, xff string
		want      int
	}{
		{direct, "10.5.5.5", 403},  // 127.0.0.1 is denied, whatever it claims
		{open, "192.168.7.7", 200}, // 127.0.0.1 is allowed, whatever it claims
	} {
		cc, err := net.Dial("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		st, _, err := obsRawGet(cc, bufio.NewReader(cc), "GET /y HTTP/1.1\r\nHost: d.test\r\nX-Forwarded-For: "+tc.xff+"\r\nConnection: close\r\n\r\n")
		cc.Close()
		if err != nil || st != tc.want {
			t.Fatalf("untrusted peer sending X-Forwarded-For %s: status %d (%v), want %d", tc.xff, st, err, tc.want)
		}
	}
	obsWant(t, admin, 1, "sluice_denied_total", "frontend", "direct")
	obsWant(t, admin, 0, "sluice_denied_total", "frontend", "open")
	// Still exactly once per denied request, after everything settled.
	obsWant(t, admin, 4, "sluice_denied_total", "frontend", "relay")

	// The access log names the client the trusted proxy named.
	var lines []map[string]any
	obsEventually(t, 5*time.Second, func() error {
		lines = obsJSONLines(t, alog.Lines())
		if len(lines) != 10 {
			return fmt.Errorf("%d access-log lines, want 10", len(lines))
		}
		return nil
	})
	want := map[string]float64{ // relay: client_ip -> status
		"10.1.2.3": 403, "192.168.7.7": 403, "10.5.5.5": 200, "10.5.5.6": 200, "198.51.100.1": 403, "127.0.0.1": 403,
	}
	for _, l := range lines {
		if l["frontend"] != "relay" {
			continue
		}
		ip := fmt.Sprint(l["client_ip"])
		st, ok := want[ip]
		if !ok {
			t.Errorf("relay access-log line with client_ip %s: %v", ip, l)
			continue
		}
		if got := obsNum(t, l, "status"); got != st {
			t.Errorf("client %s logged with status %v, want %v", ip, got, st)
		}
		delete(want, ip)
	}
	if len(want) != 0 {
		t.Errorf("clients missing from the access log: %v\n%s", want, strings.Join(alog.Lines(), "\n"))
	}
}
