package app

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sluicelb/sluice/internal/confedit"
	"github.com/sluicelb/sluice/internal/config"
)

// OverlayFile is the name of the overlay in the state directory: the
// changes the API made while the configuration file could not be written
// (a mounted ConfigMap), re-applied on top of the file at start and at
// every reload.
const OverlayFile = "config-overlay.json"

// overlayDoc is the overlay's JSON.
type overlayDoc struct {
	// File is the configuration file the edits belong to (absolute); an
	// overlay written for another file is ignored.
	File  string          `json:"file"`
	Edits []confedit.Edit `json:"edits"`
}

// loaded is a configuration file as read, with its overlay applied.
type loaded struct {
	file     []byte          // the file's content
	running  []byte          // file with the overlay applied: what runs
	overlay  []confedit.Edit // the overlay's edits that still apply
	trimmed  bool            // some edits of the overlay no longer applied and were dropped
	stateDir string
	cfg      *config.Config // parsed from running and validated, not resolved
	warnings []string
}

// loadFile reads the configuration file at path, applies the overlay kept
// in its state directory (stateDir, when set, replaces admin.state_dir),
// and parses and validates the result with the overrides ovs (no DNS). An overlay edit that no
// longer fits the file (its server was removed from the file meanwhile) is
// dropped with a warning.
func loadFile(path, stateDir string, ovs []config.Override) (*loaded, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := config.ParseWith(path, data, ovs)
	if err != nil {
		return nil, err
	}
	lt := &loaded{file: data, running: data, cfg: cfg, stateDir: stateDir}
	if lt.stateDir == "" {
		lt.stateDir = cfgStateDir(cfg)
	}
	edits, err := readOverlay(lt.stateDir, path)
	if err != nil {
		lt.warnings = append(lt.warnings, err.Error())
	}
	if len(edits) == 0 {
		return lt, nil
	}
	run := data
	for i, e := range edits {
		next, err := confedit.Apply(run, e)
		if err != nil {
			lt.trimmed = true
			lt.warnings = append(lt.warnings, fmt.Sprintf("state_dir overlay: change %d (%s %s) no longer applies and is dropped: %v", i+1, e.Op, e.Path, err))
			continue
		}
		run = next
		lt.overlay = append(lt.overlay, e)
	}
	if len(lt.overlay) == 0 {
		return lt, nil
	}
	if lt.cfg, err = config.ParseWith(path, run, ovs); err != nil {
		return nil, fmt.Errorf("%s with the changes kept in %s: %w", path, filepath.Join(lt.stateDir, OverlayFile), err)
	}
	lt.running = run
	return lt, nil
}

// readConfigFile reads at most config.MaxFileSize+1 bytes of path; errors
// are config.Errors naming the file, as config.Load's.
func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, config.Errors{{File: path, Msg: "cannot read configuration: " + pathErr(err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, config.Errors{{File: path, Msg: "cannot read configuration: " + pathErr(err)}}
	}
	return data, nil
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err.Error()
}

// readOverlay returns the overlay's edits for the file at path (none when
// there is no state directory or no overlay).
func readOverlay(dir, path string) ([]confedit.Edit, error) {
	if dir == "" {
		return nil, nil
	}
	name := filepath.Join(dir, OverlayFile)
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state_dir overlay %s: %v", name, pathErr(err))
	}
	var doc overlayDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("state_dir overlay %s: %v; ignored", name, err)
	}
	if abs, _ := filepath.Abs(path); doc.File != abs {
		return nil, fmt.Errorf("state_dir overlay %s belongs to %s, not %s; ignored", name, doc.File, abs)
	}
	return doc.Edits, nil
}

// saveOverlay writes a.overlay to the state directory atomically (removes
// the file when there is nothing to keep). Called with a.mu held.
func (a *App) saveOverlay(dir string) error {
	if dir == "" {
		return errors.New("admin.state_dir is not set: the overlay cannot be kept")
	}
	name := filepath.Join(dir, OverlayFile)
	if len(a.overlay) == 0 {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state_dir overlay %s: %v", name, pathErr(err))
		}
		return nil
	}
	abs, _ := filepath.Abs(a.opts.ConfigFile)
	data, err := json.MarshalIndent(overlayDoc{File: abs, Edits: a.overlay}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state_dir %s: %v", dir, pathErr(err))
	}
	tmp, err := os.CreateTemp(dir, "."+OverlayFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("state_dir overlay %s: %v", name, pathErr(err))
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		return fmt.Errorf("state_dir overlay %s: %v", name, pathErr(err))
	}
	return nil
}

// stateDirLocked is where the overlay goes: Options.StateDir, else the
// running configuration's admin.state_dir.
func (a *App) stateDirLocked() string {
	if a.opts.StateDir != "" {
		return a.opts.StateDir
	}
	if a.cfg != nil {
		return cfgStateDir(a.cfg)
	}
	return ""
}

// cfgStateDir is admin.state_dir (after overrides: --state-dir,
// SLUICE_STATE_DIR).
func cfgStateDir(c *config.Config) string { return c.Admin.StateDir }

// setFileLocked records what was loaded from the configuration file.
func (a *App) setFileLocked(lt *loaded) {
	a.fileSum.Store(&fileMark{sha256.Sum256(lt.file)})
	a.overlay = lt.overlay
}

func evalSymlinks(path string) (string, error) { return filepath.EvalSymlinks(path) }
func dirOf(path string) string                 { return filepath.Dir(path) }

// accessW asks the kernel whether dir can be written (a read-only mount
// answers EROFS even to root).
func accessW(dir string) error {
	const W_OK = 2
	return syscall.Access(dir, W_OK)
}
