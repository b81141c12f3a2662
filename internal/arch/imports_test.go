package arch

import (
	"slices"
	"strings"
	"testing"
)

// Layers, from the top: a package imports only packages of lower layers
// (leaves may also import other leaves). Every package not named here is a
// leaf: a new package starts at the bottom and may import only leaves.
const (
	layerLeaf   = iota + 1
	layerConfig // internal/config: the configuration types, imported from above only
	layerEdge   // the proxies and the packages only internal/app and cmd use
	layerApp
	layerCmd
)

// edge packages sit between internal/app and the leaves: they import
// leaves, not one another; the configuration tooling (configTools) also
// imports internal/config.
var edge = []string{"l4", "l7", "internal/admin", "internal/guard", "internal/confedit", "internal/confdiff"}

// configTools work on configuration text and values (the text writer, the
// semantic diff): beside internal/app and the commands, the only importers
// of internal/config.
var configTools = []string{"internal/confedit", "internal/confdiff"}

func layerOf(p string) int {
	switch {
	case p == "cmd" || strings.HasPrefix(p, "cmd/") || strings.HasPrefix(p, "tools/"):
		return layerCmd // the sluice binary and the build tools (tools/mkimage)
	case p == "internal/app":
		return layerApp
	case p == "internal/config":
		return layerConfig
	case slices.Contains(edge, p):
		return layerEdge
	}
	return layerLeaf
}

func isBench(p string) bool { return p == "bench" || strings.HasPrefix(p, "bench/") }

var layerName = map[int]string{layerLeaf: "a leaf", layerConfig: "internal/config", layerEdge: "an edge package",
	layerApp: "internal/app", layerCmd: "a command"}

// banned lists what a package must not depend on, directly or through its
// imports (module paths relative, others as go list prints them).
var banned = map[string][]string{
	"balance": {"net/http", "github.com/valyala/fasthttp", "github.com/panjf2000/gnet/v2",
		"health", "internal/config", "internal/metrics", "github.com/VictoriaMetrics/metrics"},
	"health": {"balance", "l4", "l7", "engine", "internal/config"},
	"engine": {"l4", "l7", "balance", "health", "internal/config"},
	"l4":     {"l7", "internal/config", "internal/app"},
	"l7":     {"l4", "internal/config", "internal/app"},
}

// TestImportDirection enforces the package graph of docs/architecture.md:
// cmd → internal/app → l4, l7, internal/admin, internal/guard,
// internal/confedit, internal/confdiff → internal/config → leaves (balance,
// health, engine, gate, ratelimit, acl, internal/metrics,
// internal/accesslog, internal/state, …). Only cmd imports internal/app,
// only internal/app, cmd and the configuration tooling import
// internal/config,
// nothing imports cmd, tools or bench, and bench imports only bench and
// leaves. Commands (cmd/..., tools/...) are the top layer.
func TestImportDirection(t *testing.T) {
	pkgs := listPackages(t)
	for _, name := range []string{"cmd/sluice", "internal/app", "l4", "l7", "balance", "health", "engine"} {
		if pkgs[name] == nil {
			t.Fatalf("package %s not found: does this test still describe the repository?", name)
		}
	}
	for name, p := range pkgs {
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := rel(imp)
			switch {
			case isBench(name):
				if !isBench(to) && layerOf(to) != layerLeaf {
					t.Errorf("%s imports %s: bench drives the binary from outside and imports only bench and leaves", name, to)
				}
				continue
			case isBench(to) || layerOf(to) == layerCmd:
				t.Errorf("%s imports %s: nothing imports cmd, tools or bench", name, to)
				continue
			case to == "internal/app" && !strings.HasPrefix(name, "cmd/"):
				t.Errorf("%s imports internal/app: only cmd does", name)
				continue
			case to == "internal/config" && layerOf(name) < layerApp && !slices.Contains(configTools, name):
				t.Errorf("%s imports internal/config: only internal/app, the commands and %s do; packages below take option structs",
					name, strings.Join(configTools, ", "))
				continue
			}
			from, down := layerOf(name), layerOf(to)
			if down > from || down == from && from != layerLeaf {
				t.Errorf("%s (%s) imports %s (%s): imports point down, cmd → internal/app → %s → internal/config → leaves",
					name, layerName[from], to, layerName[down], strings.Join(edge, ", "))
			}
		}
	}
	for name, bans := range banned {
		p := pkgs[name]
		if p == nil {
			t.Errorf("package %s not found", name)
			continue
		}
		for _, b := range bans {
			full := b
			if !strings.Contains(strings.Split(b, "/")[0], ".") && pkgs[b] != nil {
				full = module + "/" + b
			}
			if slices.Contains(p.Deps, full) {
				t.Errorf("%s depends on %s (directly or through its imports; see go list -deps ./%s)", name, b, name)
			}
		}
	}
}
