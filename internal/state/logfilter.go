package state

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrShuttingDown is returned by Control.Change once a graceful stop has
// begun (the API answers 503).
var ErrShuttingDown = errors.New("shutting down")

// LogMatcher is a compiled LogFilter: the one place the §8 log filter rule
// lives (GET /api/v1/logs, the stream's "logs" subscription, Control.Logs).
// It is immutable and safe for concurrent use.
type LogMatcher struct {
	f      LogFilter
	status int // exact status, or 0
	class  int // 1..5 for "1xx".."5xx", or 0
	ip     netip.Prefix
	hasIP  bool
}

// CompileLogFilter checks f and compiles it. Status is a code ("503") or a
// class ("5xx"); ClientIP is an address ("10.0.0.7") or a CIDR
// ("10.0.0.0/8"); Q matches a substring of the path or the host; Frontend
// and Backend match exactly. An error names the field.
func CompileLogFilter(f LogFilter) (*LogMatcher, error) {
	m := &LogMatcher{f: f}
	if s := f.Status; s != "" {
		switch {
		case len(s) != 3 || s[0] < '1' || s[0] > '5':
			return nil, fmt.Errorf("status: want a code like 503 or a class like 5xx, got %q", s)
		case strings.EqualFold(s[1:], "xx"):
			m.class = int(s[0] - '0')
		default:
			n, err := strconv.Atoi(s)
			if err != nil || s[1] < '0' || s[1] > '9' {
				return nil, fmt.Errorf("status: want a code like 503 or a class like 5xx, got %q", s)
			}
			m.status = n
		}
	}
	if s := f.ClientIP; s != "" {
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("client_ip: want an address or a CIDR like 10.0.0.0/8, got %q", s)
			}
			m.ip = p.Masked()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("client_ip: want an address or a CIDR like 10.0.0.0/8, got %q", s)
			}
			m.ip = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if m.ip.Addr().Is4In6() {
			m.ip = netip.PrefixFrom(m.ip.Addr().Unmap(), max(m.ip.Bits()-96, 0))
		}
		m.hasIP = true
	}
	return m, nil
}

// Filter returns the filter m was compiled from.
func (m *LogMatcher) Filter() LogFilter { return m.f }

// Match reports whether e passes every condition of the filter.
func (m *LogMatcher) Match(e *LogEntry) bool {
	var client netip.Addr
	if m.hasIP {
		a, err := netip.ParseAddr(e.ClientIP)
		if err != nil {
			return false
		}
		client = a
	}
	return m.MatchFields(e.Frontend, e.Backend, e.Mode == "tcp", e.Status, client, []byte(e.Host), []byte(e.Path))
}

// MatchFields is Match on an entry's fields, for a store that keeps them
// in its own form (the access-log ring's fixed-size slots): tcp marks a TCP
// session (no status: a status condition excludes it). It allocates
// nothing.
func (m *LogMatcher) MatchFields(frontend, backend string, tcp bool, status int, client netip.Addr, host, path []byte) bool {
	f := &m.f
	if f.Frontend != "" && frontend != f.Frontend || f.Backend != "" && backend != f.Backend {
		return false
	}
	if (m.status != 0 || m.class != 0) && tcp {
		return false
	}
	if m.status != 0 && status != m.status || m.class != 0 && status/100 != m.class {
		return false
	}
	if m.hasIP && !m.ip.Contains(client.Unmap()) {
		return false
	}
	if f.Q != "" && !containsString(path, f.Q) && !containsString(host, f.Q) {
		return false
	}
	return true
}

// containsString reports whether b contains s, without allocating.
func containsString(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}
