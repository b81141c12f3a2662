package admin

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/ratelimit"
)

// Credentials on the wire.
const (
	CookieName = "sluice_session"
	csrfHeader = "X-CSRF-Token"
	viaSession = "session"
	viaKey     = "key"
)

// identity is an authenticated caller.
type identity struct {
	Name    string
	Role    auth.Role
	Via     string // session | key
	KeyID   string
	token   string // the session token (logout)
	session auth.Session
}

// Why a request is not authenticated.
var (
	errNoCredential = errors.New("a credential is required: send Authorization: Bearer <API key>, or log in with POST /api/v1/login")
	errBadScheme    = errors.New("the Authorization header must be: Bearer <API key>")
	errBadSession   = errors.New("the session has expired or was ended: log in again")
	errUserGone     = errors.New("the session's user no longer exists: log in again")
)

// authenticate finds the caller: a Bearer API key first (it needs no CSRF
// token), else the session cookie. The role of a session is the user's
// role in the running configuration.
func (s *Server) authenticate(r *http.Request) (identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return identity{}, errBadScheme
		}
		if s.keys == nil {
			return identity{}, auth.ErrBadKey
		}
		k, err := s.keys.Verify(strings.TrimSpace(tok))
		if err != nil {
			if !errors.Is(err, auth.ErrBadKey) && !errors.Is(err, auth.ErrKeyExpired) {
				// keys.json unreadable: say so in the log, not to the caller.
				s.log.Error("API keys cannot be checked", "error", err.Error())
				return identity{}, auth.ErrBadKey
			}
			return identity{}, err
		}
		return identity{Name: k.Name, Role: k.Role, Via: viaKey, KeyID: k.ID}, nil
	}
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return identity{}, errNoCredential
	}
	if s.sessions == nil {
		return identity{}, errBadSession
	}
	sess, ok := s.sessions.Lookup(c.Value)
	if !ok {
		return identity{}, errBadSession
	}
	u, ok := s.settings.Load().users.Lookup(sess.User)
	if !ok {
		return identity{}, errUserGone
	}
	return identity{Name: u.Name, Role: u.Role, Via: viaSession, token: c.Value, session: sess}, nil
}

// unauthorized answers 401 for err (and clears a dead session cookie).
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	code := codeUnauthorized
	if errors.Is(err, auth.ErrKeyExpired) {
		code = codeKeyExpired
	}
	if errors.Is(err, errBadSession) || errors.Is(err, errUserGone) {
		s.clearCookie(w, r)
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
	msg := err.Error()
	switch {
	case errors.Is(err, auth.ErrBadKey):
		msg = "the API key is not valid (unknown, revoked or mistyped)"
	case errors.Is(err, auth.ErrKeyExpired):
		msg = "the API key has expired"
	}
	writeError(w, http.StatusUnauthorized, code, msg)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
		MaxAge: int(s.sessions.Lifetime() / time.Second)})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: -1})
}

// remoteAddr is the client's address (no port).
func remoteAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// actor is who is asking, for the audit log.
func actorOf(r *http.Request) audit.Actor {
	id := identityOf(r)
	a := audit.Actor{Name: id.Name, KeyID: id.KeyID, Via: id.Via, Remote: remoteAddr(r)}
	if id.Role > auth.RoleNone {
		a.Role = id.Role.String()
	}
	return a
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// check validates a decoded login body, naming the field.
func (l *loginRequest) check() error {
	switch {
	case l.Username == "":
		return badBody("field \"username\" is required")
	case l.Password == "":
		return badBody("field \"password\" is required")
	case len(l.Username) > 256:
		return badBody("field \"username\" is too long")
	case len(l.Password) > auth.MaxPasswordBytes:
		return badBody("field \"password\" is longer than %d bytes", auth.MaxPasswordBytes)
	}
	return nil
}

type loginAnswer struct {
	User      string    `json:"user"`
	Role      auth.Role `json:"role"`
	CSRFToken string    `json:"csrf_token"`
	Expires   time.Time `json:"expires"`
}

// login checks a user name and password (POST /api/v1/login) and starts a
// session. Attempts are limited per client address and per user name
// (429 with Retry-After); at most two bcrypt checks run at once.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
		writeError(w, http.StatusForbidden, codeForbidden, "a login from another origin is refused")
		return
	}
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		writeBodyError(w, err)
		return
	}
	if err := req.check(); err != nil {
		writeBodyError(w, err)
		return
	}
	remote := remoteAddr(r)
	now := ratelimit.Now()
	var ipKey uint64
	if a, err := netip.ParseAddr(remote); err == nil {
		ipKey = ratelimit.HashIP(a)
	} else {
		ipKey = ratelimit.HashBytes([]byte(remote))
	}
	ok, wait := s.byClient.Allow(ipKey, now)
	if ok {
		ok, wait = s.byUser.Allow(ratelimit.HashBytes([]byte(req.Username)), now)
	}
	actor := audit.Actor{Name: req.Username, Via: "login", Remote: remote}
	if !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(ratelimit.RetryAfterSeconds(wait), 10))
		s.audit.Write(audit.Record{Actor: actor, Action: audit.ActionLoginFailed, Result: audit.ResultRefused,
			Status: http.StatusTooManyRequests, Error: "too many login attempts"})
		writeError(w, http.StatusTooManyRequests, codeRateLimited, "too many login attempts: try again later")
		return
	}
	select {
	case s.checking <- struct{}{}:
	case <-time.After(5 * time.Second):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, codeRateLimited, "too many logins at once: try again")
		return
	case <-r.Context().Done():
		return
	}
	u, good := s.settings.Load().users.Check(req.Username, req.Password)
	<-s.checking
	if !good {
		s.audit.Write(audit.Record{Actor: actor, Action: audit.ActionLoginFailed, Result: audit.ResultRefused,
			Status: http.StatusUnauthorized, Error: "wrong user name or password"})
		w.Header().Set("WWW-Authenticate", `Bearer realm="sluice"`)
		writeError(w, http.StatusUnauthorized, codeUnauthorized, "wrong user name or password")
		return
	}
	token, sess, err := s.sessions.Create(u.Name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, codeInternal, "the session could not be stored")
		return
	}
	actor.Role = u.Role.String()
	s.audit.Write(audit.Record{Actor: actor, Action: audit.ActionLogin, Result: audit.ResultOK, Status: http.StatusOK})
	s.setCookie(w, r, token)
	writeJSON(w, http.StatusOK, loginAnswer{User: u.Name, Role: u.Role, CSRFToken: sess.CSRF, Expires: s.sessions.Expires(sess)})
}

// logout ends the caller's session (POST /api/v1/logout).
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	if id.Via != viaSession {
		writeError(w, http.StatusBadRequest, codeBadRequest, "logout ends a login session; an API key is revoked with DELETE /api/v1/keys/{id}")
		return
	}
	s.sessions.Delete(id.token)
	s.clearCookie(w, r)
	s.audit.Write(audit.Record{Actor: actorOf(r), Action: audit.ActionLogout, Result: audit.ResultOK, Status: http.StatusOK})
	writeJSON(w, http.StatusOK, map[string]bool{"logged_out": true})
}

type meAnswer struct {
	User      string     `json:"user"`
	Role      auth.Role  `json:"role"`
	Via       string     `json:"via"`
	KeyID     string     `json:"key_id,omitempty"`
	CSRFToken string     `json:"csrf_token,omitempty"`
	Expires   *time.Time `json:"expires,omitempty"`
}

// me answers who the caller is (GET /api/v1/me): the UI reads its role
// and CSRF token here after a page load.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	a := meAnswer{User: id.Name, Role: id.Role, Via: id.Via, KeyID: id.KeyID}
	if id.Via == viaSession {
		a.CSRFToken = id.session.CSRF
		exp := s.sessions.Expires(id.session)
		a.Expires = &exp
	}
	writeJSON(w, http.StatusOK, a)
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to (scheme and host:port).
func sameOrigin(origin string, r *http.Request) bool {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return strings.EqualFold(origin, scheme+r.Host)
}
