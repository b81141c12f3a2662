package admin

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"

	"github.com/sluicelb/sluice/internal/audit"
	"github.com/sluicelb/sluice/internal/auth"
	"github.com/sluicelb/sluice/internal/state"
)

// Authorize checks an API key (the gRPC `authorization` metadata) for the
// REST route pattern an RPC mirrors, against THE role table and the same
// key store as the REST API: 401 for a missing, unknown, revoked or
// expired key, 403 for too low a role (with the same messages as REST).
// It is the gRPC control service's Auth.
func (s *Server) Authorize(token, pattern string) (state.Actor, int, error) {
	var rt *route
	for _, x := range s.Routes() {
		if x.pattern() == pattern {
			rt = &x
			break
		}
	}
	if rt == nil {
		return state.Actor{}, http.StatusForbidden, errors.New("no admin API route " + pattern + " to take a role from")
	}
	need := s.required(*rt)
	if token == "" {
		return state.Actor{}, http.StatusUnauthorized, errors.New("an API key is required: send the authorization metadata \"Bearer <API key>\"")
	}
	if s.keys == nil {
		return state.Actor{}, http.StatusUnauthorized, errors.New("the API key is not valid (unknown, revoked or mistyped)")
	}
	k, err := s.keys.Verify(token)
	switch {
	case errors.Is(err, auth.ErrKeyExpired):
		return state.Actor{}, http.StatusUnauthorized, errors.New("the API key has expired")
	case err != nil:
		if !errors.Is(err, auth.ErrBadKey) {
			s.log.Error("API keys cannot be checked", "error", err.Error())
		}
		return state.Actor{}, http.StatusUnauthorized, errors.New("the API key is not valid (unknown, revoked or mistyped)")
	case k.Role < need:
		return state.Actor{}, http.StatusForbidden, errors.New("this needs the " + need.String() + " role; " + k.Name + " is " + k.Role.String())
	}
	return state.Actor{Name: k.Name, Role: k.Role.String(), Via: "grpc"}, 0, nil
}

// Audit writes a change made over gRPC to the audit log, as the REST API
// writes its own.
func (s *Server) Audit(actor state.Actor, action, target string, req map[string]any, res state.Result, err error) {
	remote := actor.Remote
	if h, _, e := net.SplitHostPort(remote); e == nil {
		remote = h
	}
	rec := audit.Record{Actor: audit.Actor{Name: actor.Name, Role: actor.Role, Via: "grpc", Remote: remote},
		Action: action, Target: target, Request: req, Result: audit.ResultOK, Status: http.StatusOK}
	if err != nil {
		rec.Result, rec.Error, rec.Status = audit.ResultRefused, err.Error(), http.StatusUnprocessableEntity
	} else {
		rec.Changes, rec.ChecksumAfter, rec.Persisted = res.Changes, res.Checksum, res.Persisted
	}
	s.audit.Write(rec)
}

// TLSConfig is the admin listener's TLS configuration (admin.tls), whose
// certificate follows reloads, for the gRPC control service to serve with
// the same certificate; nil when the admin listener serves plain HTTP.
// Valid after Start.
func (s *Server) TLSConfig() *tls.Config {
	if !s.tlsOn {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil }}
}
