package auth

import (
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
)

// API key limits.
const (
	MaxKeys       = 1000
	maxKeyNameLen = 128
	keyPrefix     = "sluice_"
	keyIDBytes    = 8
)

// Errors of Keys.
var (
	ErrNoStateDir  = errors.New("admin.state_dir is not set: API keys need a directory to be kept in")
	ErrKeyNotFound = errors.New("no such API key")
	ErrBadKey      = errors.New("invalid API key")
	ErrKeyExpired  = errors.New("API key expired")
	ErrTooManyKeys = fmt.Errorf("at most %d API keys may exist: revoke some first", MaxKeys)
)

// KeyInfo is an API key as listed: everything but the secret.
type KeyInfo struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Created   time.Time  `json:"created"`
	Expires   *time.Time `json:"expires,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
}

// Expired reports whether the key has expired at now.
func (k KeyInfo) Expired(now time.Time) bool { return k.Expires != nil && !now.Before(*k.Expires) }

// storedKey is KeyInfo plus the SHA-256 of the secret, as kept on disk.
type storedKey struct {
	KeyInfo
	Hash string `json:"sha256"`
}

type keyFile struct {
	Keys []storedKey `json:"keys"`
}

// Keys is the API key store: state_dir/keys.json (mode 0600) holding only
// hashes, re-read when another process changed it. A key is
// "sluice_<id>_<secret>", where secret is 32 random bytes (base64url): the
// id finds the entry, the secret's SHA-256 is compared in constant time.
// Safe for concurrent use.
type Keys struct {
	dir   string
	now   func() time.Time
	mu    sync.Mutex
	byID  map[string]storedKey
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

// OpenKeys opens the store in dir (created 0700 when missing); dir "" gives
// a store that holds no keys and refuses to create any (ErrNoStateDir).
// now is the clock (nil: time.Now).
func OpenKeys(dir string, now func() time.Time) (*Keys, error) {
	if now == nil {
		now = time.Now
	}
	k := &Keys{dir: dir, now: now, byID: map[string]storedKey{}}
	if dir == "" {
		return k, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("api keys: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refresh(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keys) path() string { return filepath.Join(k.dir, "keys.json") }

// refresh re-reads keys.json when it changed on disk. Caller holds mu.
func (k *Keys) refresh() error {
	fi, err := os.Stat(k.path())
	if errors.Is(err, fs.ErrNotExist) {
		k.byID, k.stamp = map[string]storedKey{}, fileStamp{}
		return nil
	}
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	st := stampOf(fi)
	if st == k.stamp {
		return nil
	}
	b, err := os.ReadFile(k.path())
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("api keys: %s is not valid: %w", k.path(), err)
	}
	m := make(map[string]storedKey, len(f.Keys))
	for _, sk := range f.Keys {
		m[sk.ID] = sk
	}
	k.byID, k.stamp = m, st
	return nil
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// update runs fn on the current keys under an exclusive lock of the
// directory (flock on keys.lock, so the two processes of an upgrade do not
// lose each other's changes) and writes the result atomically.
func (k *Keys) update(fn func(m map[string]storedKey) error) error {
	if k.dir == "" {
		return ErrNoStateDir
	}
	lf, err := os.OpenFile(filepath.Join(k.dir, "keys.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("api keys: lock: %w", err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	if err := k.refresh(); err != nil {
		return err
	}
	m := make(map[string]storedKey, len(k.byID)+1)
	for id, sk := range k.byID {
		m[id] = sk
	}
	if err := fn(m); err != nil {
		return err
	}
	f := keyFile{Keys: make([]storedKey, 0, len(m))}
	for _, sk := range m {
		f.Keys = append(f.Keys, sk)
	}
	slices.SortFunc(f.Keys, func(a, b storedKey) int { return a.Created.Compare(b.Created) })
	b, _ := json.MarshalIndent(&f, "", "  ")
	if err := writeFileAtomic(k.path(), append(b, '\n')); err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	k.byID = m
	if fi, err := os.Stat(k.path()); err == nil {
		k.stamp = stampOf(fi)
	}
	return nil
}

// CheckKeyName validates a key name: 1..128 printable characters.
func CheckKeyName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("a name is required")
	}
	if len(name) > maxKeyNameLen {
		return fmt.Errorf("the name is longer than %d bytes", maxKeyNameLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return errors.New("the name must be printable characters")
		}
	}
	return nil
}

// Create makes a key with name and role, valid for ttl (0: until revoked),
// and returns it: the only time the secret is shown.
func (k *Keys) Create(name string, role Role, ttl time.Duration, createdBy string) (string, KeyInfo, error) {
	if err := CheckKeyName(name); err != nil {
		return "", KeyInfo{}, err
	}
	if role < RoleViewer || role > RoleAdmin {
		return "", KeyInfo{}, fmt.Errorf("unknown role %s", role)
	}
	if ttl < 0 {
		return "", KeyInfo{}, errors.New("the expiry must not be negative")
	}
	secret := newSecret()
	now := k.now().UTC().Truncate(time.Second)
	info := KeyInfo{ID: hex.EncodeToString(randomBytes(keyIDBytes)), Name: name, Role: role, Created: now, CreatedBy: createdBy}
	if ttl > 0 {
		exp := now.Add(ttl)
		info.Expires = &exp
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.update(func(m map[string]storedKey) error {
		if len(m) >= MaxKeys {
			return ErrTooManyKeys
		}
		m[info.ID] = storedKey{KeyInfo: info, Hash: digest(secret)}
		return nil
	})
	if err != nil {
		return "", KeyInfo{}, err
	}
	return keyPrefix + info.ID + "_" + secret, info, nil
}

// Revoke deletes the key with id.
func (k *Keys) Revoke(id string) (KeyInfo, error) {
	var info KeyInfo
	k.mu.Lock()
	defer k.mu.Unlock()
	err := k.update(func(m map[string]storedKey) error {
		sk, ok := m[id]
		if !ok {
			return ErrKeyNotFound
		}
		info = sk.KeyInfo
		delete(m, id)
		return nil
	})
	return info, err
}

// List returns every key, oldest first (expired ones too, until revoked).
func (k *Keys) List() ([]KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dir != "" {
		if err := k.refresh(); err != nil {
			return nil, err
		}
	}
	out := make([]KeyInfo, 0, len(k.byID))
	for _, sk := range k.byID {
		out = append(out, sk.KeyInfo)
	}
	slices.SortFunc(out, func(a, b KeyInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Len is the number of keys (expired ones included).
func (k *Keys) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dir != "" {
		_ = k.refresh()
	}
	return len(k.byID)
}

// Verify checks a presented key: ErrBadKey when it is malformed, unknown or
// wrong, ErrKeyExpired when it is right but expired.
func (k *Keys) Verify(token string) (KeyInfo, error) {
	id, secret, ok := splitKey(token)
	if !ok {
		return KeyInfo{}, ErrBadKey
	}
	k.mu.Lock()
	if k.dir != "" {
		if err := k.refresh(); err != nil {
			k.mu.Unlock()
			return KeyInfo{}, err
		}
	}
	sk, found := k.byID[id]
	k.mu.Unlock()
	want := sk.Hash
	if !found {
		want = strings.Repeat("0", 64)
	}
	if subtle.ConstantTimeCompare([]byte(digest(secret)), []byte(want)) != 1 || !found {
		return KeyInfo{}, ErrBadKey
	}
	if sk.Expired(k.now()) {
		return sk.KeyInfo, ErrKeyExpired
	}
	return sk.KeyInfo, nil
}

// splitKey parses "sluice_<16 hex>_<43 base64url>".
func splitKey(token string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(token, keyPrefix)
	if !ok || len(rest) != 2*keyIDBytes+1+43 || rest[2*keyIDBytes] != '_' {
		return "", "", false
	}
	return rest[:2*keyIDBytes], rest[2*keyIDBytes+1:], true
}
