package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// PasswordCost is the bcrypt cost of HashPassword (2^12 rounds, about a
// quarter of a second on one core: slow enough against guessing, fast
// enough for a login).
const PasswordCost = 12

// hashCost is PasswordCost; tests under the race detector (where cost 12
// takes seconds) lower it and check the constant instead.
var hashCost = PasswordCost

// MaxPasswordBytes is bcrypt's limit; longer passwords are refused rather
// than silently truncated.
const MaxPasswordBytes = 72

// HashPassword returns the bcrypt hash of password for admin.users.
func HashPassword(password []byte) (string, error) {
	if len(password) == 0 {
		return "", errors.New("the password is empty")
	}
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("the password is longer than %d bytes, bcrypt's limit", MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword(password, hashCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// UserSpec is one configured user (admin.users), already validated.
type UserSpec struct {
	Name         string
	PasswordHash string
	Role         Role
}

// User is a user as the API sees it (never the hash).
type User struct {
	Name string `json:"user"`
	Role Role   `json:"role"`
}

// Users is an immutable set of users built from the configuration. Check
// is safe for concurrent use.
type Users struct {
	byName map[string]UserSpec
	cost   int // of the first hash, for the stand-in hash of unknown names
}

// NewUsers builds the set; a hash that is not bcrypt is an error naming the
// user (the configuration validates them first).
func NewUsers(specs []UserSpec) (*Users, error) {
	u := &Users{byName: make(map[string]UserSpec, len(specs)), cost: PasswordCost}
	for i, s := range specs {
		c, err := bcrypt.Cost([]byte(s.PasswordHash))
		if err != nil {
			return nil, fmt.Errorf("user %q: the password hash is not a bcrypt hash", s.Name)
		}
		if i == 0 {
			u.cost = c
		}
		u.byName[s.Name] = s
	}
	return u, nil
}

// Len is the number of users.
func (u *Users) Len() int {
	if u == nil {
		return 0
	}
	return len(u.byName)
}

// Lookup returns the user called name, for a session whose role is read
// from the running configuration at every request.
func (u *Users) Lookup(name string) (User, bool) {
	if u == nil {
		return User{}, false
	}
	s, ok := u.byName[name]
	return User{Name: s.Name, Role: s.Role}, ok
}

// Check verifies a name and password. An unknown name costs the same bcrypt
// work as a known one, so that timing does not tell which names exist.
func (u *Users) Check(name, password string) (User, bool) {
	if u.Len() == 0 {
		return User{}, false // no names to protect from enumeration
	}
	s, ok := u.byName[name]
	hash := []byte(s.PasswordHash)
	if !ok {
		hash = standIn(u.cost)
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	// Both conditions are evaluated whatever the first one is.
	if subtle.ConstantTimeEq(b2i(ok), 1)&subtle.ConstantTimeEq(b2i(match), 1) != 1 {
		return User{}, false
	}
	return User{Name: s.Name, Role: s.Role}, true
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

var standIns sync.Map // cost → []byte

// standIn returns a bcrypt hash of a random password at cost, made once.
func standIn(cost int) []byte {
	if h, ok := standIns.Load(cost); ok {
		return h.([]byte)
	}
	h, err := bcrypt.GenerateFromPassword(randomBytes(16), cost)
	if err != nil {
		h, _ = bcrypt.GenerateFromPassword(randomBytes(16), bcrypt.DefaultCost)
	}
	standIns.Store(cost, h)
	return h
}
