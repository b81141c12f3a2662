package certs

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Ticket key defaults: a new key encrypts tickets every hour, and the last
// 24 still decrypt them, so a client resumes within a day and a stolen
// key opens at most an hour of new tickets.
const (
	DefaultTicketRotation = time.Hour
	DefaultTicketKeep     = 24
)

// TicketKeys are the session ticket keys of every TLS frontend of the
// process (one set, so a client resumes on any of them). Rotate makes a new
// encryption key and drops the oldest; Attach/Detach add and remove the
// *tls.Config each key set is installed on. With a File the keys are
// written there (mode 0600) at every change and read back at start, so a
// restart or a binary upgrade keeps resumption working. Safe for
// concurrent use.
type TicketKeys struct {
	mu    sync.Mutex
	keys  []ticketKey // newest first
	every time.Duration
	keep  int
	file  string
	cfgs  map[*tls.Config]struct{}
}

type ticketKey struct {
	created time.Time
	key     [32]byte
}

// TicketOptions configure TicketKeys; zero fields take the defaults.
type TicketOptions struct {
	Rotation time.Duration // DefaultTicketRotation
	Keep     int           // DefaultTicketKeep
	// File, if set, persists the keys (state_dir/tls-ticket-keys).
	File string
}

const ticketMagic = "SLUICETK1\n"

// NewTicketKeys returns the key set, read from o.File when it holds keys
// young enough to keep, and rotated at now when the newest is due. An
// unreadable or malformed file is an error (the caller may log it and
// start without the file: NewTicketKeys(TicketOptions{...File: ""})).
func NewTicketKeys(o TicketOptions, now time.Time) (*TicketKeys, error) {
	if o.Rotation <= 0 {
		o.Rotation = DefaultTicketRotation
	}
	if o.Keep <= 0 {
		o.Keep = DefaultTicketKeep
	}
	t := &TicketKeys{every: o.Rotation, keep: o.Keep, file: o.File, cfgs: map[*tls.Config]struct{}{}}
	var ferr error
	if o.File != "" {
		data, err := os.ReadFile(o.File)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			ferr = fmt.Errorf("%s: %w", o.File, err)
		default:
			if t.keys, err = decodeTicketKeys(data); err != nil {
				ferr = fmt.Errorf("%s: %w", o.File, err)
			}
		}
	}
	if _, err := t.Rotate(now); err != nil && ferr == nil {
		ferr = err
	}
	return t, ferr
}

// Attach installs the current keys on cfg and keeps it updated at every
// rotation until Detach.
func (t *TicketKeys) Attach(cfg *tls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cfgs[cfg] = struct{}{}
	cfg.SetSessionTicketKeys(t.rawLocked())
}

// Detach stops updating cfg.
func (t *TicketKeys) Detach(cfg *tls.Config) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.cfgs, cfg)
}

// Rotate adds a new encryption key when the newest is at least Rotation
// old (or there is none), drops keys older than Keep rotations, installs
// the set on every attached config and writes the file. It reports whether
// a key was added; an error is about the file only (the keys in memory are
// rotated anyway).
func (t *TicketKeys) Rotate(now time.Time) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.keys) > 0 && now.Sub(t.keys[0].created) < t.every {
		return false, nil
	}
	var k ticketKey
	k.created = now
	if _, err := rand.Read(k.key[:]); err != nil {
		return false, err
	}
	t.keys = append([]ticketKey{k}, t.keys...)
	oldest := now.Add(-time.Duration(t.keep) * t.every)
	n := 0
	for _, k := range t.keys {
		if n < t.keep && k.created.After(oldest) {
			t.keys[n] = k
			n++
		}
	}
	t.keys = t.keys[:n]
	raw := t.rawLocked()
	for cfg := range t.cfgs {
		cfg.SetSessionTicketKeys(raw)
	}
	return true, t.saveLocked()
}

// Len returns the number of keys kept.
func (t *TicketKeys) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}

// Rotation returns the rotation interval.
func (t *TicketKeys) Rotation() time.Duration { return t.every }

func (t *TicketKeys) rawLocked() [][32]byte {
	raw := make([][32]byte, len(t.keys))
	for i, k := range t.keys {
		raw[i] = k.key
	}
	return raw
}

func (t *TicketKeys) saveLocked() error {
	if t.file == "" {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(ticketMagic)
	for _, k := range t.keys {
		_ = binary.Write(&b, binary.BigEndian, k.created.UnixNano())
		b.Write(k.key[:])
	}
	return writeFileAtomic(t.file, b.Bytes(), 0o600)
}

func decodeTicketKeys(data []byte) ([]ticketKey, error) {
	rest, ok := bytes.CutPrefix(data, []byte(ticketMagic))
	if !ok || len(rest)%40 != 0 {
		return nil, errors.New("not a sluice ticket key file")
	}
	keys := make([]ticketKey, 0, len(rest)/40)
	for ; len(rest) > 0; rest = rest[40:] {
		var k ticketKey
		k.created = time.Unix(0, int64(binary.BigEndian.Uint64(rest)))
		copy(k.key[:], rest[8:40])
		keys = append(keys, k)
	}
	return keys, nil
}

// writeFileAtomic writes data to a temporary file beside name and renames
// it over name, so a reader never sees half a file.
func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// Secret returns 32 random bytes kept in file (created with mode 0600 when
// absent), or fresh random bytes when file is "" (they last as long as the
// process). Sticky-session cookies are keyed with it.
func Secret(file string) ([32]byte, error) {
	var s [32]byte
	if file != "" {
		if data, err := os.ReadFile(file); err == nil && len(data) == 32 {
			copy(s[:], data)
			return s, nil
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			_, _ = rand.Read(s[:])
			return s, fmt.Errorf("%s: %w", file, err)
		}
	}
	if _, err := rand.Read(s[:]); err != nil {
		return s, err
	}
	if file != "" {
		if err := writeFileAtomic(file, s[:], 0o600); err != nil {
			return s, fmt.Errorf("%s: %w", file, err)
		}
	}
	return s, nil
}
