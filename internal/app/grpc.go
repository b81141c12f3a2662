package app

import (
	"context"
	"errors"

	"github.com/sluicelb/sluice/internal/admin/grpcapi"
	"github.com/sluicelb/sluice/internal/config"
)

// startGRPC serves the gRPC control service on admin.grpc_listen (nothing
// when it is empty), with the admin listener's TLS and its API keys and
// role table. The listener is inherited across a binary upgrade like the
// others (ListenerFiles). Called from Start after the admin server
// started.
func (a *App) startGRPC(cfg *config.Config) error {
	addr := cfg.Admin.GRPCListen
	if addr == "" {
		return nil
	}
	ln, err := a.listen("admin.grpc_listen", addr)
	if err != nil {
		return err
	}
	a.grpcLn, a.grpcAddr = ln, addr
	a.grpc = grpcapi.New(grpcapi.Options{Control: a.ctl, Auth: a.admin, TLS: a.admin.TLSConfig(),
		Logger: a.log.With("component", "grpc")})
	go func() {
		if err := a.grpc.Serve(ln); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("gRPC control service stopped", "listen", addr, "error", err.Error())
		}
	}()
	a.log.Info("gRPC control service", "listen", addr, "tls", a.admin.TLSConfig() != nil)
	return nil
}

// stopGRPC ends the gRPC service (Watch streams end, calls in progress
// finish until ctx is done).
func (a *App) stopGRPC(ctx context.Context) {
	if a.grpc != nil {
		a.grpc.Stop(ctx)
	}
}
