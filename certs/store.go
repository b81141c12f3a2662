package certs

import (
	"crypto/tls"
	"strings"
)

// Store chooses a certificate for a ClientHello's server name: the
// certificate naming it exactly, else one whose "*.suffix" covers it (one
// label, as RFC 6125 §6.4.3 says), else the first certificate (the
// default, also for clients that send no SNI). It is immutable once built
// and safe for concurrent use.
type Store struct {
	exact map[string]*tls.Certificate
	wild  map[string]*tls.Certificate // ".example.com" → certificate of "*.example.com"
	pairs []*Pair
}

// NewStore builds a Store over pairs, in order; an earlier pair wins a name
// two pairs share. An empty Store selects nothing.
func NewStore(pairs []*Pair) *Store {
	s := &Store{exact: map[string]*tls.Certificate{}, wild: map[string]*tls.Certificate{}, pairs: pairs}
	for _, p := range pairs {
		for _, n := range p.Names {
			if suffix, ok := strings.CutPrefix(n, "*"); ok && strings.HasPrefix(suffix, ".") {
				if s.wild[suffix] == nil {
					s.wild[suffix] = p.Cert
				}
			} else if s.exact[n] == nil {
				s.exact[n] = p.Cert
			}
		}
	}
	return s
}

// Pairs returns the pairs the Store was built from (do not modify).
func (s *Store) Pairs() []*Pair { return s.pairs }

// Len returns the number of certificates.
func (s *Store) Len() int { return len(s.pairs) }

// Match returns the certificate naming serverName exactly or by a wildcard,
// or nil. serverName is compared case-insensitively; a trailing dot is
// ignored.
func (s *Store) Match(serverName string) *tls.Certificate {
	if s == nil || serverName == "" {
		return nil
	}
	name := strings.TrimSuffix(lower(serverName), ".")
	if c := s.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c := s.wild[name[i:]]; c != nil {
			return c
		}
	}
	return nil
}

// Select returns Match(serverName), or the default (first) certificate,
// or nil when the Store is empty.
func (s *Store) Select(serverName string) *tls.Certificate {
	if c := s.Match(serverName); c != nil {
		return c
	}
	if s == nil || len(s.pairs) == 0 {
		return nil
	}
	return s.pairs[0].Cert
}

// lower returns s in ASCII lower case, allocating only when s has an upper
// case letter.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
