package l7

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// fuzzConn is a net.Conn whose reads return data in pieces of the sizes
// chunks cycles through, then io.EOF. Writes and deadlines are no-ops.
type fuzzConn struct {
	net.Conn // nil: only the methods below are used
	data     []byte
	chunks   []byte
	i        int
}

// subsequence reports whether a's bytes appear in b in order.
func subsequence(a, b []byte) bool {
	for _, x := range a {
		i := bytes.IndexByte(b, x)
		if i < 0 {
			return false
		}
		b = b[i+1:]
	}
	return true
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.chunks) > 0 {
		n = int(c.chunks[c.i%len(c.chunks)]) + 1
		c.i++
	}
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}
func (c *fuzzConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *fuzzConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *fuzzConn) Close() error                     { return nil }

// FuzzClientConn feeds arbitrary bytes, split at arbitrary points, through the
// strict pre-parser that stands between a client socket and fasthttp. It
// must never panic or loop, never hand out more bytes than arrived, and as
// long as it has found no violation it must hand out only bytes the client
// sent, in order (it validates and may skip empty lines before a request
// line, RFC 9112 §2.2, but never rewrites or invents).
func FuzzClientConn(f *testing.F) {
	seeds := []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{})
		f.Add([]byte(s), []byte{0, 3, 7})
	}
	o := Options{Limits: Limits{MaxHeaderBytes: 1024, MaxBodyBytes: 4096}}
	o = o.withDefaults()
	t, err := compileTable(&o)
	if err != nil {
		f.Fatal(err)
	}
	ln := &listener{}
	f.Fuzz(func(tt *testing.T, data, chunks []byte) {
		if len(data) > 8<<10 {
			return
		}
		fc := &fuzzConn{data: append([]byte(nil), data...), chunks: chunks}
		cc := newClientConn(fc, ln, t)
		var out []byte
		p := make([]byte, 256)
		for i := 0; i < 4*len(data)+64; i++ {
			n, err := cc.Read(p)
			out = append(out, p[:n]...)
			if err != nil {
				break
			}
			if cc.st == stPass { // an upgraded tunnel passes bytes unparsed
				break
			}
		}
		if cc.reject == 0 && cc.st != stSynth && cc.st != stDead {
			if !subsequence(out, data) {
				tt.Fatalf("handed out bytes the client did not send:\nin  %q\nout %q", data, out)
			}
		}
		if cc.synth == 0 && len(out) > len(data) {
			tt.Fatalf("handed out %d bytes of %d", len(out), len(data))
		}
	})
}
