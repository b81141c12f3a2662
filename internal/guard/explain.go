package guard

import (
	"fmt"
	"net/netip"

	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// RateCheck is one rate_limits rule's verdict on an explained request or
// connection.
type RateCheck struct {
	Rule       string
	Applies    bool   // the rule's conditions hold and it counts this request
	Allowed    bool   // admitted by it (true when it does not apply)
	RetryAfter int    // whole seconds (>= 1) when refused
	Reason     string // why it does not apply, or why it refuses
}

// Admits reports whether the access lists admit client, as AllowClient and
// AdmitConn decide, without counting a denial (the admin API's explain). A
// nil Guard admits everyone.
func (g *Guard) Admits(client netip.Addr) bool {
	return g == nil || g.list == nil || g.list.Allowed(client)
}

// ExplainRequest returns each rule's verdict on req from client as
// AllowRequest decides it — the same conditions, keys and limits, read
// without charging anything — up to the first rule that refuses, and the
// overall answer.
func (g *Guard) ExplainRequest(req *fasthttp.Request, client netip.Addr) (checks []RateCheck, ok bool, retryAfter int) {
	if g == nil {
		return nil, true, 0
	}
	now := g.now()
	for i := range g.rules {
		r := &g.rules[i]
		c := RateCheck{Rule: r.lim.Name(), Allowed: true}
		switch r.mismatch(req, client) {
		case condClientIP:
			c.Reason = "client " + addrText(client) + " is not in match.client_ip"
		case condMethod:
			c.Reason = fmt.Sprintf("method %s is not in match.methods", req.Header.Method())
		case condPath:
			c.Reason = fmt.Sprintf("path %s does not start with match.path_prefix %s", req.URI().Path(), r.prefix)
		case condHeader:
			c.Reason = fmt.Sprintf("header %s does not match", r.hdrName)
		default:
			h, counted := r.requestKey(req, client)
			if !counted {
				c.Reason = fmt.Sprintf("key header %s is absent: not counted", r.keyName)
				break
			}
			c.Applies = true
			c.Allowed, retryAfter = g.peek(r, h, now)
			if !c.Allowed {
				c.RetryAfter = retryAfter
				c.Reason = fmt.Sprintf("over its limit: retry after %ds", retryAfter)
			}
		}
		checks = append(checks, c)
		if !c.Allowed {
			return checks, false, retryAfter
		}
	}
	return checks, true, 0
}

// ExplainConn is AdmitConn read without counting or charging: the access
// lists, then the rules that can apply to a connection.
func (g *Guard) ExplainConn(client netip.Addr) (Refusal, []RateCheck) {
	if g == nil {
		return Admitted, nil
	}
	if !g.Admits(client) {
		return RefuseDenied, nil
	}
	now := g.now()
	var checks []RateCheck
	for _, r := range g.conn {
		c := RateCheck{Rule: r.lim.Name(), Allowed: true}
		if r.ip != nil && !r.ip.Allowed(client) {
			c.Reason = "client " + addrText(client) + " is not in match.client_ip"
			checks = append(checks, c)
			continue
		}
		var h uint64
		if r.key == KeyClientIP {
			h = ratelimit.HashIP(client)
		}
		c.Applies = true
		c.Allowed, c.RetryAfter = g.peek(r, h, now)
		if !c.Allowed {
			c.Reason = "over its limit"
			checks = append(checks, c)
			return RefuseRateLimit, checks
		}
		c.RetryAfter = 0
		checks = append(checks, c)
	}
	return Admitted, checks
}

func (g *Guard) peek(r *rule, h uint64, now int64) (bool, int) {
	ok, wait := r.lim.Peek(h, now)
	if ok {
		return true, 0
	}
	return false, int(ratelimit.RetryAfterSeconds(wait))
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "(none)"
	}
	return a.String()
}
