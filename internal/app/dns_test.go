package app

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsZone is a DNS server on loopback whose answers a test changes.
type dnsZone struct {
	mu   sync.Mutex
	a    map[string][]string   // name. → IPv4 addresses
	srv  map[string][]*dns.SRV // name. → records
	addr string
}

func startDNS(t *testing.T) *dnsZone {
	t.Helper()
	z := &dnsZone{a: map[string][]string{}, srv: map[string][]*dns.SRV{}}
	// UDP and TCP on one port: retry when the TCP port is taken.
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		addr := obsFreeAddr(t)
		var err error
		if pc, err = net.ListenPacket("udp", addr); err == nil {
			if ln, err = net.Listen("tcp", addr); err == nil {
				break
			}
			pc.Close()
		}
		if try == 20 {
			t.Fatal(err)
		}
	}
	z.addr = pc.LocalAddr().String()
	us := &dns.Server{PacketConn: pc, Handler: z}
	ts := &dns.Server{Listener: ln, Handler: z}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() { us.Shutdown(); ts.Shutdown() })
	return z
}

func (z *dnsZone) setA(name string, ips ...string) {
	z.mu.Lock()
	z.a[dns.Fqdn(name)] = ips
	z.mu.Unlock()
}

func (z *dnsZone) setSRV(name string, recs ...*dns.SRV) {
	z.mu.Lock()
	z.srv[dns.Fqdn(name)] = recs
	z.mu.Unlock()
}

func (z *dnsZone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	z.mu.Lock()
	defer z.mu.Unlock()
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	_, hasA := z.a[name]
	_, hasSRV := z.srv[name]
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: 0}
	switch {
	case !hasA && !hasSRV:
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		for _, ip := range z.a[name] {
			h := hdr
			h.Rrtype = dns.TypeA
			m.Answer = append(m.Answer, &dns.A{Hdr: h, A: net.ParseIP(ip)})
		}
	case q.Qtype == dns.TypeSRV:
		for _, s := range z.srv[name] {
			rec := *s
			rec.Hdr = hdr
			rec.Hdr.Rrtype = dns.TypeSRV
			m.Answer = append(m.Answer, &rec)
		}
	}
	_ = w.WriteMsg(m)
}

// ipBackend is an HTTP server on ip:port answering its own IP; stop closes it.
type ipBackend struct {
	ln   net.Listener
	hits atomic.Int64
	once sync.Once
	mu   sync.Mutex
	cs   []net.Conn
}

func startIPBackend(t *testing.T, ip string, port int) *ipBackend {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("cannot listen on %s (loopback aliases): %v", ip, err)
	}
	b := &ipBackend{ln: ln}
	resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(ip), ip)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.cs = append(b.cs, c)
			b.mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for obsReadHead(br) == nil {
					b.hits.Add(1)
					if _, err := io.WriteString(c, resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(b.stop)
	return b
}

func (b *ipBackend) stop() {
	b.once.Do(func() {
		b.ln.Close()
		b.mu.Lock()
		for _, c := range b.cs {
			c.Close()
		}
		b.mu.Unlock()
	})
}

// dnsLoad runs keep-alive clients against addr until stop, counting
// answers by body (the backend IP) and failures.
type dnsLoad struct {
	mu    sync.Mutex
	by    map[string]int
	fails []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startDNSLoad(addr string, clients int) *dnsLoad {
	l := &dnsLoad{by: map[string]int{}, stop: make(chan struct{})}
	for range clients {
		l.wg.Go(func() {
			var c net.Conn
			var br *bufio.Reader
			for {
				select {
				case <-l.stop:
					if c != nil {
						c.Close()
					}
					return
				default:
				}
				if c == nil {
					var err error
					if c, err = net.Dial("tcp", addr); err != nil {
						l.fail(err.Error())
						time.Sleep(10 * time.Millisecond)
						continue
					}
					br = bufio.NewReader(c)
				}
				st, body, err := obsRawGet(c, br, "GET / HTTP/1.1\r\nHost: dns.test\r\n\r\n")
				if err != nil || st != 200 {
					l.fail(fmt.Sprintf("status %d, %v", st, err))
					c.Close()
					c = nil
					continue
				}
				l.mu.Lock()
				l.by[body]++
				l.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *dnsLoad) fail(s string) {
	l.mu.Lock()
	l.fails = append(l.fails, s)
	l.mu.Unlock()
}

func (l *dnsLoad) count(ip string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.by[ip]
}

func (l *dnsLoad) end() (map[string]int, []string) {
	close(l.stop)
	l.wg.Wait()
	return l.by, l.fails
}

// TestDNSRefreshUnderLoad: a server given by name follows its A records
// while requests flow: a new address gets traffic within one dns_refresh,
// a removed one drains (its requests finish, then its series go), and not
// one request fails. Servers are labelled NAME@IP:PORT.
func TestDNSRefreshUnderLoad(t *testing.T) {
	z := startDNS(t)
	port := freePort(t)
	b2, b3 := startIPBackend(t, "127.0.0.2", port), startIPBackend(t, "127.0.0.3", port)
	_ = b3
	z.setA("app.test", "127.0.0.2")
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	app := fmt.Sprintf("app.test:%d", port)
	a := obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
resolvers: [%q]
frontends: [{name: web, listen: %q, backend: app}]
backends:
  - name: app
    dns_refresh: 500ms
    drain_timeout: 1s
    servers: [{address: %q}]
`, admin, z.addr, web, app), Options{Logger: slog.New(slog.DiscardHandler)})
	obsWaitListening(t, web)
	load := startDNSLoad(web, 4)
	obsEventually(t, 5*time.Second, func() error {
		if load.count("127.0.0.2") < 50 {
			return fmt.Errorf("no traffic yet")
		}
		return nil
	})
	label2, label3 := app+"@127.0.0.2:"+strconv.Itoa(port), app+"@127.0.0.3:"+strconv.Itoa(port)
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", label2)

	// Scale up: the new address gets traffic within one refresh.
	z.setA("app.test", "127.0.0.2", "127.0.0.3")
	changed := time.Now()
	obsEventually(t, 3*time.Second, func() error {
		if load.count("127.0.0.3") == 0 {
			return fmt.Errorf("127.0.0.3 got no traffic")
		}
		return nil
	})
	if d := time.Since(changed); d > 500*time.Millisecond+300*time.Millisecond {
		t.Errorf("the new address got its first request %v after the change, want within one dns_refresh (500ms, +300ms of polling)", d)
	}
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", label3)

	// Scale down: the old address drains; its series go once it has.
	z.setA("app.test", "127.0.0.3")
	obsEventually(t, 5*time.Second, func() error {
		if strings.Contains(obsScrape(t, admin), label2) {
			return fmt.Errorf("%s still exposed", label2)
		}
		return nil
	})
	n2 := b2.hits.Load()
	time.Sleep(300 * time.Millisecond)
	if d := b2.hits.Load() - n2; d != 0 {
		t.Errorf("the removed address got %d requests after it drained", d)
	}
	by, fails := load.end()
	if len(fails) != 0 {
		t.Errorf("%d failed requests: %v", len(fails), fails[:min(len(fails), 5)])
	}
	a.mu.Lock()
	n := len(a.backends["app"].servers)
	a.mu.Unlock()
	if n != 1 {
		t.Errorf("%d servers after the scale-down, want 1", n)
	}
	t.Logf("requests by address: %v, failed: %d", by, len(fails))
}

// TestDNSAllAddressesDownResolvesAtOnce: with dns_refresh 1h, a name whose
// every address is down is looked up again at once, and the new address
// serves.
func TestDNSAllAddressesDownResolvesAtOnce(t *testing.T) {
	z := startDNS(t)
	port := freePort(t)
	b4 := startIPBackend(t, "127.0.0.4", port)
	startIPBackend(t, "127.0.0.5", port)
	z.setA("moving.test", "127.0.0.4")
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
resolvers: [%q]
frontends: [{name: web, listen: %q, backend: app}]
backends:
  - name: app
    dns_refresh: 1h
    servers: [{address: "moving.test:%d"}]
    health:
      active: {type: tcp, interval: 100ms, timeout: 50ms, unhealthy_threshold: 1, healthy_threshold: 1}
`, admin, z.addr, web, port), Options{})
	obsWaitListening(t, web)
	if st, body := obsGet(t, web, "/"); st != 200 || body != "127.0.0.4" {
		t.Fatalf("got %d %q", st, body)
	}
	z.setA("moving.test", "127.0.0.5")
	b4.stop()
	obsEventually(t, 5*time.Second, func() error {
		c, err := net.Dial("tcp", web)
		if err != nil {
			return err
		}
		defer c.Close()
		st, body, err := obsRawGet(c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if err != nil || st != 200 || body != "127.0.0.5" {
			return fmt.Errorf("got %d %q %v", st, body, err)
		}
		return nil
	})
}

// TestDNSSRV: an SRV name gives ports and weights, follows its records, and
// keeps the addresses in use while the name does not resolve.
func TestDNSSRV(t *testing.T) {
	z := startDNS(t)
	p1, p2 := freePort(t), freePort(t)
	startIPBackend(t, "127.0.0.2", p1)
	startIPBackend(t, "127.0.0.3", p2)
	z.setA("a.srv.test", "127.0.0.2")
	z.setA("b.srv.test", "127.0.0.3")
	z.setSRV("_http._tcp.srv.test", &dns.SRV{Target: "a.srv.test.", Port: uint16(p1), Priority: 1, Weight: 10})
	admin, web := obsFreeAddr(t), obsFreeAddr(t)
	a := obsStart(t, fmt.Sprintf(`admin: {listen: %q}
logging: {access_log: off}
resolvers: [%q]
frontends: [{name: web, listen: %q, backend: app}]
backends:
  - name: app
    algorithm: weighted_round_robin
    dns_refresh: 300ms
    drain_timeout: 0s
    servers: [{address: _http._tcp.srv.test}]
`, admin, z.addr, web), Options{})
	obsWaitListening(t, web)
	weights := func() map[string]int {
		a.mu.Lock()
		defer a.mu.Unlock()
		m := map[string]int{}
		for addr, s := range a.backends["app"].servers {
			m[addr] = s.Weight()
		}
		return m
	}
	if w := weights(); len(w) != 1 || w["127.0.0.2:"+strconv.Itoa(p1)] != 10 {
		t.Fatalf("servers %v, want 127.0.0.2:%d weight 10", w, p1)
	}
	z.setSRV("_http._tcp.srv.test",
		&dns.SRV{Target: "a.srv.test.", Port: uint16(p1), Priority: 1, Weight: 10},
		&dns.SRV{Target: "b.srv.test.", Port: uint16(p2), Priority: 1, Weight: 30},
		&dns.SRV{Target: "b.srv.test.", Port: 1, Priority: 2, Weight: 99}) // backup priority: unused
	obsEventually(t, 3*time.Second, func() error {
		if w := weights(); len(w) != 2 || w["127.0.0.3:"+strconv.Itoa(p2)] != 30 {
			return fmt.Errorf("servers %v", w)
		}
		return nil
	})
	obsWant(t, admin, 1, "sluice_backend_health", "backend", "app", "server", "_http._tcp.srv.test@127.0.0.3:"+strconv.Itoa(p2))
	seen := map[string]int{}
	for range 40 {
		_, body := obsGet(t, web, "/")
		seen[body]++
	}
	if seen["127.0.0.3"] != 30 || seen["127.0.0.2"] != 10 {
		t.Errorf("40 requests split %v, want 10:30 (the SRV weights)", seen)
	}
	// The name stops resolving: the servers in use stay.
	z.mu.Lock()
	delete(z.srv, dns.Fqdn("_http._tcp.srv.test"))
	z.mu.Unlock()
	time.Sleep(700 * time.Millisecond)
	if w := weights(); len(w) != 2 {
		t.Errorf("after NXDOMAIN: servers %v, want the 2 in use", w)
	}
}
