package app

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"unsafe"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/engine"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/accesslog"
	"github.com/sluicelb/sluice/internal/live"
	"github.com/sluicelb/sluice/internal/metrics"
	"github.com/sluicelb/sluice/l4"
	"github.com/sluicelb/sluice/l7"
)

// noServerLog logs "no server available" once per transition, not once per
// connection or request: the first refusal logs a warning, the next
// success logs that servers are back.
type noServerLog struct {
	down atomic.Bool
	log  *slog.Logger
}

func (n *noServerLog) refused(frontend, backend string) {
	if !n.down.Load() && n.down.CompareAndSwap(false, true) {
		n.log.Warn("no server available: refusing clients", "frontend", frontend, "backend", backend)
	}
}

func (n *noServerLog) served(frontend, backend string) {
	if n.down.Load() && n.down.CompareAndSwap(true, false) {
		n.log.Info("servers available again", "frontend", frontend, "backend", backend)
	}
}

// tcpHooks implements l4.Hooks for one tcp frontend: metrics, the access
// log and passive health. One is built per frontend per configuration.
type tcpHooks struct {
	name    string
	backend string
	fe      *metrics.Frontend
	routes  []obsBackend // [0]: the default backend; [i+1]: routes[i]'s
	alog    *accesslog.Logger
	noSrv   *noServerLog
	fl      *feLive
	logs    *live.LogRing
}

func (h *tcpHooks) BytesIn() engine.Counter  { return h.fe.BytesIn() }
func (h *tcpHooks) BytesOut() engine.Counter { return h.fe.BytesOut() }
func (h *tcpHooks) Opened()                  { h.fe.ConnOpened() }
func (h *tcpHooks) Closed()                  { h.fe.ConnClosed() }

func (h *tcpHooks) Refused(r l4.Refusal, _ netip.Addr) {
	switch r {
	case l4.RefusedNoServer:
		h.noSrv.refused(h.name, h.backend)
	case l4.RefusedRateLimit:
		h.fl.limited.Add(1)
		if bl := h.routes[0].live; bl != nil { // refused before any route: the default backend's
			bl.limited.Add(1)
		}
	}
}

func (h *tcpHooks) ConnectFailed(srv *balance.Server, err error) {
	st := stateOf(srv)
	if st == nil {
		return
	}
	reason := metrics.FailConnect
	if l4.IsTimeout(err) {
		reason = metrics.FailTimeout
	}
	st.met.Fail(reason)
	if ps := st.passive.Load(); ps != nil {
		ps.FailureOf(health.Now(), reason)
	}
}

func (h *tcpHooks) Connected(srv *balance.Server) {
	h.noSrv.served(h.name, h.backend)
	if st := stateOf(srv); st != nil {
		st.met.Request()
		if ps := st.passive.Load(); ps != nil {
			ps.Success()
		}
	}
}

func (h *tcpHooks) Ended(info *l4.SessionInfo) {
	var bl *beLive
	if i := info.Route + 1; i >= 0 && i < len(h.routes) {
		if p := h.routes[i].pair; p != nil {
			p.TCPSession()
		}
		bl = h.routes[i].live
	}
	failed := info.Server == nil || info.Close == engine.BackendError
	h.fl.req.Add(1)
	if bl != nil {
		bl.req.Add(1)
	}
	if failed {
		h.fl.errs.Add(1)
		if bl != nil {
			bl.errs.Add(1)
		}
	}
	var server string
	if info.Server != nil {
		server = labelOf(info.Server) // NAME@IP:PORT for a server found by DNS
	}
	h.logs.AddTCP(&live.TCP{Start: info.Start, Frontend: h.name, Backend: info.Backend, Server: server,
		ClientIP: info.Client, Duration: info.Duration, BytesIn: info.BytesIn, BytesOut: info.BytesOut,
		Close: info.Close.String()})
	if h.alog == nil {
		return
	}
	e := accesslog.TCPEntry{Time: info.Start, Frontend: h.name, ClientIP: info.Client,
		Backend: info.Backend, Duration: info.Duration, BytesIn: info.BytesIn,
		BytesOut: info.BytesOut, Close: info.Close.String(), Server: server}
	h.alog.LogTCP(&e)
}

// httpObserver implements l7.Observer for one http frontend. Its maps are
// built with it and only read afterwards.
type httpObserver struct {
	name   string
	fe     *metrics.Frontend
	byID   []obsBackend          // by the server's backendRT.id: an index, no hashing
	byName map[string]obsBackend // when no server was reached ("" = no backend)
	alog   *accesslog.Logger
	noSrv  *noServerLog
	fl     *feLive
	logs   *live.LogRing
}

// obsBackend is what an http frontend's observer counts for one of its
// backends (the zero value: nothing, for a backend it does not use).
type obsBackend struct {
	pair *metrics.Pair
	live *beLive
}

func (o *httpObserver) RequestDone(r *l7.Record) {
	var ob obsBackend
	if r.Server != nil {
		if st := stateOf(r.Server); st != nil {
			st.live.lat.Observe(r.Duration)
			if st.be.id < len(o.byID) {
				ob = o.byID[st.be.id]
			}
		}
	}
	if ob.pair == nil {
		ob = o.byName[r.Backend]
	}
	p, bl := ob.pair, ob.live
	if p != nil {
		p.Request(r.Status, r.Duration)
	}
	o.fl.req.Add(1)
	o.fl.lat.Observe(r.Duration)
	if bl != nil {
		bl.req.Add(1)
	}
	if r.Failure == l7.FailRateLimited { // rate_limited alerts
		o.fl.limited.Add(1)
		if bl != nil {
			bl.limited.Add(1)
		}
	}
	if r.Status >= 500 {
		o.fl.errs.Add(1)
		if bl != nil {
			bl.errs.Add(1)
		}
	}
	server := serverLabel(r)
	o.logs.AddHTTP(&live.HTTP{Start: r.Start, Frontend: o.name, Backend: r.Backend, Server: server,
		ClientIP: r.ClientIP, Method: r.Method, Host: r.Host, Path: r.Path, Status: r.Status,
		Duration: r.Duration, BytesIn: r.BytesIn, BytesOut: r.BytesOut})
	o.fe.AddBytes(r.BytesIn, r.BytesOut)
	switch r.Failure {
	case l7.FailNoServer:
		o.noSrv.refused(o.name, r.Backend)
	case l7.FailNone:
		o.noSrv.served(o.name, r.Backend)
	}
	if o.alog == nil {
		return
	}
	// The strings alias the Record's bytes: LogHTTP encodes before it
	// returns and keeps nothing.
	o.alog.LogHTTP(&accesslog.HTTPEntry{Time: r.Start, Frontend: o.name, ClientIP: r.ClientIP,
		Method: bstr(r.Method), Host: bstr(r.Host), Path: bstr(r.Path), Backend: r.Backend,
		Server: server, Status: r.Status, Duration: r.Duration, BytesIn: r.BytesIn,
		BytesOut: r.BytesOut})
}

func (o *httpObserver) BackendAttempt(s *balance.Server, f l7.Failure) {
	st := stateOf(s)
	if st == nil {
		return
	}
	st.met.Request()
	if f.CountsAgainstServer() {
		kind := uint8(noKind)
		if reason, ok := failReason(f); ok {
			st.met.Fail(reason)
			kind = reason
		}
		if ps := st.passive.Load(); ps != nil {
			ps.FailureOf(health.Now(), kind)
		}
	} else if ps := st.passive.Load(); f == l7.FailNone && ps != nil {
		ps.Success()
	}
}

// failReason maps an l7 failure to the reason label of
// sluice_backend_failures_total.
func failReason(f l7.Failure) (uint8, bool) {
	switch f {
	case l7.FailConnect:
		return metrics.FailConnect, true
	case l7.FailTimeout:
		return metrics.FailTimeout, true
	case l7.FailReset:
		return metrics.FailReset, true
	case l7.FailStatus5xx:
		return metrics.FailStatus5xx, true
	}
	return 0, false
}

// bstr views b as a string without copying; valid only while b is.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// serverLabel is the access-log server of a request: its server's label
// (NAME@IP:PORT for a server found by DNS), else the address l7 recorded.
func serverLabel(r *l7.Record) string {
	if r.Server != nil {
		if st := stateOf(r.Server); st != nil {
			return st.label
		}
	}
	return r.ServerAddr
}
