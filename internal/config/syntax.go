package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkHostPort checks "host:port" and returns a message, or "" when fine.
// The port must be 1..65535. The host must be an IP literal or a DNS name;
// it may be empty (all interfaces) only when needHost is false.
func checkHostPort(s string, needHost bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "invalid address " + strconv.Quote(s) + ": want host:port, like 127.0.0.1:8080 or [::1]:8080"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return "invalid port in " + strconv.Quote(s) + ": want 1..65535"
	}
	switch {
	case host == "":
		if needHost {
			return "missing host in " + strconv.Quote(s)
		}
	case strings.Contains(host, ":") || strings.Contains(host, "%"):
		if _, err := netip.ParseAddr(host); err != nil {
			return "invalid IP address " + strconv.Quote(host) + " in " + strconv.Quote(s)
		}
	default:
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return "invalid host " + strconv.Quote(host) + " in " + strconv.Quote(s)
		}
	}
	return ""
}

// validHostname reports whether s is a DNS name: dot-separated labels of
// letters, digits and '-' (not at a label's ends), 1..63 bytes each, at most
// 253 bytes, optionally with a trailing dot. A name of digits and dots only
// is rejected (it is a malformed IP address).
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	allDigits := true
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= '0' && c <= '9':
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
				allDigits = false
			default:
				return false
			}
		}
	}
	return !allDigits
}

// validHostPattern accepts a host name or "*." followed by a host name.
func validHostPattern(s string) bool {
	if rest, ok := strings.CutPrefix(s, "*."); ok {
		return validHostname(rest) && !strings.HasSuffix(rest, ".")
	}
	return validHostname(s) && !strings.HasSuffix(s, ".")
}

// validToken reports whether s is an RFC 9110 token (header names, methods).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue rejects control characters other than tab (no CR, LF or
// NUL can be injected into a message).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validPath rejects spaces and control characters in a path.
func validPath(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validName accepts frontend, backend, route and rate limit names.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' {
			continue
		}
		return false
	}
	return true
}

// IsSRVName reports whether a server address is an SRV name
// ("_service._proto.name", no port): two leading labels that start with
// '_', then a host name.
func IsSRVName(s string) bool {
	svc, rest, ok := strings.Cut(s, ".")
	if !ok || len(svc) < 2 || svc[0] != '_' {
		return false
	}
	proto, name, ok := strings.Cut(rest, ".")
	if !ok || len(proto) < 2 || proto[0] != '_' {
		return false
	}
	return validHostname(svc[1:]+"."+proto[1:]) && validHostname(name)
}

// ResolverAddr parses a resolvers entry: an IP address with an optional
// port (default 53).
func ResolverAddr(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("invalid DNS server %q: want an IP address with an optional port, like 127.0.0.1:53 or [::1]:53", s)
	}
	return ap, nil
}
