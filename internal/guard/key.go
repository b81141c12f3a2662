package guard

import (
	"strconv"
	"strings"
)

// Key selects what a rate-limit rule counts separately (rate_limits[].key).
// The zero Key is KeyClientIP.
type Key uint8

const (
	// KeyClientIP keeps one limit per client address (after trusted proxies
	// for http). An IPv4 address and its IPv4-mapped IPv6 form share a limit.
	KeyClientIP Key = iota
	// KeyFrontend keeps one limit for all clients of the frontend together.
	KeyFrontend
	// KeyHeader keeps one limit per value of the request header named by
	// RuleOptions.Header (http only). A request without the header, or with
	// an empty value, is not counted by the rule.
	KeyHeader
)

// String returns the configuration spelling of k ("client_ip", "frontend",
// "header"); for KeyHeader the header name is not included.
func (k Key) String() string {
	switch k {
	case KeyClientIP:
		return "client_ip"
	case KeyFrontend:
		return "frontend"
	case KeyHeader:
		return "header"
	}
	return "Key(" + strconv.Itoa(int(k)) + ")"
}

// isToken reports whether s is a non-empty RFC 9110 token (header field
// names and methods are tokens).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
