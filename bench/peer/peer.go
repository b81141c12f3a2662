// Package peer owns the proxies that sluice-bench compares: for sluice, HAProxy, nginx and
// Caddy it writes an equivalent configuration (round robin over the same backends,
// keep-alive to backends, access logs off, one worker), checks it with the proxy's own
// validator, starts the proxy pinned to a CPU and reads its memory use.
package peer

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Setup is what every peer is configured with. Ports are 127.0.0.1 addresses.
type Setup struct {
	HTTPListen   string   // the L7 frontend
	TCPListen    string   // the L4 frontend ("" = no L4)
	AdminListen  string   // sluice's admin listener
	GRPCListen   string   // sluice's gRPC control service (admin.grpc_listen; only the API peers use it)
	HTTPBackends []string // HTTP servers, balanced round robin
	TCPBackends  []string // TCP echo servers, balanced round robin
	MaxConns     int      // connection limit per frontend (>= the idle-connection scenario + headroom)
	// TLSListen is the TLS-terminating L7 frontend ("" = none): the same
	// backends as HTTPListen, certificate TLSCert/TLSKey (TLSCombined: both
	// in one PEM file) for TLSName, TLS 1.2 and 1.3, ALPN http/1.1,
	// session tickets on.
	TLSListen                    string
	TLSCert, TLSKey, TLSCombined string
	FDLimit                      int // open-file limit the proxies inherit (0 = this process's soft limit); caps fd-based settings
}

// Peer is one proxy under test. Generate writes its config files into dir and returns the
// main file; Command returns the command that runs it in the foreground with that file.
type Peer struct {
	Name     string // "sluice", "haproxy", "nginx", "caddy"
	Binary   string // program name looked up in PATH (sluice: a path)
	L4       bool   // supports the TCP scenarios
	TLS      bool   // is configured with a TLS frontend for the TLS scenarios
	Install  string // how to install it, for the "skipped" line
	Generate func(dir string, s Setup) (string, error)
	Command  func(bin, dir, cfg string) *exec.Cmd
	Validate func(bin, dir, cfg string) *exec.Cmd // nil: no validator
	Version  func(bin string) *exec.Cmd
	Scratch  []string // runtime files and directories it leaves in its config dir (see Tidy)
	API      *API     // sluice with admin-API clients attached (sluice+streamN, sluice+watchN); nil otherwise
}

// Tidy removes p's runtime leftovers (Scratch) and empty files from dir, so that dir
// holds only the config and the logs that say something.
func (p *Peer) Tidy(dir string) error {
	for _, s := range p.Scratch {
		if err := os.RemoveAll(filepath.Join(dir, s)); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// All returns the known peers in their fixed run order, sluice first.
// sluicePath is the sluice binary to benchmark. sluice-rl (sluice with
// rate-limit rules) runs only when --peers names it.
func All(sluicePath string) []*Peer {
	return []*Peer{Sluice(sluicePath), SluiceRateLimited(sluicePath), SluiceRateLimitedRedis(sluicePath), HAProxy(), Nginx(), Caddy()}
}

// Select returns the peers that names ask for, in the fixed run order of All with the
// API peers (sluice+streamN, sluice+watchN, in the order named) after the other sluice
// variants; an unknown name is an error naming the known ones.
func Select(sluicePath string, names []string) ([]*Peer, error) {
	all := All(sluicePath)
	var api []*Peer
	for _, n := range names {
		if slices.ContainsFunc(all, func(p *Peer) bool { return p.Name == n }) {
			continue
		}
		p, err := SluiceAPI(sluicePath, n)
		if err != nil {
			known := make([]string, len(all))
			for i, p := range all {
				known[i] = p.Name
			}
			return nil, fmt.Errorf("--peers %q: want some of %s, sluice+streamN, sluice+streamN-nologs, sluice+watchN", n, strings.Join(known, ","))
		}
		if !slices.ContainsFunc(api, func(q *Peer) bool { return q.Name == p.Name }) {
			api = append(api, p)
		}
	}
	var out []*Peer
	for _, p := range all {
		if slices.Contains(names, p.Name) {
			out = append(out, p)
		}
		if p.Name == "sluice-rl-redis" {
			out = append(out, api...)
		}
	}
	return out, nil
}

// Lookup returns the peer's binary path, or an error that says how to install it.
func (p *Peer) Lookup() (string, error) {
	if strings.ContainsRune(p.Binary, '/') {
		if fi, err := os.Stat(p.Binary); err != nil || fi.IsDir() {
			return "", fmt.Errorf("%s not found at %s (%s)", p.Name, p.Binary, p.Install)
		}
		return filepath.Abs(p.Binary)
	}
	path, err := exec.LookPath(p.Binary)
	if err != nil {
		return "", fmt.Errorf("%s is not installed (%s)", p.Name, p.Install)
	}
	return path, nil
}

// fdLimit is s.FDLimit or its default.
func (s Setup) fdLimit() int {
	if s.FDLimit <= 0 {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
			return 1024
		}
		return int(rl.Cur)
	}
	return s.FDLimit
}

func writeFile(dir, name, content string) (string, error) {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// DepsHint is the install line printed for missing peers.
const DepsHint = "install with `make bench-deps` (apt-get install -y haproxy nginx libnginx-mod-stream caddy wrk)"
