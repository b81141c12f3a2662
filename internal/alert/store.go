package alert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// File names in Options.StateDir.
const (
	StateFile = "alerts.json"
	LockFile  = "alerts.lock"
)

// savedState is one rule's state in StateFile.
type savedState struct {
	Identity string    `json:"identity"` // kind|frontend|backend|server
	State    string    `json:"state"`
	Since    time.Time `json:"since"`
	Fired    time.Time `json:"fired,omitzero"`
	Value    float64   `json:"value"`
}

type savedFile struct {
	Alerts map[string]savedState `json:"alerts"`
}

// own reports whether this Engine evaluates: always without a StateDir;
// with one, once it holds the lock (tried without waiting at every call
// until it does), at which point the saved state is loaded.
func (e *Engine) own() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.owner || e.stopped {
		return e.owner && !e.stopped
	}
	f, err := os.OpenFile(filepath.Join(e.o.StateDir, LockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		e.o.Logger.Warn("alerts: state lock cannot be opened; evaluating without it", "error", err.Error())
		e.owner = true
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return false // another process (the one being upgraded) evaluates
	}
	e.lock, e.owner = f, true
	e.loadLocked()
	return true
}

// loadLocked reads StateFile and applies it to the current rules (by name,
// when kind and scope are unchanged); rules set later find it in e.saved.
func (e *Engine) loadLocked() {
	data, err := os.ReadFile(filepath.Join(e.o.StateDir, StateFile))
	if err != nil {
		if !os.IsNotExist(err) {
			e.o.Logger.Warn("alerts: saved state unreadable; starting from ok", "error", err.Error())
		}
		return
	}
	var sf savedFile
	if err := json.Unmarshal(data, &sf); err != nil {
		e.o.Logger.Warn("alerts: saved state unreadable; starting from ok", "file", StateFile, "error", err.Error())
		return
	}
	e.saved = sf.Alerts
	for _, rs := range e.rules {
		if sv, ok := sf.Alerts[rs.r.Name()]; ok && sv.Identity == rs.r.identity() && validState(sv.State) {
			rs.state, rs.since, rs.fired, rs.value, rs.seen = sv.State, sv.Since, sv.Fired, sv.Value, true
		}
	}
}

func validState(s string) bool { return s == "ok" || s == "pending" || s == "firing" }

// save writes the state of every rule to StateFile (temp file, fsync,
// rename) when this Engine owns it. Errors are logged once until a save
// succeeds again.
func (e *Engine) save() {
	e.mu.Lock()
	if e.o.StateDir == "" || e.lock == nil {
		e.mu.Unlock()
		return
	}
	sf := savedFile{Alerts: make(map[string]savedState, len(e.rules))}
	for _, rs := range e.rules {
		sf.Alerts[rs.r.Name()] = savedState{Identity: rs.r.identity(), State: rs.state, Since: rs.since,
			Fired: rs.fired, Value: rs.value}
	}
	e.mu.Unlock()
	data, _ := json.MarshalIndent(sf, "", "  ")
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	err := writeAtomic(filepath.Join(e.o.StateDir, StateFile), append(data, '\n'))
	switch {
	case err != nil && !e.saveFail:
		e.saveFail = true
		e.o.Logger.Error("alerts: state not saved; it will not survive a restart", "error", err.Error())
	case err == nil:
		e.saveFail = false
	}
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".alerts-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
