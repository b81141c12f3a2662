package metrics

import (
	"sync/atomic"

	vm "github.com/VictoriaMetrics/metrics"
)

// Failure reasons for Server.Fail; they are the `reason` label values of
// sluice_backend_failures_total in this order.
const (
	FailConnect   uint8 = iota // "connect": dialing the server failed
	FailTimeout                // "timeout": connect or response timed out
	FailReset                  // "reset": the connection broke mid-exchange
	FailStatus5xx              // "status_5xx": the server answered 5xx
	NumFailReasons
)

var failReasonLabels = [NumFailReasons]string{"connect", "timeout", "reset", "status_5xx"}

// FailReasonLabel returns the `reason` label value of r, or "" when r is
// out of range.
func FailReasonLabel(r uint8) string {
	if r >= NumFailReasons {
		return ""
	}
	return failReasonLabels[r]
}

// Server holds the series labelled {backend, server} of one backend server.
// Obtain it from Registry.Server. Hot-path methods are atomic,
// allocation-free and safe for concurrent use.
type Server struct {
	set      *vm.Set
	requests *Counter
	failures [NumFailReasons]*Counter
	healthy  atomic.Pointer[func() bool]
	active   atomic.Pointer[func() int64]
}

func newServer(backend, addr string) *Server {
	s := &Server{set: vm.NewSet()}
	s.requests = s.set.NewCounter(seriesName(NameBackendRequests, "backend", backend, "server", addr))
	for i, r := range failReasonLabels {
		s.failures[i] = s.set.NewCounter(seriesName(NameBackendFailures, "backend", backend, "server", addr, "reason", r))
	}
	s.set.NewGauge(seriesName(NameBackendHealth, "backend", backend, "server", addr), func() float64 {
		if fn := s.healthy.Load(); fn != nil && *fn != nil {
			return b2f((*fn)())
		}
		return 0
	})
	s.set.NewGauge(seriesName(NameBackendActive, "backend", backend, "server", addr), func() float64 {
		if fn := s.active.Load(); fn != nil && *fn != nil {
			return float64((*fn)())
		}
		return 0
	})
	return s
}

// Bind sets the funcs sampled at scrape time for sluice_backend_health and
// sluice_backend_active_connections (nil reads as 0). Registry.Server calls
// it; call it again when the server object behind the handles changes.
func (s *Server) Bind(healthy func() bool, active func() int64) {
	s.healthy.Store(&healthy)
	s.active.Store(&active)
}

// Request counts one request (http) or session (tcp) sent to the server.
func (s *Server) Request() { s.requests.Inc() }

// Requests returns the sluice_backend_requests_total counter.
func (s *Server) Requests() *Counter { return s.requests }

// Fail counts one failure with reason (FailConnect, FailTimeout, FailReset,
// FailStatus5xx); an out-of-range reason is ignored.
func (s *Server) Fail(reason uint8) {
	if reason < NumFailReasons {
		s.failures[reason].Inc()
	}
}

// Failures returns the sluice_backend_failures_total counter of reason, or
// nil when reason is out of range.
func (s *Server) Failures(reason uint8) *Counter {
	if reason >= NumFailReasons {
		return nil
	}
	return s.failures[reason]
}
