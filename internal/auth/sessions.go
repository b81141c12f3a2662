package auth

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Session defaults.
const (
	DefaultSessionIdle     = time.Hour      // no request for this long ends a session
	DefaultSessionLifetime = 12 * time.Hour // a session ends this long after login, used or not
	DefaultMaxSessions     = 10000          // the least recently used goes first beyond it
	touchEvery             = time.Minute    // LastSeen is written to disk at most this often
)

// SessionOptions configures NewSessions; zero values mean the defaults.
type SessionOptions struct {
	// Dir keeps one file per session (named by the SHA-256 of its token,
	// mode 0600), so that sessions survive a restart or binary upgrade.
	// "" keeps them in memory only.
	Dir      string
	Idle     time.Duration
	Lifetime time.Duration
	Max      int
	// Now is the clock (tests); default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Session is one login. The token itself is never stored.
type Session struct {
	User     string    `json:"user"`
	CSRF     string    `json:"csrf"` // the X-CSRF-Token the holder must send with changes
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
}

// CSRFMatches compares a presented X-CSRF-Token in constant time.
func (s Session) CSRFMatches(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// Sessions is the server-side session table, bounded by Max. Safe for
// concurrent use.
type Sessions struct {
	o   SessionOptions
	log *slog.Logger
	mu  sync.Mutex
	m   map[string]*sessEntry // by digest of the token
}

type sessEntry struct {
	Session
	saved time.Time // LastSeen as last written to disk
}

// NewSessions creates the table and loads the sessions kept in o.Dir
// (creating it), dropping expired ones.
func NewSessions(o SessionOptions) (*Sessions, error) {
	if o.Idle <= 0 {
		o.Idle = DefaultSessionIdle
	}
	if o.Lifetime <= 0 {
		o.Lifetime = DefaultSessionLifetime
	}
	if o.Max <= 0 {
		o.Max = DefaultMaxSessions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Sessions{o: o, log: o.Logger, m: map[string]*sessEntry{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if o.Dir == "" {
		return s, nil
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	now := o.Now()
	for _, de := range ents {
		d, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || !isDigest(d) {
			continue
		}
		if e := s.load(d); e != nil {
			if s.expired(e, now) {
				s.remove(d)
				continue
			}
			s.m[d] = e
		}
	}
	for len(s.m) > o.Max {
		s.evictOldest()
	}
	return s, nil
}

// Idle and Lifetime are the effective expiries.
func (s *Sessions) Idle() time.Duration     { return s.o.Idle }
func (s *Sessions) Lifetime() time.Duration { return s.o.Lifetime }

// Expires is when sess ends if it is not used again.
func (s *Sessions) Expires(sess Session) time.Time {
	a, b := sess.LastSeen.Add(s.o.Idle), sess.Created.Add(s.o.Lifetime)
	if b.Before(a) {
		return b
	}
	return a
}

// Create starts a session for user and returns its token (32 random bytes,
// base64url): the cookie value, shown only to the client.
func (s *Sessions) Create(user string) (string, Session, error) {
	token := newSecret()
	now := s.o.Now()
	e := &sessEntry{Session: Session{User: user, CSRF: newSecret(), Created: now, LastSeen: now}}
	d := digest(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.o.Max {
		for k, x := range s.m {
			if s.expired(x, now) {
				delete(s.m, k)
				s.remove(k)
			}
		}
		for len(s.m) >= s.o.Max {
			s.evictOldest()
		}
	}
	if err := s.save(d, e); err != nil {
		return "", Session{}, err
	}
	s.m[d] = e
	return token, e.Session, nil
}

// Lookup returns the live session of token and marks it used. It is false
// for an unknown, expired or logged-out token (also one logged out by
// another process sharing Dir).
func (s *Sessions) Lookup(token string) (Session, bool) {
	if token == "" || len(token) > 256 {
		return Session{}, false
	}
	d := digest(token)
	now := s.o.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[d]
	if s.o.Dir != "" {
		if e == nil { // created by another process (the other side of an upgrade)
			if e = s.load(d); e != nil {
				s.m[d] = e
			}
		} else if _, err := os.Stat(s.file(d)); errors.Is(err, fs.ErrNotExist) {
			delete(s.m, d) // logged out by another process
			return Session{}, false
		}
	}
	if e == nil {
		return Session{}, false
	}
	if s.expired(e, now) {
		delete(s.m, d)
		s.remove(d)
		return Session{}, false
	}
	e.LastSeen = now
	if now.Sub(e.saved) >= touchEvery {
		_ = s.save(d, e)
	}
	return e.Session, true
}

// Delete ends the session of token (logout).
func (s *Sessions) Delete(token string) {
	d := digest(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, d)
	s.remove(d)
}

// Len is the number of sessions held (expired ones included until seen).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

func (s *Sessions) expired(e *sessEntry, now time.Time) bool {
	return !now.Before(s.Expires(e.Session))
}

func (s *Sessions) evictOldest() {
	var old string
	var at time.Time
	for k, x := range s.m {
		if old == "" || x.LastSeen.Before(at) {
			old, at = k, x.LastSeen
		}
	}
	delete(s.m, old)
	s.remove(old)
}

func (s *Sessions) file(d string) string { return filepath.Join(s.o.Dir, d+".json") }

func (s *Sessions) save(d string, e *sessEntry) error {
	if s.o.Dir == "" {
		e.saved = e.LastSeen
		return nil
	}
	b, _ := json.Marshal(&e.Session)
	if err := writeFileAtomic(s.file(d), b); err != nil {
		s.log.Error("session not saved", "dir", s.o.Dir, "error", err.Error())
		return fmt.Errorf("sessions: %w", err)
	}
	e.saved = e.LastSeen
	return nil
}

func (s *Sessions) load(d string) *sessEntry {
	if s.o.Dir == "" {
		return nil
	}
	b, err := os.ReadFile(s.file(d))
	if err != nil {
		return nil
	}
	var e sessEntry
	if err := json.Unmarshal(b, &e.Session); err != nil || e.User == "" || e.CSRF == "" {
		s.log.Warn("ignoring an unreadable session file", "file", s.file(d))
		return nil
	}
	e.saved = e.LastSeen
	return &e
}

func (s *Sessions) remove(d string) {
	if s.o.Dir != "" {
		_ = os.Remove(s.file(d))
	}
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory (mode 0600 from os.CreateTemp, fsynced) and a rename, so a reader never sees half a
// file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
