package backend

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTP is a demo/benchmark HTTP/1.1 server built on fasthttp. Routes:
//
//	GET /            200, "backend ADDR\n" (ADDR is Addr())
//	GET /health      200, "ok"
//	GET /size/N      200, N bytes of 'x' (0 <= N <= MaxSize)
//	GET /delay/DUR   sleeps DUR (Go duration, at most MaxDelay), then answers like /
//	GET /status/N    answers status N (200..599) with "status N\n"
//	GET /headers     200, the request line and headers as received, plus the peer address
//	anything else    200, like / (any method; a request body is read and discarded)
//
// Every response carries "X-Backend: ADDR". Bad arguments answer 400 with a message naming
// the path. All methods are safe for concurrent use.
type HTTP struct {
	ln   net.Listener
	srv  *fasthttp.Server
	addr string
	name []byte // "backend ADDR\n"

	requests atomic.Int64
	conns    atomic.Int64
	done     chan struct{}
	closed   atomic.Bool
}

// MaxSize bounds /size/N (1 GiB); MaxDelay bounds /delay/DUR (1 minute).
const (
	MaxSize  = 1 << 30
	MaxDelay = time.Minute
)

// filler is shared read-only body data for /size/N.
var filler = func() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = 'x'
	}
	return b
}()

// StartHTTP listens on addr (host:port, port 0 picks a free one) and serves until Close.
func StartHTTP(addr string) (*HTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	h := &HTTP{addr: ln.Addr().String(), done: make(chan struct{})}
	h.name = []byte("backend " + h.addr + "\n")
	h.ln = &countingListener{Listener: ln, n: &h.conns}
	h.srv = &fasthttp.Server{
		Handler:               h.serve,
		Name:                  "sluice-bench",
		ReadBufferSize:        64 << 10,
		ReadTimeout:           2 * time.Minute,
		WriteTimeout:          2 * time.Minute,
		IdleTimeout:           2 * time.Minute,
		Concurrency:           200_000,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		Logger:                quietLogger{},
	}
	go func() {
		defer close(h.done)
		_ = h.srv.Serve(h.ln)
	}()
	return h, nil
}

// Addr is the listening address ("127.0.0.1:port").
func (h *HTTP) Addr() string { return h.addr }

// Requests is the number of requests answered so far.
func (h *HTTP) Requests() int64 { return h.requests.Load() }

// Conns is the number of connections accepted so far.
func (h *HTTP) Conns() int64 { return h.conns.Load() }

// Reset sets the request and connection counters to zero.
func (h *HTTP) Reset() { h.requests.Store(0); h.conns.Store(0) }

// Close stops listening and closes open connections, waiting at most 5 s. Calling it
// again is a no-op.
func (h *HTTP) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.ShutdownWithContext(ctx)
	_ = h.ln.Close()
	select {
	case <-h.done:
	case <-ctx.Done():
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

var (
	strHealth  = []byte("/health")
	strSize    = []byte("/size/")
	strDelay   = []byte("/delay/")
	strStatus  = []byte("/status/")
	strHeaders = []byte("/headers")
	strOK      = []byte("ok")
	strText    = []byte("text/plain; charset=utf-8")
)

func (h *HTTP) serve(ctx *fasthttp.RequestCtx) {
	h.requests.Add(1)
	ctx.Response.Header.SetBytesV("X-Backend", h.name[len("backend "):len(h.name)-1])
	ctx.Response.Header.SetContentTypeBytes(strText)
	p := ctx.Path()
	switch {
	case len(p) == 1:
		ctx.SetBody(h.name)
	case bytesEq(p, strHealth):
		ctx.SetBody(strOK)
	case hasPrefix(p, strSize):
		n, err := strconv.ParseInt(string(p[len(strSize):]), 10, 64)
		if err != nil || n < 0 || n > MaxSize {
			bad(ctx, "size: want /size/N with 0 <= N <= 1073741824, got "+string(p))
			return
		}
		if n <= int64(len(filler)) {
			ctx.SetBody(filler[:n])
			return
		}
		ctx.SetBodyStream(&fillReader{left: n}, int(n))
	case hasPrefix(p, strDelay):
		d, err := time.ParseDuration(string(p[len(strDelay):]))
		if err != nil || d < 0 || d > MaxDelay {
			bad(ctx, "delay: want /delay/DUR with 0 <= DUR <= 1m (e.g. /delay/250ms), got "+string(p))
			return
		}
		time.Sleep(d)
		ctx.SetBody(h.name)
	case hasPrefix(p, strStatus):
		n, err := strconv.Atoi(string(p[len(strStatus):]))
		if err != nil || n < 200 || n > 599 {
			bad(ctx, "status: want /status/N with 200 <= N <= 599, got "+string(p))
			return
		}
		ctx.SetStatusCode(n)
		ctx.SetBodyString("status " + strconv.Itoa(n) + "\n")
	case bytesEq(p, strHeaders):
		b := append([]byte(nil), ctx.Request.Header.Header()...)
		b = append(b, "# peer: "...)
		b = append(b, ctx.RemoteAddr().String()...)
		b = append(b, "\n# backend: "...)
		b = append(b, h.addr...)
		b = append(b, '\n')
		ctx.SetBody(b)
	default:
		ctx.SetBody(h.name)
	}
}

func bad(ctx *fasthttp.RequestCtx, msg string) {
	ctx.SetStatusCode(fasthttp.StatusBadRequest)
	ctx.SetBodyString(msg + "\n")
}

func bytesEq(a, b []byte) bool { return string(a) == string(b) }

func hasPrefix(a, p []byte) bool { return len(a) >= len(p) && string(a[:len(p)]) == string(p) }

// fillReader yields left bytes of 'x' for bodies larger than filler.
type fillReader struct{ left int64 }

func (r *fillReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, filler)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.left -= int64(n)
	return n, nil
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
