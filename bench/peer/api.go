package peer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// API says which admin-API clients the harness attaches to an API peer for the whole
// time its process runs (every measurement window included).
type API struct {
	Kind     string   // "stream" (WebSocket /api/v1/stream) or "watch" (gRPC Control/Watch)
	N        int      // clients
	Topics   []string // stream topics: stats, events, logs (the UI with its logs view open); -nologs: stats, events
	User     string   // the admin user in the generated config
	Password string   // its password (random per run); its bcrypt hash comes from `sluice hash-password`
}

// MaxAPIClients bounds N in sluice+streamN and sluice+watchN.
const MaxAPIClients = 1000

// SluiceAPI is plain sluice plus an admin user (its hash made by the binary's own
// `sluice hash-password`), admin.state_dir for API keys and admin.grpc_listen; the
// harness logs in, creates a viewer API key and attaches the clients the name asks for:
// "sluice+streamN" N WebSocket stream clients subscribed to stats, events and logs (as
// the web UI with its logs view open), "sluice+streamN-nologs" to stats and events only
// (the UI's dashboard), "sluice+watchN" N gRPC Watch clients (as `sluice ctl watch`); N
// defaults to 1. Beside "sluice" in one run it shows what the attached API costs the data path
// (issues 20 and 22). Opt-in: --peers sluice,sluice+stream10,sluice+watch1.
func SluiceAPI(path, name string) (*Peer, error) {
	rest, ok := strings.CutPrefix(name, "sluice+")
	if !ok {
		return nil, fmt.Errorf("%q is not sluice+streamN or sluice+watchN", name)
	}
	var kind string
	for _, k := range []string{"stream", "watch"} {
		if r, ok := strings.CutPrefix(rest, k); ok {
			kind, rest = k, r
			break
		}
	}
	topics := []string{"stats", "events", "logs"}
	if r, ok := strings.CutSuffix(rest, "-nologs"); ok && kind == "stream" {
		rest, topics = r, []string{"stats", "events"}
	}
	n := 1
	if kind != "" && rest != "" {
		var err error
		if n, err = strconv.Atoi(rest); err != nil || n < 1 || n > MaxAPIClients || strconv.Itoa(n) != rest {
			kind = ""
		}
	}
	if kind == "" {
		return nil, fmt.Errorf("%q is not sluice+streamN or sluice+watchN (N from 1 to %d)", name, MaxAPIClients)
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	p := Sluice(path)
	p.Name = name
	p.API = &API{Kind: kind, N: n, User: "bench", Password: hex.EncodeToString(pw[:])}
	if kind == "stream" {
		p.API.Topics = topics
	}
	p.Scratch = []string{"state"}
	p.Generate = func(dir string, s Setup) (string, error) {
		if s.GRPCListen == "" {
			return "", fmt.Errorf("%s: no gRPC listen address in the setup", name)
		}
		hash, err := hashPassword(path, p.API.Password)
		if err != nil {
			return "", err
		}
		state := filepath.Join(dir, "state")
		if err := os.RemoveAll(state); err != nil { // no keys left from an earlier run
			return "", err
		}
		admin := fmt.Sprintf("  grpc_listen: %s\n  state_dir: %s\n  users:\n    - {name: %s, password_hash: %q, role: admin}\n",
			s.GRPCListen, state, p.API.User, hash)
		return sluiceYAMLAdmin(dir, s, admin, "")
	}
	return p, nil
}

// hashPassword runs `sluice hash-password` with password on its standard input, the way
// docs/api.md tells operators to make admin.users entries.
func hashPassword(bin, password string) (string, error) {
	abs, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(abs, "hash-password")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("%s hash-password: %v %s", abs, err, stderr)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$2") {
		return "", fmt.Errorf("%s hash-password printed %q, not a bcrypt hash", abs, hash)
	}
	return hash, nil
}
