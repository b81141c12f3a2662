package l7

import "github.com/sluicelb/sluice/balance"

// CloseIdle closes the pooled idle connections to s, for a server that was
// drained after a reload removed it. Requests in flight are not affected.
func CloseIdle(s *balance.Server) {
	if u, ok := s.Ext(balance.ExtL7).(*upstream); ok {
		u.hc.CloseIdleConnections()
	}
}
