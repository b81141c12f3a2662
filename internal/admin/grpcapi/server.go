// Package grpcapi serves the gRPC control service sluice.v1.Control
// (api/sluice/v1, contract §8) on admin.grpc_listen: the operations of the
// admin REST API over a state.Control, and a server-streaming Watch of
// stats and events.
//
// Every call is authenticated and authorized by the admin API's own
// credential store and role table through [Auth]: each RPC is mapped to
// the REST route it mirrors (methods table), so a role that may not PATCH a
// server over REST may not UpdateServer over gRPC either, and there is no
// second table to keep in step. The API key travels in the `authorization`
// metadata ("Bearer <key>").
//
// The package imports grpc; the data path packages never do (imports
// point down: cmd → internal/app → internal/admin/grpcapi → leaves).
package grpcapi

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	sluicev1 "github.com/sluicelb/sluice/api/sluice/v1"
	"github.com/sluicelb/sluice/internal/state"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Auth is what the service needs from the admin API (internal/admin
// implements it over its key store and role table).
type Auth interface {
	// Authorize checks the bearer token for the REST route pattern the
	// call mirrors ("PATCH /api/v1/backends/{name}/servers/{address}")
	// and returns who is calling. A missing or bad token answers
	// http.StatusUnauthorized, too low a role http.StatusForbidden (with
	// an error saying why); 0 means allowed.
	Authorize(token, pattern string) (actor state.Actor, httpStatus int, err error)
	// Audit records a change made through the service as the REST API
	// records its own: who, the action (the audit log's names:
	// patch_server, add_server, remove_server, put_config, reload), its
	// target (backends/web/servers/10.0.0.1:80, config), the fields asked
	// for, and the outcome.
	Audit(actor state.Actor, action, target string, req map[string]any, res state.Result, err error)
}

// Options configure a Server.
type Options struct {
	Control state.Control
	Auth    Auth
	// TLS, when set, serves over TLS (admin.tls; GetCertificate lets a
	// reload change the certificate).
	TLS *tls.Config
	// Logger; nil discards.
	Logger *slog.Logger
	// WatchBuffer is the subscription buffer of one Watch; default 256.
	WatchBuffer int
}

// Server is the gRPC control service.
type Server struct {
	sluicev1.UnimplementedControlServer
	o   Options
	srv *grpc.Server
}

// New returns a Server; Serve starts it.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.WatchBuffer <= 0 {
		o.WatchBuffer = 256
	}
	s := &Server{o: o}
	opts := []grpc.ServerOption{
		grpc.UnaryInterceptor(s.unary),
		grpc.StreamInterceptor(s.stream),
		grpc.MaxRecvMsgSize(8 << 20), // a configuration text (PutConfig, Validate)
		grpc.MaxConcurrentStreams(256),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ConnectionTimeout(10 * time.Second),
	}
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	s.srv = grpc.NewServer(opts...)
	sluicev1.RegisterControlServer(s.srv, s)
	return s
}

// Serve serves ln until Stop; it returns nil after Stop.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// Stop ends every Watch, waits for unary calls in progress until ctx is
// done, then closes everything.
func (s *Server) Stop(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.srv.Stop()
		<-done
	}
}

// methods maps each RPC to the REST route whose role it takes (THE role
// table is the admin API's).
var methods = map[string]string{
	"Status":        "GET /api/v1/status",
	"ListFrontends": "GET /api/v1/frontends",
	"ListBackends":  "GET /api/v1/backends",
	"ListServers":   "GET /api/v1/backends",
	"GetBackend":    "GET /api/v1/backends/{name}",
	"UpdateServer":  "PATCH /api/v1/backends/{name}/servers/{address}",
	"AddServer":     "POST /api/v1/backends/{name}/servers",
	"RemoveServer":  "DELETE /api/v1/backends/{name}/servers/{address}",
	"GetConfig":     "GET /api/v1/config",
	"PutConfig":     "PUT /api/v1/config",
	"Validate":      "POST /api/v1/config/validate",
	"Reload":        "POST /api/v1/reload",
	"Explain":       "GET /api/v1/explain",
	"ListEvents":    "GET /api/v1/events",
	"ListAlerts":    "GET /api/v1/alerts",
	"Watch":         "GET /api/v1/stream",
}

// Pattern returns the REST route pattern whose role the RPC named method
// ("UpdateServer") takes; ok is false for an unknown method.
func Pattern(method string) (pattern string, ok bool) {
	pattern, ok = methods[method]
	return
}

// Methods lists the RPC names (tests walk them).
func Methods() []string {
	out := make([]string, 0, len(methods))
	for m := range methods {
		out = append(out, m)
	}
	return out
}

type actorKey struct{}

func actorOf(ctx context.Context) state.Actor {
	a, _ := ctx.Value(actorKey{}).(state.Actor)
	return a
}

// authorize checks the call's credential for fullMethod
// ("/sluice.v1.Control/UpdateServer").
func (s *Server) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	name := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	pattern, ok := methods[name]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", fullMethod)
	}
	if s.o.Auth == nil {
		return nil, status.Error(codes.Unavailable, "the control service has no credential store")
	}
	var token string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			token = v[0]
			if len(token) > 7 && strings.EqualFold(token[:7], "bearer ") {
				token = strings.TrimSpace(token[7:])
			}
		}
	}
	actor, code, err := s.o.Auth.Authorize(token, pattern)
	switch {
	case code == http.StatusUnauthorized || (code == 0 && err != nil):
		return nil, status.Error(codes.Unauthenticated, errText(err, "an API key is required in the authorization metadata"))
	case code == http.StatusForbidden:
		return nil, status.Error(codes.PermissionDenied, errText(err, "your role may not call "+name))
	case code != 0:
		return nil, status.Error(codes.Unavailable, errText(err, "authorization failed"))
	}
	actor.Via = "grpc"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		actor.Remote = p.Addr.String()
	}
	return context.WithValue(ctx, actorKey{}, actor), nil
}

func errText(err error, def string) string {
	if err != nil {
		return err.Error()
	}
	return def
}

func (s *Server) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := s.authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (s *Server) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := s.authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (a *authedStream) Context() context.Context { return a.ctx }

// changeErr maps a Control.Change error to a gRPC status.
func changeErr(err error) error {
	var inv *state.InvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, state.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, state.ErrConflict):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, state.ErrReadOnly):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	if strings.Contains(err.Error(), "shutting down") {
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
