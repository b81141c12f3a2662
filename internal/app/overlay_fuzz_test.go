package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzOverlay: whatever the state_dir overlay holds (a damaged file, edits
// of another shape, edits that no longer fit), loading the configuration
// never panics, and it either fails with an error or yields a valid
// configuration whose running text is the file with the kept edits.
func FuzzOverlay(f *testing.F) {
	const base = `admin: {listen: "127.0.0.1:9900"}
frontends:
  - {name: web, listen: "127.0.0.1:8080", backend: app}
backends:
  - name: app
    servers:
      - address: 127.0.0.1:9001   # a
        weight: 2
`
	for _, s := range []string{
		`{"file": "FILE", "edits": [{"op": "set", "path": "backends[name=app].servers[address=127.0.0.1:9001].drain", "value": true}]}`,
		`{"file": "FILE", "edits": [{"op": "append", "path": "backends[name=app].servers", "value": {"address": "127.0.0.1:9002"}, "unique": "address"}]}`,
		`{"file": "FILE", "edits": [{"op": "remove", "path": "backends[name=gone].servers[address=1.2.3.4:5]"}]}`,
		`{"file": "FILE", "edits": [{"op": "set", "path": "backends[name=app].servers[address=127.0.0.1:9001].weight", "value": 999}]}`,
		`{"file": "OTHER", "edits": []}`, `not json`, `{"edits": null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, overlay string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "sluice.yaml")
		if err := os.WriteFile(path, []byte(base), 0o644); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(dir, "state")
		if err := os.Mkdir(state, 0o700); err != nil {
			t.Fatal(err)
		}
		abs, _ := filepath.Abs(path)
		data := []byte(strings.ReplaceAll(overlay, "FILE", abs))
		if err := os.WriteFile(filepath.Join(state, OverlayFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		lt, err := loadFile(path, state, nil)
		if err != nil {
			return
		}
		if lt.cfg == nil || string(lt.file) != base || (len(lt.overlay) == 0 && string(lt.running) != base) {
			t.Fatalf("loaded %+v", lt)
		}
	})
}
