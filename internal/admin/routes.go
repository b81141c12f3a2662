package admin

import (
	"context"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"

	"github.com/sluicelb/sluice/internal/auth"
)

// roleMetrics is GET /metrics' entry in the table: viewer when
// admin.protect_metrics is true, public otherwise.
const roleMetrics auth.Role = 255

// route is one row of the role table.
type route struct {
	method string // GET (also answers HEAD), POST, PUT, PATCH, DELETE
	path   string // http.ServeMux path pattern
	role   auth.Role
	body   int64 // request body limit; 0: DefaultMaxBody
	h      http.HandlerFunc
}

func (rt route) pattern() string { return rt.method + " " + rt.path }

// changes reports whether the method changes state: such requests with a
// session cookie need the X-CSRF-Token header.
func changes(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// table is THE role table (contract §8): every endpoint of the admin
// listener with its minimum role. The guard enforces it in front of every
// handler and TestRoleTable walks it. The gRPC control service takes its
// roles from it too (Authorize, by the REST route each RPC mirrors).
func (s *Server) table() []route {
	v, o, a, none := auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin, auth.RoleNone
	t := []route{
		{method: "GET", path: "/healthz", role: none, h: s.healthz},
		{method: "GET", path: "/readyz", role: none, h: s.readyz},
		{method: "POST", path: "/api/v1/login", role: none, body: 4 << 10, h: s.login},
		{method: "POST", path: "/api/v1/logout", role: v, h: s.logout},
		{method: "GET", path: "/api/v1/me", role: v, h: s.me},

		{method: "GET", path: "/api/v1/status", role: v, h: s.status},
		{method: "GET", path: "/api/v1/frontends", role: v, h: s.frontends},
		{method: "GET", path: "/api/v1/frontends/{name}", role: v, h: s.frontends},
		{method: "GET", path: "/api/v1/backends", role: v, h: s.backends},
		{method: "GET", path: "/api/v1/backends/{name}", role: v, h: s.backends},
		{method: "POST", path: "/api/v1/backends/{name}/servers", role: a, h: s.addServer},
		{method: "PATCH", path: "/api/v1/backends/{name}/servers/{address}", role: o, h: s.patchServer},
		{method: "DELETE", path: "/api/v1/backends/{name}/servers/{address}", role: a, h: s.removeServer},

		{method: "GET", path: "/api/v1/config", role: v, h: s.getConfig},
		{method: "PUT", path: "/api/v1/config", role: a, body: MaxConfigBody, h: s.putConfig},
		{method: "POST", path: "/api/v1/config/validate", role: a, body: MaxConfigBody, h: s.validateConfig},
		{method: "POST", path: "/api/v1/reload", role: o, h: s.reload},

		{method: "GET", path: "/api/v1/logs", role: v, h: s.logs},
		{method: "GET", path: "/api/v1/events", role: v, h: s.events},
		{method: "GET", path: "/api/v1/explain", role: v, h: s.explain},
		{method: "GET", path: "/api/v1/stream", role: v, h: s.stream},

		{method: "GET", path: "/api/v1/alerts", role: v, h: s.alerts},
		{method: "GET", path: "/api/v1/alerts/{name}", role: v, h: s.alert},
		{method: "POST", path: "/api/v1/alerts", role: a, h: s.addAlert},
		{method: "PUT", path: "/api/v1/alerts/{name}", role: a, h: s.setAlert},
		{method: "DELETE", path: "/api/v1/alerts/{name}", role: a, h: s.removeAlert},

		{method: "GET", path: "/api/v1/keys", role: a, h: s.listKeys},
		{method: "POST", path: "/api/v1/keys", role: a, h: s.createKey},
		{method: "DELETE", path: "/api/v1/keys/{id}", role: a, h: s.revokeKey},
	}
	if s.opts.Metrics != nil {
		t = append(t, route{method: "GET", path: "/metrics", role: roleMetrics, h: s.metrics})
	}
	if s.opts.Pprof {
		t = append(t,
			route{method: "GET", path: "/debug/pprof/", role: a, h: pprof.Index},
			route{method: "GET", path: "/debug/pprof/cmdline", role: a, h: pprof.Cmdline},
			route{method: "GET", path: "/debug/pprof/profile", role: a, h: pprof.Profile},
			route{method: "GET", path: "/debug/pprof/symbol", role: a, h: pprof.Symbol},
			route{method: "POST", path: "/debug/pprof/symbol", role: a, h: pprof.Symbol},
			route{method: "GET", path: "/debug/pprof/trace", role: a, h: pprof.Trace})
	}
	return t
}

// register installs the table and the fallback that answers 401 to
// anyone without a credential, else 404 or 405 (JSON).
func (s *Server) register() {
	for _, rt := range s.table() {
		s.add(rt)
	}
	s.mux.HandleFunc("/", s.fallback)
}

func (s *Server) add(rt route) {
	s.mux.HandleFunc(rt.pattern(), s.guard(rt))
	s.probe.HandleFunc(rt.pattern(), func(http.ResponseWriter, *http.Request) {})
	s.routesMu.Lock()
	s.routes = append(s.routes, rt)
	s.routesMu.Unlock()
}

// Routes returns a copy of the role table (tests, docs).
func (s *Server) Routes() []route {
	s.routesMu.Lock()
	defer s.routesMu.Unlock()
	return append([]route(nil), s.routes...)
}

func splitPattern(p string) (method, path string, ok bool) {
	method, path, ok = strings.Cut(p, " ")
	return method, strings.TrimSpace(path), ok && method != "" && strings.HasPrefix(strings.TrimSpace(path), "/")
}

// required is the minimum role of rt now.
func (s *Server) required(rt route) auth.Role {
	if rt.role == roleMetrics {
		if s.settings.Load().ProtectMetrics {
			return auth.RoleViewer
		}
		return auth.RoleNone
	}
	return rt.role
}

type ctxKey struct{}

// identityOf is the caller the guard authenticated (zero for public routes
// called without a credential).
func identityOf(r *http.Request) identity {
	id, _ := r.Context().Value(ctxKey{}).(identity)
	return id
}

// guard authenticates and authorizes a request for rt, bounds its body,
// then calls the handler. Missing or bad credentials: 401; too low a role:
// 403; a state change with a session cookie but without the matching
// X-CSRF-Token: 403.
func (s *Server) guard(rt route) http.HandlerFunc {
	limit := rt.body
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	return func(w http.ResponseWriter, r *http.Request) {
		need := s.required(rt)
		id, err := s.authenticate(r)
		if need > auth.RoleNone {
			if err != nil {
				s.unauthorized(w, r, err)
				return
			}
			if id.Role < need {
				writeError(w, http.StatusForbidden, codeForbidden,
					"this needs the "+need.String()+" role; "+id.Name+" is "+id.Role.String())
				return
			}
			if id.Via == viaSession && changes(r.Method) && !id.session.CSRFMatches(r.Header.Get(csrfHeader)) {
				writeError(w, http.StatusForbidden, codeCSRF,
					"a change made with a session cookie needs the X-CSRF-Token header from POST /api/v1/login or GET /api/v1/me")
				return
			}
		} else if err != nil {
			id = identity{} // a public route ignores a bad credential
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		rt.h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	}
}

// fallback answers paths no route matches: 401 without a valid credential
// (so that nothing but /metrics, /healthz and /readyz is open), else 405
// with Allow when another method matches, else 404. A public path asked
// with another method gets its 405 without a credential.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	public := false
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		c := r.Clone(r.Context())
		c.Method = m
		if _, p := s.probe.Handler(c); p != "" {
			allow = append(allow, m)
			public = public || s.isPublic(p)
		}
	}
	if !public {
		if _, err := s.authenticate(r); err != nil {
			s.unauthorized(w, r, err)
			return
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, codeMethod, r.Method+" is not allowed on "+r.URL.Path+": use "+strings.Join(allow, ", "))
		return
	}
	writeError(w, http.StatusNotFound, codeNotFound, "no such endpoint: "+r.URL.Path+" (see docs/api.md)")
}

// isPublic reports whether the route with pattern needs no credential now.
func (s *Server) isPublic(pattern string) bool {
	for _, rt := range s.Routes() {
		if rt.pattern() == pattern {
			return s.required(rt) == auth.RoleNone
		}
	}
	return false
}

// mkdirPrivate creates dir (0700) and checks it is a directory.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &os.PathError{Op: "mkdir", Path: dir, Err: os.ErrExist}
	}
	return nil
}
