package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sluicelb/sluice/internal/confdiff"
	"github.com/sluicelb/sluice/internal/confedit"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
)

// The change path. Every change — a PATCH of a server, a server added or
// removed, a whole new configuration, a reload through the API — goes the
// way a reload goes: the configuration TEXT is edited (internal/confedit
// splices the running text at the positions its parser recorded), the
// result is parsed, validated and resolved like a file, applied with
// applyLocked, and then written back to the file atomically, so that a
// restart or a later reload keeps it. Nothing is ever built as a Config in
// code. Changes are serialised by the apply lock (a.mu); readers of the
// live view never take it.
//
// A file that cannot be written (a mounted ConfigMap) does not stop a
// change: it is applied and its edits are kept in the state_dir overlay,
// re-applied on top of the file at start and at every reload.

// change is state.Control.Change.
func (a *App) change(ctx context.Context, c state.Change) (state.Result, error) {
	switch c.Op {
	case state.OpReload:
		return a.apiReload(ctx, c)
	case state.OpPatchServer, state.OpAddServer, state.OpRemoveServer, state.OpPutConfig,
		state.OpAddAlert, state.OpSetAlert, state.OpRemoveAlert:
	default:
		return state.Result{}, fmt.Errorf("unknown change operation %q", c.Op)
	}
	edits, err := editsFor(c)
	if err != nil {
		return state.Result{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return state.Result{}, errShuttingDown
	}
	path := a.opts.ConfigFile
	if path == "" || a.cfg == nil {
		return state.Result{}, fmt.Errorf("%w: sluice was not started from a configuration file", state.ErrReadOnly)
	}
	if err := a.checkFileLocked(path); err != nil {
		return state.Result{}, err
	}
	// The new running text: the running text edited, or the new text.
	running := c.Text
	if c.Op != state.OpPutConfig {
		running, err = confedit.Apply(a.cfg.Raw, edits...)
		if err != nil {
			return state.Result{}, editError(err)
		}
	}
	cfg, err := a.parseResolve(ctx, path, running)
	if err != nil {
		return state.Result{}, err
	}
	res := state.Result{DryRun: c.DryRun, Changes: diffLines(a.cfg, cfg), Checksum: cfg.Checksum()}
	writable, why := fileWritable(path)
	if !writable && c.Op == state.OpPutConfig {
		return res, fmt.Errorf("%w: %s is read-only (%s): a whole new configuration cannot be kept in the state_dir overlay; change the file itself",
			state.ErrReadOnly, path, why)
	}
	dir := a.stateDirLocked()
	if !writable && dir == "" {
		return res, fmt.Errorf("%w: %s is read-only (%s) and admin.state_dir is not set, so the change could not be kept",
			state.ErrReadOnly, path, why)
	}
	if c.DryRun {
		res.Checksum = a.cfg.Checksum()
		if !writable {
			res.Warnings = append(res.Warnings, path+" is read-only ("+why+"): the change would be kept in the state_dir overlay")
		}
		return res, nil
	}
	old := a.cfg
	changes, err := a.applyLocked(cfg, true)
	a.recordLocked(changeSource(&c.Actor), changes, err, &c.Actor)
	if err != nil {
		return state.Result{}, err
	}
	res.Applied = true
	a.operatorEvents(old, cfg, &c.Actor)
	// Persist: the file, else the overlay.
	if writable {
		if err := a.writeFileLocked(path, running); err == nil {
			res.Persisted = "file"
			if len(a.overlay) > 0 { // folded into the file now
				a.overlay = nil
				if err := a.saveOverlay(dir); err != nil {
					res.Warnings = append(res.Warnings, err.Error())
				}
			}
			return res, nil
		} else if !errors.Is(err, confedit.ErrReadOnly) || dir == "" || c.Op == state.OpPutConfig {
			res.Warnings = append(res.Warnings, "the change is running but was not saved: "+err.Error())
			a.log.Error("configuration change not saved", "file", path, "error", err.Error())
			return res, nil
		}
	}
	a.overlay = append(a.overlay, edits...)
	if err := a.saveOverlay(dir); err != nil {
		res.Warnings = append(res.Warnings, "the change is running but was not saved: "+err.Error())
		a.log.Error("configuration change not saved", "file", path, "error", err.Error())
		return res, nil
	}
	res.Persisted = "overlay"
	return res, nil
}

// editsFor turns a server change into text edits.
func editsFor(c state.Change) ([]confedit.Edit, error) {
	switch c.Op {
	case state.OpPatchServer:
		if c.Backend == "" || c.Address == "" {
			return nil, invalidf("a server change needs a backend and an address")
		}
		s := c.Server
		if s.Weight == nil && s.Enabled == nil && s.Drain == nil {
			return nil, invalidf("nothing to change: give weight, enabled or drain")
		}
		return confedit.SetServer(c.Backend, c.Address, s.Weight, s.Enabled, s.Drain), nil
	case state.OpAddServer:
		if c.Backend == "" || c.Server.Address == "" {
			return nil, invalidf("a new server needs a backend and an address")
		}
		return confedit.AddServer(c.Backend, c.Server), nil
	case state.OpRemoveServer:
		if c.Backend == "" || c.Address == "" {
			return nil, invalidf("removing a server needs a backend and an address")
		}
		return confedit.RemoveServer(c.Backend, c.Address), nil
	case state.OpPutConfig:
		if len(c.Text) == 0 {
			return nil, invalidf("the new configuration is empty")
		}
	case state.OpAddAlert, state.OpSetAlert, state.OpRemoveAlert:
		return alertEdits(c)
	}
	return nil, nil
}

func invalidf(format string, args ...any) error {
	return &state.InvalidError{Errors: []state.ConfigError{{Message: fmt.Sprintf(format, args...)}}}
}

// editError maps a refused text edit to the errors of state.Control.Change.
func editError(err error) error {
	switch {
	case errors.Is(err, confedit.ErrNotFound):
		return fmt.Errorf("%w: %v", state.ErrNotFound, err)
	case errors.Is(err, confedit.ErrExists), errors.Is(err, confedit.ErrVar),
		errors.Is(err, confedit.ErrAlias), errors.Is(err, confedit.ErrUnsupported):
		return fmt.Errorf("%w: %v", state.ErrConflict, err)
	case errors.Is(err, confedit.ErrInvalid):
		return invalidf("%v", err)
	}
	return err
}

// parseResolve parses, validates and resolves a configuration text as a
// reload does; an invalid text is an *state.InvalidError.
func (a *App) parseResolve(ctx context.Context, path string, text []byte) (*config.Config, error) {
	cfg, err := config.ParseWith(path, text, a.opts.Overrides)
	if err != nil {
		return nil, &state.InvalidError{Errors: configErrors(err)}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cfg.Resolve(rctx); err != nil {
		return nil, &state.InvalidError{Errors: configErrors(err)}
	}
	return cfg, nil
}

// checkFileLocked refuses a change when the file on disk is no longer the
// one running (edited by hand and not reloaded): writing the change back
// would throw that edit away, and applying it would bring in an edit nobody
// reviewed. A reload first settles it.
func (a *App) checkFileLocked(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if fm := a.fileSum.Load(); fm == nil || sha256.Sum256(data) != fm.sum {
		return fmt.Errorf("%w: %s changed on disk since it was loaded; reload it first (POST /api/v1/reload)", state.ErrConflict, path)
	}
	return nil
}

// fileMark is what the App last read from or wrote to its configuration
// file, so that --watch recognises its own writes.
type fileMark struct{ sum [32]byte }

// writeFileLocked writes text to the configuration file atomically. The
// checksum is recorded first, so a --watch poll that sees the new content
// knows it is the App's own.
func (a *App) writeFileLocked(path string, text []byte) error {
	prev := a.fileSum.Load()
	a.fileSum.Store(&fileMark{sha256.Sum256(text)})
	if err := confedit.WriteFileAtomic(path, text); err != nil {
		a.fileSum.Store(prev)
		return err
	}
	return nil
}

// fileWritable reports whether the change path can replace the file at
// path, and if not why: the same checks confedit.WriteFileAtomic makes
// (write permission bits of the file and its directory, a read-only file
// system), made before anything is applied.
func fileWritable(path string) (bool, string) {
	real, err := evalSymlinks(path)
	if err != nil {
		return false, err.Error()
	}
	fi, err := os.Stat(real)
	if err != nil {
		return false, err.Error()
	}
	if fi.Mode().Perm()&0o222 == 0 {
		return false, "file mode " + fi.Mode().Perm().String()
	}
	dir := dirOf(real)
	if di, err := os.Stat(dir); err == nil && di.Mode().Perm()&0o222 == 0 {
		return false, "directory " + dir + " mode " + di.Mode().Perm().String()
	}
	if err := accessW(dir); err != nil {
		return false, "directory " + dir + ": " + err.Error()
	}
	return true, ""
}

// apiReload is OpReload: the file is read again, as SIGHUP does (a dry run
// only parses and diffs it).
func (a *App) apiReload(ctx context.Context, c state.Change) (state.Result, error) {
	path := a.opts.ConfigFile
	if path == "" {
		return state.Result{}, fmt.Errorf("%w: sluice was not started from a configuration file", state.ErrReadOnly)
	}
	if c.DryRun {
		lt, err := loadFile(path, a.opts.StateDir, a.opts.Overrides)
		if err != nil {
			return state.Result{}, &state.InvalidError{Errors: configErrors(err)}
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := lt.cfg.Resolve(rctx); err != nil {
			return state.Result{}, &state.InvalidError{Errors: configErrors(err)}
		}
		cfg := lt.cfg
		a.mu.Lock()
		defer a.mu.Unlock()
		return state.Result{DryRun: true, Changes: diffLines(a.cfg, cfg), Checksum: a.cfg.Checksum(), Warnings: lt.warnings}, nil
	}
	r, err := a.reload(path, changeSource(&c.Actor), &c.Actor)
	var ce config.Errors
	if errors.As(err, &ce) {
		return state.Result{}, &state.InvalidError{Errors: configErrors(err)}
	}
	return r, err
}

// diffLines lists what changed between two configurations in operator
// terms, one line each (internal/confdiff); never nil.
func diffLines(old, nu *config.Config) []string {
	if old == nil {
		return []string{}
	}
	d := confdiff.Diff(old, nu)
	if d == nil {
		d = []string{}
	}
	return d
}

// operatorEvents records each server whose operator state (drain,
// enabled, weight) differs between old and nu as a health event with
// source "operator".
func (a *App) operatorEvents(old, nu *config.Config, actor *state.Actor) {
	if old == nil {
		return
	}
	prev := map[[2]string]*config.Server{}
	for i := range old.Backends {
		for j := range old.Backends[i].Servers {
			s := &old.Backends[i].Servers[j]
			prev[[2]string{old.Backends[i].Name, s.Address}] = s
		}
	}
	who := actorName(actor)
	for i := range nu.Backends {
		b := nu.Backends[i].Name
		for j := range nu.Backends[i].Servers {
			s := &nu.Backends[i].Servers[j]
			p := prev[[2]string{b, s.Address}]
			if p == nil {
				continue
			}
			ev := func(st, what string) {
				msg := "server " + s.Address + " of backend " + b + " " + what
				if who != "" {
					msg += " by " + who
				}
				a.addEvent(state.Event{Type: state.EventHealth, Severity: "info", Backend: b, Server: s.Address,
					Source: "operator", State: st, Actor: who, Reason: what, Message: msg})
			}
			if p.Drain != s.Drain {
				if s.Drain {
					ev("draining", "drained")
				} else {
					ev(state.HealthUp, "undrained")
				}
			}
			if p.Enabled != s.Enabled {
				if s.Enabled {
					ev(state.HealthUp, "enabled")
				} else {
					ev("disabled", "disabled")
				}
			}
			if p.Weight != s.Weight {
				ev("weight", fmt.Sprintf("weight %d → %d", p.Weight, s.Weight))
			}
		}
	}
}

// errShuttingDown is returned by Change once a graceful stop has begun (the
// API answers 503).
var errShuttingDown = state.ErrShuttingDown
