package l7

import (
	"bufio"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawBackend is a minimal HTTP/1.1 server that records raw request heads and
// answers each request with a fixed raw response (keep-alive).
type rawBackend struct {
	addr     string
	mu       sync.Mutex
	heads    []string
	peers    []string     // remote address of each accepted connection, in accept order
	accepted atomic.Int64 // connections accepted
	bytes    atomic.Int64 // bytes read from all connections
}

// rawCountConn counts the bytes a rawBackend reads.
type rawCountConn struct {
	net.Conn
	n *atomic.Int64
}

func (c rawCountConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func startRawBackend(t testing.TB, response string) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.peers = append(b.peers, c.RemoteAddr().String())
			b.mu.Unlock()
			b.accepted.Add(1)
			go b.serve(rawCountConn{c, &b.bytes}, response)
		}
	}()
	return b
}

func (b *rawBackend) serve(c net.Conn, response string) {
	defer c.Close()
	br := bufio.NewReader(c)
	tp := textproto.NewReader(br)
	for {
		var head strings.Builder
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		head.WriteString(line + "\r\n")
		cl, chunked := 0, false
		for {
			l, err := tp.ReadLine()
			if err != nil {
				return
			}
			head.WriteString(l + "\r\n")
			if l == "" {
				break
			}
			k, v, _ := strings.Cut(l, ":")
			v = strings.TrimSpace(v)
			switch strings.ToLower(k) {
			case "content-length":
				cl, _ = strconv.Atoi(v)
			case "transfer-encoding":
				chunked = strings.EqualFold(v, "chunked")
			}
		}
		b.mu.Lock()
		b.heads = append(b.heads, head.String())
		b.mu.Unlock()
		if chunked {
			for {
				l, err := tp.ReadLine()
				if err != nil {
					return
				}
				n, _ := strconv.ParseInt(strings.SplitN(l, ";", 2)[0], 16, 64)
				if n == 0 {
					for { // trailers
						l, err := tp.ReadLine()
						if err != nil || l == "" {
							break
						}
					}
					break
				}
				if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
					return
				}
			}
		} else if cl > 0 {
			if _, err := io.CopyN(io.Discard, br, int64(cl)); err != nil {
				return
			}
		}
		if _, err := io.WriteString(c, response); err != nil {
			return
		}
	}
}

// connsBefore opens a connection of its own to the backend and returns how
// many connections the backend accepted before it. The listen queue is
// first in, first out: a connection the proxy made before the call (say, a
// request it should not have forwarded) is counted, with no sleeping.
func (b *rawBackend) connsBefore(t testing.TB) int {
	t.Helper()
	c, err := net.Dial("tcp", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	me := c.LocalAddr().String()
	n := -1
	waitFor(t, 5*time.Second, "the barrier connection accepted", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, p := range b.peers {
			if p == me {
				n = i
				return true
			}
		}
		return false
	})
	return n
}

func (b *rawBackend) lastHead(t testing.TB) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.heads) == 0 {
		t.Fatal("raw backend received nothing")
	}
	return b.heads[len(b.heads)-1]
}

// rawRoundTrip sends raw and returns the raw response head (up to the empty line) and body reader.
func rawRoundTrip(t testing.TB, addr, raw string) (head string, br *bufio.Reader, c net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br = bufio.NewReader(c)
	var sb strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading response head: %v (so far %q)", err, sb.String())
		}
		sb.WriteString(l)
		if l == "\r\n" {
			break
		}
	}
	return sb.String(), br, c
}

// countHeader counts header lines named name (case-insensitive) in a raw head.
func countHeader(head, name string) int {
	n := 0
	for _, l := range strings.Split(head, "\r\n")[1:] {
		k, _, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			n++
		}
	}
	return n
}
