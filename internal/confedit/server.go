package confedit

import (
	"encoding/json"
	"strconv"

	"github.com/sluicelb/sluice/internal/state"
)

// The typed edits the admin API makes (contract §8). Servers are named by
// backend name and address as written in the file (the same IP:port
// written differently also matches).

// BackendPath is the path of a backend: backends[name=web].
func BackendPath(backend string) string { return "backends[name=" + quoteSel(backend) + "]" }

// ServerPath is the path of a server: backends[name=web].servers[address=10.0.0.1:80].
func ServerPath(backend, address string) string {
	return BackendPath(backend) + ".servers[address=" + quoteSel(address) + "]"
}

// SetServer returns the edits that set a server's weight, enabled and
// drain; nil leaves a field as it is. A key the file does not have is
// written only when the value differs from its default (weight 1,
// enabled true, drain false), next to the server's other keys.
func SetServer(backend, address string, weight *int, enabled, drain *bool) []Edit {
	p := ServerPath(backend, address)
	var out []Edit
	if weight != nil {
		out = append(out, Edit{Op: OpSet, Path: p + ".weight", Value: jsonInt(*weight), Default: json.RawMessage("1")})
	}
	if enabled != nil {
		out = append(out, Edit{Op: OpSet, Path: p + ".enabled", Value: jsonBool(*enabled), Default: json.RawMessage("true")})
	}
	if drain != nil {
		out = append(out, Edit{Op: OpSet, Path: p + ".drain", Value: jsonBool(*drain), Default: json.RawMessage("false")})
	}
	return out
}

// AddServer returns the edit that appends a server to a backend's servers
// (creating the list when the backend has none). Address is required (an
// empty one is refused by config validation); nil fields are left out, and
// so are enabled: true and drain: false, which are the defaults. An address
// already in the backend fails with ErrExists.
func AddServer(backend string, s state.ServerSpec) []Edit {
	v := `{"address":` + jsonQuote(s.Address)
	if s.Weight != nil {
		v += `,"weight":` + strconv.Itoa(*s.Weight)
	}
	if s.Enabled != nil && !*s.Enabled {
		v += `,"enabled":false`
	}
	if s.Drain != nil && *s.Drain {
		v += `,"drain":true`
	}
	v += "}"
	return []Edit{{Op: OpAppend, Path: BackendPath(backend) + ".servers", Value: json.RawMessage(v), Unique: "address"}}
}

// RemoveServer returns the edit that removes a server from a backend.
func RemoveServer(backend, address string) []Edit {
	return []Edit{{Op: OpRemove, Path: ServerPath(backend, address)}}
}

func jsonInt(n int) json.RawMessage { return json.RawMessage(strconv.Itoa(n)) }
func jsonBool(b bool) json.RawMessage {
	return json.RawMessage(strconv.FormatBool(b))
}
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
