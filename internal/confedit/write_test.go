package confedit

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(p, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(got) != "new\n" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v", got, fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// A Kubernetes ConfigMap mount: name → ..data/name, ..data → a timestamped
// directory. The real file is replaced; the links stay links.
func TestWriteFileAtomicFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	ts := filepath.Join(dir, "..2026_12_05_10_00_00.123")
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts, "sluice.yaml"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "sluice.yaml")
	if err := os.Symlink("..data/sluice.yaml", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ts, "sluice.yaml")); string(got) != "new\n" {
		t.Fatalf("real file: %q", got)
	}
	for _, l := range []string{link, filepath.Join(dir, "..data")} {
		if fi, err := os.Lstat(l); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symlink: %v %v", l, fi, err)
		}
	}
}

// A read-only file or directory is an error the caller recognises (to
// keep the change as an overlay); nothing is written.
func TestWriteFileAtomicReadOnly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "ro.yaml")
	if err := os.WriteFile(p, []byte("old\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	err := WriteFileAtomic(p, []byte("new\n"))
	if !errors.Is(err, ErrReadOnly) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("read-only file: %v", err)
	}
	sub := filepath.Join(dir, "rodir")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	q := filepath.Join(sub, "c.yaml")
	if err := os.WriteFile(q, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(sub, 0o755) })
	err = WriteFileAtomic(q, []byte("new\n"))
	if !errors.Is(err, ErrReadOnly) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("read-only directory: %v", err)
	}
	for _, f := range []string{p, q} {
		if got, _ := os.ReadFile(f); string(got) != "old\n" {
			t.Fatalf("%s changed: %q", f, got)
		}
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing.yaml"), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// Readers see the old or the new text whole, never a mix or an empty file.
func TestWriteFileAtomicReaders(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	a, b := bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 300<<10)
	if err := os.WriteFile(p, a, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, a) && !bytes.Equal(got, b) {
				bad = got
				return
			}
		}
	}()
	for i := 0; i < 50; i++ {
		data := a
		if i%2 == 0 {
			data = b
		}
		if err := WriteFileAtomic(p, data); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad != nil {
		t.Fatalf("a reader saw %d bytes that are neither text", len(bad))
	}
}
