package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWriteAppendsJSONLines(t *testing.T) {
	dir := t.TempDir()
	var plog bytes.Buffer
	l := New(dir, slog.New(slog.NewJSONHandler(&plog, nil)))
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.FixedZone("x", 3600))
	rec := Record{Time: at, Actor: Actor{Name: "alice", Role: "admin", Via: "session", Remote: "10.0.0.9"},
		Action: ActionPatchServer, Target: "backends/web/servers/10.0.0.1:80", Request: map[string]any{"weight": 5},
		Result: ResultOK, Status: 200, Changes: []string{"backend web: weight of 10.0.0.1:80 3 → 5"}}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ { // concurrent writers never interleave lines
		wg.Add(1)
		go func() { defer wg.Done(); l.Write(rec) }()
	}
	wg.Wait()
	f, err := os.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var got Record
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v: %s", n, err, sc.Bytes())
		}
		if got.Actor != rec.Actor || got.Action != rec.Action || got.Changes[0] != rec.Changes[0] || !got.Time.Equal(at) || got.Time.Location() != time.UTC {
			t.Fatalf("line %d = %+v", n, got)
		}
		n++
	}
	if n != 20 {
		t.Fatalf("%d lines, want 20", n)
	}
	if !bytes.Contains(plog.Bytes(), []byte(`"action":"patch_server"`)) {
		t.Fatalf("process log: %s", plog.Bytes())
	}
	// No directory: the process log only; nil: nothing.
	if err := New("", nil).Write(rec); err != nil {
		t.Fatal(err)
	}
	var nl *Log
	if err := nl.Write(rec); err != nil || nl.Path() != "" {
		t.Fatal(err)
	}
	// An unwritable file is an error, not a panic.
	if err := New(filepath.Join(dir, "missing", "dir"), nil).Write(rec); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
