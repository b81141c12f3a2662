package guard

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluicelb/sluice/acl"
	"github.com/sluicelb/sluice/ratelimit"
	"github.com/valyala/fasthttp"
)

// rule is one compiled rate_limits entry. Immutable after compileRule.
type rule struct {
	lim     *ratelimit.Rule
	key     Key
	keyName []byte // header name for KeyHeader
	limited Counter

	ip         *acl.List // nil: no client_ip condition
	prefix     []byte    // nil: no path_prefix condition
	hasMethods bool      // a methods condition is set
	methods    uint16    // bits of the known methods listed (methodBit)
	other      [][]byte  // listed extension methods, compared exactly
	hdrName    []byte    // nil: no header condition
	hdrValue   []byte    // empty: any non-empty value
	httpOnly   bool      // a key or condition that only a request can satisfy
}

// compileRule checks o and builds its rule; errors do not name the rule
// (New adds the name).
func compileRule(o *RuleOptions) (*rule, error) {
	r := &rule{key: o.Key, limited: o.Limited}
	switch o.Key {
	case KeyClientIP, KeyFrontend:
	case KeyHeader:
		if !isToken(o.Header) {
			return nil, fmt.Errorf("key header:NAME needs a header field name, got %q", o.Header)
		}
		r.keyName = []byte(o.Header)
		r.httpOnly = true
	default:
		return nil, fmt.Errorf("unknown key %v", o.Key)
	}
	var err error
	r.lim, err = ratelimit.NewRule(ratelimit.RuleOptions{
		Name: o.Name, Rate: o.Rate, Burst: o.Burst,
		Keyed: o.Key != KeyFrontend, MaxKeys: o.MaxKeys,
		Shared: o.Shared, ID: o.SharedID,
	})
	if err != nil {
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // ratelimit names the rule too; New does it once
		}
		return nil, err
	}
	if len(o.MatchClientIP) > 0 {
		if r.ip, err = acl.New(o.MatchClientIP, nil); err != nil {
			return nil, fmt.Errorf("match.client_ip: %w", err)
		}
	}
	if o.MatchPathPrefix != "" {
		if o.MatchPathPrefix[0] != '/' {
			return nil, fmt.Errorf("match.path_prefix must start with '/', got %q", o.MatchPathPrefix)
		}
		r.prefix = []byte(o.MatchPathPrefix)
		r.httpOnly = true
	}
	if err := r.compileMethods(o.MatchMethods); err != nil {
		return nil, err
	}
	if o.MatchHeader != "" {
		if !isToken(o.MatchHeader) {
			return nil, fmt.Errorf("match.header.name is not a header field name: %q", o.MatchHeader)
		}
		r.hdrName = []byte(o.MatchHeader)
		r.hdrValue = []byte(o.MatchHeaderValue)
		r.httpOnly = true
	} else if o.MatchHeaderValue != "" {
		return nil, errors.New("match.header.value is set without match.header.name")
	}
	return r, nil
}

// compileMethods turns the methods condition into a bit set over the known
// methods (listed in any case) plus exact extension methods.
func (r *rule) compileMethods(ms []string) error {
	if len(ms) == 0 {
		return nil
	}
	r.hasMethods, r.httpOnly = true, true
	for i, m := range ms {
		if b := methodBit([]byte(strings.ToUpper(m))); b != 0 {
			r.methods |= b
			continue
		}
		if !isToken(m) {
			return fmt.Errorf("match.methods[%d] is not a method: %q", i, m)
		}
		r.other = append(r.other, []byte(m))
	}
	return nil
}

// methodBit maps the standard methods (RFC 9110 section 9 plus PATCH) to one
// bit each, and anything else to 0. Methods are case-sensitive on the wire.
// The string(m) switch does not allocate.
func methodBit(m []byte) uint16 {
	switch string(m) {
	case fasthttp.MethodGet:
		return 1 << 0
	case fasthttp.MethodHead:
		return 1 << 1
	case fasthttp.MethodPost:
		return 1 << 2
	case fasthttp.MethodPut:
		return 1 << 3
	case fasthttp.MethodPatch:
		return 1 << 4
	case fasthttp.MethodDelete:
		return 1 << 5
	case fasthttp.MethodConnect:
		return 1 << 6
	case fasthttp.MethodOptions:
		return 1 << 7
	case fasthttp.MethodTrace:
		return 1 << 8
	}
	return 0
}

// matchMethod reports whether the request method m is listed.
func (r *rule) matchMethod(m []byte) bool {
	if b := methodBit(m); b != 0 {
		return r.methods&b != 0
	}
	for _, o := range r.other {
		if bytes.Equal(o, m) {
			return true
		}
	}
	return false
}

// matchRequest reports whether every condition of r holds for req from
// client. Cheapest conditions first; allocation-free.
func (r *rule) matchRequest(req *fasthttp.Request, client netip.Addr) bool {
	return r.mismatch(req, client) == condAll
}

// Conditions of a rule, as mismatch names the first that fails.
const (
	condAll = iota // every condition holds
	condClientIP
	condMethod
	condPath
	condHeader
)

// mismatch returns the first condition of r that req from client fails,
// or condAll. It is matchRequest's one rule (explain reads it too).
func (r *rule) mismatch(req *fasthttp.Request, client netip.Addr) int {
	if r.ip != nil && !r.ip.Allowed(client) {
		return condClientIP
	}
	if r.hasMethods && !r.matchMethod(req.Header.Method()) {
		return condMethod
	}
	if r.prefix != nil && !bytes.HasPrefix(req.URI().Path(), r.prefix) {
		return condPath
	}
	if r.hdrName != nil {
		v := req.Header.PeekBytes(r.hdrName)
		if len(v) == 0 || len(r.hdrValue) > 0 && !bytes.Equal(v, r.hdrValue) {
			return condHeader
		}
	}
	return condAll
}

// requestKey returns the key hash of req for r; ok is false when the rule
// does not count the request (header key absent or empty).
func (r *rule) requestKey(req *fasthttp.Request, client netip.Addr) (h uint64, ok bool) {
	switch r.key {
	case KeyClientIP:
		return ratelimit.HashIP(client), true
	case KeyHeader:
		v := req.Header.PeekBytes(r.keyName)
		if len(v) == 0 {
			return 0, false
		}
		return ratelimit.HashBytes(v), true
	}
	return 0, true // KeyFrontend: one shared limit, the hash is ignored
}
