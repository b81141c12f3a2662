package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// The model TLS termination (issue 21) builds on, proven here: crypto/tls
// has no non-blocking mode, so the handshake runs on a goroutine of its own
// over the TCP connection; then the connection is enrolled on an event loop
// and tls.Conn is fed only whole records (the 5-byte header gives the
// length), so its Read never waits: with no whole record buffered, the
// transport below it answers a temporary net.Error, which leaves tls.Conn
// usable. Its writes are collected and written by the loop.
// docs/l7-engine.md has the measurement (TLS 1.3 keep-alive on the loop cost
// less CPU per request than crypto/tls on a goroutine per connection).

// errWouldBlock: no whole record is buffered (temporary: not fatal to tls.Conn).
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "engine: no whole TLS record buffered" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// recordConn is the transport under tls.Conn: the TCP connection during the
// handshake; on the loop, Read serves the records the loop put in and Write
// collects what tls.Conn sends.
type recordConn struct {
	*net.TCPConn
	onLoop bool
	in     []byte
	out    []byte
}

func (r *recordConn) Read(p []byte) (int, error) {
	if !r.onLoop {
		return r.TCPConn.Read(p)
	}
	if len(r.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, r.in)
	r.in = r.in[n:]
	return n, nil
}

func (r *recordConn) Write(p []byte) (int, error) {
	if !r.onLoop {
		return r.TCPConn.Write(p)
	}
	r.out = append(r.out, p...)
	return len(p), nil
}

// wholeRecords returns how many bytes of b are complete TLS records.
func wholeRecords(b []byte) int {
	n := 0
	for len(b)-n >= 5 {
		l := 5 + (int(b[n+3])<<8 | int(b[n+4]))
		if len(b)-n < l {
			break
		}
		n += l
	}
	return n
}

// tlsEcho is a TLS HTTP server on the loop answering each request head with
// a response of size bytes (the proof's application).
type tlsEcho struct {
	rc    *recordConn
	tc    *tls.Conn
	plain []byte
	buf   [16 << 10]byte
	resp  []byte
}

func (t *tlsEcho) OnOpen(c gnet.Conn) gnet.Action { return t.pump(c) } // bytes read during the handshake

func (t *tlsEcho) OnTraffic(c gnet.Conn) gnet.Action {
	b, _ := c.Peek(-1)
	if n := wholeRecords(b); n > 0 { // (Discard(0) would drop everything)
		t.rc.in = append(t.rc.in, b[:n]...)
		_, _ = c.Discard(n)
	}
	return t.pump(c)
}

func (t *tlsEcho) pump(c gnet.Conn) gnet.Action {
	for {
		k, err := t.tc.Read(t.buf[:])
		t.plain = append(t.plain, t.buf[:k]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				break
			}
			return gnet.Close
		}
	}
	for {
		i := bytes.Index(t.plain, []byte("\r\n\r\n"))
		if i < 0 {
			break
		}
		t.plain = t.plain[i+4:]
		if _, err := t.tc.Write(t.resp); err != nil {
			return gnet.Close
		}
	}
	if len(t.rc.out) > 0 {
		if _, err := c.Write(t.rc.out); err != nil {
			return gnet.Close
		}
		t.rc.out = t.rc.out[:0]
	}
	return gnet.None
}

func (t *tlsEcho) OnClose(gnet.Conn, error) {}

func selfSigned(t testing.TB) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestTLSOnLoop: TLS 1.3 keep-alive requests answered on an event loop by a
// tls.Conn that is only ever fed whole records: the first request sent right
// after the client's Finished (read during the off-loop handshake), many
// requests per connection, responses spanning several records, and several
// clients at once.
func TestTLSOnLoop(t *testing.T) {
	e, err := New(Options{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	}()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS13}
	const size = 40 << 10 // three records
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 40960\r\n\r\n" + strings.Repeat("y", size))
	go func() {
		_ = Serve(ln, func(c *net.TCPConn) {
			go func() { // the handshake, off the loop
				rc := &recordConn{TCPConn: c}
				tc := tls.Server(rc, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := tc.HandshakeContext(ctx); err != nil {
					_ = c.Close()
					return
				}
				rc.onLoop = true
				_ = e.Enroll(c, &tlsEcho{rc: rc, tc: tc, resp: resp})
			}()
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			errs <- func() error {
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
				if err != nil {
					return err
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
					return errors.New("not TLS 1.3")
				}
				br := bufio.NewReader(c)
				for j := 0; j < 50; j++ {
					if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
						return err
					}
					r, err := http.ReadResponse(br, nil)
					if err != nil {
						return err
					}
					b, err := io.ReadAll(r.Body)
					if err != nil || len(b) != size {
						return errors.New("short body")
					}
				}
				return nil
			}()
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
