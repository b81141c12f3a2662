package app

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/sluicelb/sluice/acmecert"
	"github.com/sluicelb/sluice/internal/config"
)

// redirectServer is a TLS frontend's redirect_from listener: plain HTTP
// that answers ACME HTTP-01 challenges and sends everything else to
// https:// with 308 (method and body kept), path and query kept. It is a
// small net/http server: nothing is proxied here.
type redirectServer struct {
	addr   string // as configured
	ln     *net.TCPListener
	srv    *http.Server
	target atomic.Pointer[redirectTarget]
}

// redirectTarget is what a reload may change.
type redirectTarget struct {
	port string // the TLS listener's port; "" when it is 443
	acme *acmecert.Manager
}

func newRedirectServer(addr string, ln *net.TCPListener, f *config.Frontend) *redirectServer {
	r := &redirectServer{addr: addr, ln: ln}
	r.srv = &http.Server{
		Handler:           r,
		ReadHeaderTimeout: f.Timeouts.ClientHeader,
		IdleTimeout:       f.Timeouts.ClientIdle,
		MaxHeaderBytes:    int(f.Limits.MaxHeaderBytes),
		ErrorLog:          nil,
	}
	return r
}

// set points the redirects at f's TLS listener and its ACME manager.
func (r *redirectServer) set(f *config.Frontend, acme *acmecert.Manager) {
	t := &redirectTarget{acme: acme}
	if _, port, err := net.SplitHostPort(f.Listen); err == nil && port != "443" {
		t.port = port
	}
	r.target.Store(t)
}

func (r *redirectServer) start() {
	go func() { _ = r.srv.Serve(r.ln) }()
}

// stop closes the listener and lets requests in flight finish until ctx.
func (r *redirectServer) stop(ctx context.Context) {
	_ = r.srv.Shutdown(ctx)
}

func (r *redirectServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	t := r.target.Load()
	if t.acme != nil && t.acme.HandleHTTPChallenge(w, req) {
		return
	}
	host := req.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" || strings.ContainsAny(host, "/\\@ ") {
		http.Error(w, "400 Bad Request: a Host header is needed to redirect to https", http.StatusBadRequest)
		return
	}
	if strings.Contains(host, ":") { // IPv6 literal
		host = "[" + host + "]"
	}
	target := "https://" + host
	if t.port != "" {
		target += ":" + t.port
	}
	uri := req.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = req.URL.RequestURI() // absolute-form or "*": the path and query only
	}
	target += uri
	w.Header().Set("Location", target)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(target)+1))
	w.WriteHeader(http.StatusPermanentRedirect)
	_, _ = w.Write([]byte(target + "\n"))
}
