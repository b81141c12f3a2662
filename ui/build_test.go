package ui

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The build inputs, as scripts/buildinfo.mjs lists them (keep in step).
var buildInputs = []string{"index.html", "package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "scripts/buildinfo.mjs"}

type buildInfo struct {
	SourceSHA256 string            `json:"source_sha256"`
	SourceFiles  int               `json:"source_files"`
	Assets       map[string]string `json:"assets"`
}

func readBuildInfo(t *testing.T) buildInfo {
	t.Helper()
	b, err := dist.ReadFile("dist/build-info.json")
	if err != nil {
		t.Fatalf("ui/dist/build-info.json: %v (run `make ui`)", err)
	}
	var bi buildInfo
	if err := json.Unmarshal(b, &bi); err != nil {
		t.Fatalf("ui/dist/build-info.json: %v", err)
	}
	return bi
}

// sourceDigest is scripts/buildinfo.mjs's digest, computed in Go.
func sourceDigest(t *testing.T) (string, int) {
	t.Helper()
	files := append([]string(nil), buildInputs...)
	err := filepath.WalkDir("src", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, filepath.ToSlash(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files) // byte order, as the script sorts
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		h.Write([]byte(f + "\x00" + hex.EncodeToString(s[:]) + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), len(files)
}

// TestDistUpToDate fails when ui/dist was not rebuilt after a change to the
// UI's sources, lockfile or build configuration, or when dist/ holds files
// the build did not write (or lacks some it wrote).
func TestDistUpToDate(t *testing.T) {
	bi := readBuildInfo(t)
	got, n := sourceDigest(t)
	if got != bi.SourceSHA256 {
		t.Fatalf("ui/dist is stale: its sources digest to %s (%d files) but dist was built from %s (%d files); run `make ui` and commit ui/dist",
			got[:12], n, bi.SourceSHA256[:min(12, len(bi.SourceSHA256))], bi.SourceFiles)
	}
	seen := map[string]bool{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "dist/build-info.json" {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		seen[name] = true
		want, ok := bi.Assets[name]
		if !ok {
			t.Errorf("ui/dist/%s was not written by the last build (left over? run `make ui`)", name)
			return nil
		}
		b, _ := dist.ReadFile(p)
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != want {
			t.Errorf("ui/dist/%s differs from what the build wrote (edited by hand?); run `make ui`", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range bi.Assets {
		if !seen[name] {
			t.Errorf("ui/dist/%s is missing (not committed?)", name)
		}
	}
}

// FirstLoadLimit is the most the browser may download, gzipped, before the
// UI can show its first page: index.html and what it loads (issue 23).
const FirstLoadLimit = 150_000

var firstLoadRef = regexp.MustCompile(`<(?:script[^>]*\ssrc|link[^>]*\shref)="/ui/([^"]+)"`)

// editorMarker is a class name only CodeMirror's code contains; it must
// not be in the first load (the editor is a chunk loaded when opened).
const editorMarker = "cm-gutters"

// TestFirstLoadSize measures the gzipped bytes of the first load and checks
// that the editor is a separate chunk, out of it.
func TestFirstLoadSize(t *testing.T) {
	Handler()
	index := files["index.html"].body
	total := 0
	gz, _ := GzipBody("index.html")
	total += len(gz)
	first := map[string]bool{}
	for _, m := range firstLoadRef.FindAllSubmatch(index, -1) {
		name := string(m[1])
		b, ok := GzipBody(name)
		if !ok {
			t.Fatalf("index.html loads /ui/%s, which is not in dist", name)
		}
		first[name] = true
		total += len(b)
		t.Logf("first load: %s %d bytes gzip", name, len(b))
		if bytes.Contains(files[name].body, []byte(editorMarker)) {
			t.Errorf("%s (first load) contains the editor (%q): CodeMirror must be a chunk loaded on demand", name, editorMarker)
		}
	}
	t.Logf("first load: %d bytes gzip in %d files (limit %d)", total, len(first)+1, FirstLoadLimit)
	if len(first) < 2 {
		t.Fatalf("index.html loads %d assets; expected the script and the stylesheet", len(first))
	}
	if total > FirstLoadLimit {
		t.Fatalf("first load is %d bytes gzip, over the %d limit", total, FirstLoadLimit)
	}
	lazy := ""
	for name, f := range files {
		if !first[name] && bytes.Contains(f.body, []byte(editorMarker)) {
			lazy = name
		}
	}
	if lazy == "" {
		t.Fatal("no chunk contains the editor")
	}
	gzl, _ := GzipBody(lazy)
	t.Logf("editor chunk (on demand): %s %d bytes gzip", lazy, len(gzl))
}
