package app

import (
	"net/netip"

	"github.com/sluicelb/sluice/balance"
	"github.com/sluicelb/sluice/health"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/l7"
	"github.com/sluicelb/sluice/proxyproto"
)

// The PROXY protocol's configuration (contract §9): frontends[].proxy_protocol
// goes to l4/l7 options; servers[].send_proxy is kept on each server
// (balance.ExtSendProxy), where l4, l7 and the health checks read it;
// health.active.send_proxy chooses what probes send.

func sendProxyOf(s *config.Server) proxyproto.Version {
	v, _ := proxyproto.ParseVersion(s.SendProxy) // validated by internal/config
	return v
}

// setSendProxy records srv's version; a change closes its idle pooled http
// connections, which were opened without (or with another) header.
func setSendProxy(srv *balance.Server, v proxyproto.Version) {
	old, _ := srv.Ext(balance.ExtSendProxy).(proxyproto.Version)
	if old == v && (v != proxyproto.None || srv.Ext(balance.ExtSendProxy) != nil) {
		return
	}
	srv.SetExt(balance.ExtSendProxy, v)
	if old != v {
		l7.CloseIdle(srv)
	}
}

// Pre-encoded probe headers: they name no client (v1 UNKNOWN, v2 LOCAL).
var (
	probeV1 = proxyproto.AppendLocal(nil, proxyproto.V1)
	probeV2 = proxyproto.AppendLocal(nil, proxyproto.V2)
)

func localHeader(v proxyproto.Version) []byte {
	switch v {
	case proxyproto.V1:
		return probeV1
	case proxyproto.V2:
		return probeV2
	}
	return nil
}

// probeProxyHeader returns health.ActiveOptions.ProxyHeader for a
// health.active.send_proxy setting: auto sends the header of the server's
// send_proxy version (none when it has none), none never, v1/v2 always.
func probeProxyHeader(mode string) func(health.Target) []byte {
	switch mode {
	case config.SendProxyNone:
		return nil
	case "v1":
		return func(health.Target) []byte { return probeV1 }
	case "v2":
		return func(health.Target) []byte { return probeV2 }
	}
	return func(t health.Target) []byte {
		if s, ok := t.(*balance.Server); ok {
			v, _ := s.Ext(balance.ExtSendProxy).(proxyproto.Version)
			return localHeader(v)
		}
		return nil
	}
}

// trustedFunc is l4's test for trusted_proxies.
func trustedFunc(ps []netip.Prefix) func(netip.Addr) bool {
	if len(ps) == 0 {
		return nil
	}
	return func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range ps {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
}
