package auth

import "fmt"

// Role is what a credential may do; a higher role may do everything a lower
// one may. The zero value RoleNone is "no credential" (public routes).
type Role uint8

// Roles, lowest first (contract §8).
const (
	RoleNone     Role = iota // no credential needed
	RoleViewer               // reads everything but secrets
	RoleOperator             // + drain/undrain, weights, enable/disable, reload
	RoleAdmin                // + config changes, servers added/removed, users, API keys, alert rules
)

var roleNames = [...]string{RoleNone: "none", RoleViewer: "viewer", RoleOperator: "operator", RoleAdmin: "admin"}

// String returns the role's name as the configuration and the API spell it.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// ParseRole parses viewer, operator or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "viewer":
		return RoleViewer, nil
	case "operator":
		return RoleOperator, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("unknown role %q: want viewer, operator or admin", s)
}

// MarshalText makes a Role its name in JSON.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a role name (JSON).
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
