package health

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// backend is a real loopback server that a test can stop (it stops
// listening: connects are refused) and start again on the same address.
// With a nil handler it accepts TCP connections and closes them at once;
// otherwise it serves HTTP with the handler. It records accept times.
type backend struct {
	t       *testing.T
	addr    string
	handler http.Handler

	mu      sync.Mutex
	ln      net.Listener
	srv     *http.Server
	accepts []time.Time
	hosts   []string // Host of each HTTP request
	paths   []string
}

func newBackend(t *testing.T, h http.HandlerFunc) *backend {
	b := &backend{t: t}
	if h != nil {
		b.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.hosts = append(b.hosts, r.Host)
			b.paths = append(b.paths, r.URL.Path)
			b.mu.Unlock()
			h(w, r)
		})
	}
	b.start("127.0.0.1:0")
	t.Cleanup(b.stop)
	return b
}

// recLn records accept times.
type recLn struct {
	net.Listener
	b *backend
}

func (l recLn) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.b.mu.Lock()
		l.b.accepts = append(l.b.accepts, time.Now())
		l.b.mu.Unlock()
	}
	return c, err
}

func (b *backend) start(addr string) {
	b.t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		b.t.Fatalf("listen %s: %v", addr, err)
	}
	rl := recLn{ln, b}
	b.mu.Lock()
	b.ln, b.addr = ln, ln.Addr().String()
	if b.handler != nil {
		b.srv = &http.Server{Handler: b.handler, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = b.srv.Serve(rl) }()
	} else {
		go func() {
			for {
				c, err := rl.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		}()
	}
	b.mu.Unlock()
}

// stop closes the listener (and, for HTTP, open connections); idempotent.
func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		b.srv = nil
	}
	if b.ln != nil {
		_ = b.ln.Close()
		b.ln = nil
	}
}

// restart listens again on the same address.
func (b *backend) restart() { b.start(b.addr) }

func (b *backend) acceptTimes() []time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Time(nil), b.accepts...)
}

func (b *backend) requests() (hosts, paths []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.hosts...), append([]string(nil), b.paths...)
}

// logRec is one captured log record.
type logRec struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// captureHandler is a slog.Handler that keeps records for assertions.
type captureHandler struct {
	mu   *sync.Mutex
	recs *[]logRec
}

func newCapture() (*slog.Logger, func() []logRec) {
	h := captureHandler{mu: new(sync.Mutex), recs: new([]logRec)}
	return slog.New(h), func() []logRec {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]logRec(nil), *h.recs...)
	}
}

func (captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRec{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	*h.recs = append(*h.recs, rec)
	h.mu.Unlock()
	return nil
}
func (h captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h captureHandler) WithGroup(string) slog.Handler      { return h }
