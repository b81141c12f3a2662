package l7

import (
	"context"

	"github.com/sluicelb/sluice/balance"
)

// CloseIdle closes the pooled idle connections to s, for a server that was
// drained after a reload removed it. Requests in flight are not affected.
// The event loops close theirs asynchronously.
func CloseIdle(s *balance.Server) {
	if u, ok := s.Ext(balance.ExtL7).(*upstream); ok {
		closePools(u)
	}
}

// closePools closes u's idle connections on every event loop (each loop
// does its own, soon after).
func closePools(u *upstream) {
	loopsByEL.Range(func(_, v any) bool {
		l := v.(*rloop)
		_ = l.el.Execute(context.Background(), loopTask(func() {
			if bp := l.pools[u]; bp != nil {
				bp.closeIdle()
				delete(l.pools, u)
			}
		}))
		return true
	})
}
