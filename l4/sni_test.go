package l4

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/gate"
	"github.com/sluicelb/sluice/internal/testcert"
)

// sniBackend is a server that terminates TLS with cert when the client
// speaks TLS, else talks plain. Either way it announces name, then reads
// a length-prefixed payload and answers with its SHA-256 followed by
// 1 MiB of its own bytes and their SHA-256.
func sniBackend(t *testing.T, name string, cert tls.Certificate) string {
	t.Helper()
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
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				first, err := br.Peek(1)
				if err != nil {
					return
				}
				var rw io.ReadWriter = struct {
					io.Reader
					io.Writer
				}{br, c}
				if first[0] == 0x16 {
					tc := tls.Server(&peekedConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{cert}})
					defer tc.Close()
					rw = tc
				}
				serveChecksums(rw, name)
			}()
		}
	}()
	return ln.Addr().String()
}

type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

func serveChecksums(rw io.ReadWriter, name string) {
	io.WriteString(rw, name+"\n")
	var n [4]byte
	if _, err := io.ReadFull(rw, n[:]); err != nil {
		return
	}
	h := sha256.New()
	if _, err := io.CopyN(h, rw, int64(n[0])<<24|int64(n[1])<<16|int64(n[2])<<8|int64(n[3])); err != nil {
		return
	}
	rw.Write(h.Sum(nil))
	out := make([]byte, 1<<20)
	rand.Read(out)
	rw.Write(out)
	sum := sha256.Sum256(out)
	rw.Write(sum[:])
}

// exchange checks both directions of a session through the proxy:
// 1 MiB up, 1 MiB down, each compared by SHA-256. It returns the
// backend's name.
func exchangeChecksums(t *testing.T, rw io.ReadWriter) string {
	t.Helper()
	br := bufio.NewReader(rw)
	name, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	rw.Write([]byte{0, 0x10, 0, 0})
	if _, err := rw.Write(payload); err != nil {
		t.Fatal(err)
	}
	var got [32]byte
	if _, err := io.ReadFull(br, got[:]); err != nil || got != sha256.Sum256(payload) {
		t.Fatalf("upload checksum: %v", err)
	}
	down := make([]byte, 1<<20)
	if _, err := io.ReadFull(br, down); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, got[:]); err != nil || got != sha256.Sum256(down) {
		t.Fatalf("download checksum: %v", err)
	}
	return strings.TrimSpace(name)
}

func startSNI(t *testing.T, routes []Route, def *Backend, hooks Hooks) string {
	t.Helper()
	e, err := engine.New(engine.Options{Loops: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	f := New(Options{Name: "fe", Engine: e, Backend: def, Routes: routes, HelloTimeout: 300 * time.Millisecond,
		IdleTimeout: time.Minute, Conns: gate.New(100), Global: gate.New(0),
		Admit: func(netip.Addr) Refusal { return 0 }, Hooks: hooks, Log: quiet})
	ln, err := engine.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ln)
	t.Cleanup(func() {
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return ln.Addr().String()
}

func backendOf(name, addr string) *Backend {
	return &Backend{Name: name, ConnectTimeout: time.Second,
		Balancer: balance.New(balance.Options{}, []*balance.Server{balance.NewServer(name, addr, 1)})}
}

// Two SNI names reach two TCP backends with their bytes untouched (TLS
// end to end, checksums both ways); a hello without SNI, and bytes that
// are not TLS, reach the default backend; sessions name their backend.
func TestSNIRouting(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	db1 := backendOf("db1", sniBackend(t, "db1", ca.Issue(t, "db1.example.com").TLS))
	db2 := backendOf("db2", sniBackend(t, "db2", ca.Issue(t, "x.db2.example.com").TLS))
	def := backendOf("default", sniBackend(t, "default", ca.Issue(t, "default.example.com").TLS))
	h := newRecHooks()
	addr := startSNI(t, []Route{
		{Name: "db1", Names: []string{"db1.example.com"}, Backend: db1},
		{Name: "db2", Names: []string{"*.db2.example.com"}, Backend: db2},
	}, def, h)

	for _, tc := range []struct {
		sni, want string
		route     int
	}{
		{"db1.example.com", "db1", 0},
		{"X.DB2.example.com", "db2", 1},
		{"", "default", -1},
		{"other.example.com", "default", -1},
	} {
		cfg := &tls.Config{ServerName: tc.sni, RootCAs: ca.Pool()}
		if tc.sni == "" {
			cfg = &tls.Config{InsecureSkipVerify: true} // no SNI at all
		} else if tc.want == "default" {
			cfg.InsecureSkipVerify = true
		}
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			t.Fatalf("%q: %v", tc.sni, err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if got := exchangeChecksums(t, c); got != tc.want {
			t.Fatalf("SNI %q reached %s, want %s", tc.sni, got, tc.want)
		}
		c.Close()
		select {
		case info := <-h.ended:
			if info.Backend != tc.want || info.Route != tc.route || info.BytesIn < 1<<20 {
				t.Fatalf("session of %q: backend %q route %d bytes in %d", tc.sni, info.Backend, info.Route, info.BytesIn)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end")
		}
	}
	// Not TLS at all (the client speaks first): the default backend gets
	// the bytes as sent.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() {
		c.Write([]byte{0, 0x10, 0, 0})
		c.Write(payload)
	}()
	br := bufio.NewReader(c)
	if name, _ := br.ReadString('\n'); name != "default\n" {
		t.Fatalf("plain bytes reached %q", name)
	}
	var got [32]byte
	if _, err := io.ReadFull(br, got[:]); err != nil || got != sha256.Sum256(payload) {
		t.Fatalf("plain upload checksum: %v", err)
	}
}

// Without a default backend, a session no route matches is closed; so is
// one whose client sends nothing within the hello timeout.
func TestSNIRoutingNoDefault(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	db1 := backendOf("db1", sniBackend(t, "db1", ca.Issue(t, "db1.example.com").TLS))
	h := newRecHooks()
	addr := startSNI(t, []Route{{Names: []string{"db1.example.com"}, Backend: db1}}, nil, h)
	if _, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "other.example.com", InsecureSkipVerify: true}); err == nil {
		t.Fatal("a session without a route was served")
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("a silent client: %v after %v", err, time.Since(start))
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		n := h.refused[RefusedNoRoute]
		h.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused (no route) %d, want 2", n)
		}
	}
}
