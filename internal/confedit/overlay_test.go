package confedit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/state"
)

// Edits are data: stored as JSON (a read-only file's overlay in state_dir)
// and applied again at the next start, they give the same text; when the
// file changed meanwhile so that one no longer fits, Apply fails with a
// recognisable error and changes nothing.
func TestEditsAsOverlay(t *testing.T) {
	src := []byte("backends:\n  - name: web\n    servers:\n      - address: 10.0.0.1:80   # a\n      - address: 10.0.0.2:80\n")
	var edits []Edit
	edits = append(edits, SetServer("web", "10.0.0.1:80", ptr(4), nil, ptr(true))...)
	edits = append(edits, AddServer("web", state.ServerSpec{Address: "10.0.0.3:80"})...)
	edits = append(edits, RemoveServer("web", "10.0.0.2:80")...)
	direct, err := ApplyEnv(src, noEnv, edits...)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := json.Marshal(edits)
	if err != nil {
		t.Fatal(err)
	}
	var loaded []Edit
	if err := json.Unmarshal(stored, &loaded); err != nil {
		t.Fatal(err)
	}
	again, err := ApplyEnv(src, noEnv, loaded...)
	if err != nil || string(again) != string(direct) {
		t.Fatalf("re-applied overlay differs: %v\n%s\nvs\n%s", err, again, direct)
	}
	want := "backends:\n  - name: web\n    servers:\n      - address: 10.0.0.1:80   # a\n        weight: 4\n        drain: true\n      - address: 10.0.0.3:80\n"
	if string(direct) != want {
		t.Fatalf("got\n%s", direct)
	}
	// Meanwhile someone removed 10.0.0.1:80 from the file by hand.
	changed := []byte(strings.Replace(string(src), "      - address: 10.0.0.1:80   # a\n", "", 1))
	out, err := ApplyEnv(changed, noEnv, loaded...)
	var ee *Error
	if !errors.Is(err, ErrNotFound) || !errors.As(err, &ee) || ee.Index != 0 || out != nil {
		t.Fatalf("stale overlay: %v (%+v), %q", err, ee, out)
	}
	// ... or added 10.0.0.3:80 themselves: the append is refused.
	added := []byte(string(src) + "      - address: 10.0.0.3:80\n")
	if _, err := ApplyEnv(added, noEnv, loaded...); !errors.Is(err, ErrExists) || !errors.As(err, &ee) || ee.Index != 2 {
		t.Fatalf("overlay add of a server the file has: %v", err)
	}
}
