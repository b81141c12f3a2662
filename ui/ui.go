// Package ui serves Sluice's web UI: the assets Vite built from ui/src into
// ui/dist (committed, so `go build` needs no Node.js), embedded in the
// binary. The UI is a client of the admin API only (/api/v1); this package
// serves files and nothing else.
//
// Handler answers GET and HEAD under /ui/: a path naming a built file gets
// that file, any other path gets index.html (the UI routes in the browser:
// /ui/logs, /ui/backends?server=...), except under /ui/assets/ where a
// missing file is a 404. Hashed assets are cached for a year, index.html is
// revalidated (ETag); bodies are gzipped when the client accepts it. The
// package is a leaf (standard library only); the admin listener mounts it
// without credentials, since the login page is part of it.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

// Prefix is the URL path the UI is served under.
const Prefix = "/ui/"

//go:embed all:dist
var dist embed.FS

// ContentSecurityPolicy is sent with every UI response: scripts and
// connections (the API and its WebSocket) only from the admin listener
// itself; inline styles are allowed for the editor's and the charts'
// computed styles.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

type file struct {
	body  []byte
	gz    []byte // nil when gzip does not make it smaller
	etag  string
	ctype string
	cache string
}

var (
	loadOnce sync.Once
	files    map[string]*file
)

func load() {
	files = map[string]*file{}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		sum := sha256.Sum256(body)
		f := &file{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: contentType(name), cache: "no-cache"}
		if strings.HasPrefix(name, "assets/") {
			f.cache = "public, max-age=31536000, immutable" // file names carry a content hash
		}
		if compressible(f.ctype) {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if b.Len() < len(body) {
				f.gz = b.Bytes()
			}
		}
		files[name] = f
		return nil
	})
	if err != nil {
		panic("ui: reading the embedded dist: " + err.Error()) // the embed is fixed at build time
	}
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.HasPrefix(ctype, "application/json") || strings.HasPrefix(ctype, "image/svg")
}

// Handler returns the handler for the UI; mount it at Prefix ("GET /ui/").
// It is safe for concurrent use.
func Handler() http.Handler {
	loadOnce.Do(load)
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	rel, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	f := files[rel]
	if f == nil || rel == "" {
		// Unknown asset files are 404s; every other path is a page of the UI.
		if strings.HasPrefix(rel, "assets/") || (path.Ext(rel) != "" && rel != "") {
			http.NotFound(w, r)
			return
		}
		f = files["index.html"]
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("Cache-Control", f.cache)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	if f.gz != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	if f.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = f.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// acceptsGzip parses Accept-Encoding: gzip (or *) with a non-zero q.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// GzipBody returns the bytes Handler sends for a file of dist when gzip is
// accepted (tests measure the first load with it); ok is false for a
// missing file.
func GzipBody(name string) (b []byte, ok bool) {
	loadOnce.Do(load)
	f := files[name]
	if f == nil {
		return nil, false
	}
	if f.gz != nil {
		return f.gz, true
	}
	return f.body, true
}
