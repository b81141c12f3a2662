package admin

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/state"
)

// Query limits.
const (
	defaultLogLimit   = 100
	maxLogLimit       = 10000
	defaultEventLimit = 1000
)

// control returns the running process, or answers 503 without one.
func (s *Server) control(w http.ResponseWriter) (state.Control, bool) {
	if s.opts.Control == nil {
		writeError(w, http.StatusServiceUnavailable, codeNotAvailable, "the API is not available yet: the process is starting")
		return nil, false
	}
	return s.opts.Control, true
}

// repeatable names query parameters that may be given more than once.
var repeatable = map[string]bool{"header": true}

// query returns r's query parameters, refusing unknown and repeated ones
// (a typo would otherwise silently match everything).
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badBody("invalid query string: %v", err)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		found := false
		for _, a := range allowed {
			found = found || k == a
		}
		switch {
		case !found && len(allowed) == 0:
			return nil, badBody("unknown query parameter %q: this endpoint takes none", k)
		case !found:
			return nil, badBody("unknown query parameter %q: want %s", k, strings.Join(allowed, ", "))
		case len(q[k]) > 1 && !repeatable[k]:
			return nil, badBody("query parameter %q is given %d times", k, len(q[k]))
		}
	}
	return q, nil
}

// intParam parses an optional integer parameter within [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badBody("query parameter %q: want a whole number from %d to %d, got %q", name, lo, hi, s)
	}
	return n, nil
}

// boolParam parses an optional true/false parameter.
func boolParam(q url.Values, name string) (bool, error) {
	switch s := q.Get(name); s {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, badBody("query parameter %q: want true or false, got %q", name, s)
	}
}

// begin checks a read request's query parameters (allowed names only) and
// that the process can answer; on failure it has answered.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, allowed ...string) (state.Control, url.Values, bool) {
	q, err := query(r, allowed...)
	if err != nil {
		writeBodyError(w, err)
		return nil, nil, false
	}
	c, ok := s.control(w)
	return c, q, ok
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r)
	if !ok {
		return
	}
	v := viewStatus(c.Snapshot(), c.Stats(), s.opts.Now())
	v.ShuttingDown, v.Streams = s.stopping.Load(), s.streams.Load()
	writeJSON(w, http.StatusOK, v)
}

// views answers the list of items ({"<key>": [...]}) or, when the request
// names one ({name}), that item or 404.
func views[T, V any](s *Server, w http.ResponseWriter, r *http.Request, key, what string,
	items func(*state.Snapshot) []T, name func(*T) string, view func(*T, *state.Stats) V) {
	c, _, ok := s.begin(w, r)
	if !ok {
		return
	}
	all, st := items(c.Snapshot()), c.Stats()
	if want := r.PathValue("name"); want != "" {
		for i := range all {
			if name(&all[i]) == want {
				writeJSON(w, http.StatusOK, view(&all[i], st))
				return
			}
		}
		writeError(w, http.StatusNotFound, codeNotFound, "no "+what+" named "+strconv.Quote(want))
		return
	}
	out := make([]V, 0, len(all))
	for i := range all {
		out = append(out, view(&all[i], st))
	}
	writeJSON(w, http.StatusOK, map[string]any{key: out})
}

// frontends answers GET /api/v1/frontends and /api/v1/frontends/{name}.
func (s *Server) frontends(w http.ResponseWriter, r *http.Request) {
	views(s, w, r, "frontends", "frontend", func(sn *state.Snapshot) []state.Frontend { return sn.Frontends },
		func(f *state.Frontend) string { return f.Name }, viewFrontend)
}

// backends answers GET /api/v1/backends and /api/v1/backends/{name}.
func (s *Server) backends(w http.ResponseWriter, r *http.Request) {
	one := r.PathValue("name") != ""
	hr, _ := s.opts.Control.(state.HistoryReader)
	views(s, w, r, "backends", "backend", func(sn *state.Snapshot) []state.Backend { return sn.Backends },
		func(b *state.Backend) string { return b.Name },
		func(b *state.Backend, st *state.Stats) backendView {
			v := viewBackend(b, st)
			if one && hr != nil { // the one-backend view carries each server's health history
				for j := range v.Servers {
					v.Servers[j].History = hr.History(b.Name, v.Servers[j].Address)
				}
			}
			return v
		})
}

// passwordHashValue finds the value of every password_hash key, in block
// and flow style, quoted or not.
var passwordHashValue = regexp.MustCompile(`(password_hash\s*:[ \t]*)("(?:[^"\\\n]|\\.)*"|'(?:[^'\n]|'')*'|[^\s,}#]+)`)

// redactSecrets replaces the password hashes in a configuration text: a
// viewer or operator reads everything but secrets.
func redactSecrets(text []byte) []byte {
	return passwordHashValue.ReplaceAll(text, []byte(`${1}"<redacted>"`))
}

// getConfig answers the running configuration text as written in the file
// (before ${VAR} expansion), application/yaml, with its checksum as ETag
// (PUT takes it back in If-Match). Password hashes are shown to admins only.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.begin(w, r)
	if !ok {
		return
	}
	snap := c.Snapshot()
	text := snap.Text
	if identityOf(r).Role < auth.RoleAdmin {
		text = redactSecrets(text)
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("ETag", strconv.Quote(snap.Checksum))
	h.Set("X-Config-File", snap.ConfigFile)
	w.Write(text)
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "frontend", "backend", "status", "client_ip", "q", "limit")
	if err != nil {
		writeBodyError(w, err)
		return
	}
	f := state.LogFilter{Frontend: q.Get("frontend"), Backend: q.Get("backend"), Status: q.Get("status"),
		ClientIP: q.Get("client_ip"), Q: q.Get("q")}
	if f.Limit, err = intParam(q, "limit", defaultLogLimit, 1, maxLogLimit); err != nil {
		writeBodyError(w, err)
		return
	}
	if _, err := state.CompileLogFilter(f); err != nil {
		writeError(w, http.StatusBadRequest, codeBadRequest, "query parameter "+err.Error())
		return
	}
	c, ok := s.control(w)
	if !ok {
		return
	}
	entries := c.Logs(f)
	if entries == nil {
		entries = []state.LogEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "after", "limit")
	if err != nil {
		writeBodyError(w, err)
		return
	}
	var after uint64
	if a := q.Get("after"); a != "" {
		if after, err = strconv.ParseUint(a, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, codeBadRequest, "query parameter \"after\": want an event id, got "+strconv.Quote(a))
			return
		}
	}
	limit, err := intParam(q, "limit", defaultEventLimit, 1, 100000)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	c, ok := s.control(w)
	if !ok {
		return
	}
	evs := c.Events(after, limit)
	if evs == nil {
		evs = []state.Event{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": evs})
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q, err := query(r, "frontend", "method", "host", "path", "client_ip", "sni", "header")
	if err != nil {
		writeBodyError(w, err)
		return
	}
	eq := state.ExplainQuery{Frontend: q.Get("frontend"), Method: q.Get("method"), Host: q.Get("host"),
		Path: q.Get("path"), ClientIP: q.Get("client_ip"), SNI: q.Get("sni")}
	if eq.Headers, err = explainHeaders(q["header"]); err != nil {
		writeBodyError(w, err)
		return
	}
	switch {
	case eq.Frontend == "":
		err = badBody("query parameter \"frontend\" is required")
	case eq.Path != "" && !strings.HasPrefix(eq.Path, "/"):
		err = badBody("query parameter \"path\" must start with /, got %q", eq.Path)
	case eq.Method != "" && !isToken(eq.Method):
		err = badBody("query parameter \"method\": %q is not an HTTP method", eq.Method)
	case eq.ClientIP != "":
		if _, perr := netip.ParseAddr(eq.ClientIP); perr != nil {
			err = badBody("query parameter \"client_ip\": want an address like 10.0.0.7, got %q", eq.ClientIP)
		}
	}
	if err != nil {
		writeBodyError(w, err)
		return
	}
	c, ok := s.control(w)
	if !ok {
		return
	}
	ex, err := c.Explain(eq)
	switch {
	case errors.Is(err, state.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, err.Error())
		return
	case err != nil: // the query cannot be explained (a bad address, method or path)
		writeError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ex)
}

// maxExplainHeaders bounds the header parameters of one explain query.
const maxExplainHeaders = 32

// explainHeaders parses repeated header=Name:value parameters (e.g.
// header=X-Forwarded-For:203.0.113.7) into ExplainQuery.Headers.
func explainHeaders(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	if len(vals) > maxExplainHeaders {
		return nil, badBody("query parameter \"header\": at most %d", maxExplainHeaders)
	}
	h := make(map[string]string, len(vals))
	for _, v := range vals {
		name, value, ok := strings.Cut(v, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !isToken(name) || strings.ContainsAny(value, "\r\n\x00") {
			return nil, badBody("query parameter \"header\": want Name:value like X-Forwarded-For:203.0.113.7, got %q", v)
		}
		h[http.CanonicalHeaderKey(name)] = value
	}
	return h, nil
}

// isToken reports whether s is an RFC 9110 token (a method name).
func isToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
