package config

import (
	"crypto/tls"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// admin checks the admin block beyond its listen addresses (validate.go
// checks those against the frontends).
func (v *validator) admin(a *Admin) {
	if a.m.bad {
		return
	}
	if t := &a.TLS; !t.m.bad {
		tp := "admin.tls"
		switch {
		case t.Cert == "" && t.Key == "":
		case t.Cert == "":
			v.at(&t.m, "cert", tp, "a certificate file is required with a key")
		case t.Key == "":
			v.at(&t.m, "key", tp, "a key file is required with a certificate")
		default:
			if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
				v.at(&t.m, "cert", tp, "cannot load certificate %s with key %s: %v", t.Cert, t.Key, err)
			}
		}
	}
	seen := map[string]int{}
	for i := range a.Users {
		u := &a.Users[i]
		up := fmt.Sprintf("admin.users[%d]", i)
		if u.m.bad {
			continue
		}
		switch {
		case u.Name == "":
			v.at(&u.m, "name", up, "a user needs a name")
		case !validUserName(u.Name):
			v.at(&u.m, "name", up, "invalid user name %q: use letters, digits, '.', '_', '-' and '@' (at most %d)", u.Name, maxNameLen)
		default:
			if j, dup := seen[u.Name]; dup {
				v.at(&u.m, "name", up, "duplicate user %q (also users[%d])", u.Name, j)
			} else {
				seen[u.Name] = i
			}
		}
		if u.PasswordHash == "" {
			v.at(&u.m, "password_hash", up, "a password hash is required: create one with `sluice hash-password`")
		} else if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			// The message never repeats the value: it is a secret.
			v.at(&u.m, "password_hash", up, "not a bcrypt hash: create one with `sluice hash-password`")
		}
		if u.Role == "" {
			v.at(&u.m, "role", up, "a role is required: viewer, operator or admin")
		} else {
			v.oneOf(&u.m, "role", up, u.Role, RoleViewer, RoleOperator, RoleAdmin)
		}
	}
}

// validUserName allows what validName does plus '@' (e-mail style names).
func validUserName(s string) bool {
	return s != "" && validName(strings.ReplaceAll(s, "@", "_"))
}
