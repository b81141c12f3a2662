package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, path string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var assetRef = regexp.MustCompile(`(?:src|href)="/ui/(assets/[^"]+)"`)

func TestPagesAnswerIndex(t *testing.T) {
	Handler()
	index := files["index.html"]
	for _, p := range []string{"/ui/", "/ui/logs", "/ui/backends", "/ui/login", "/ui/config"} {
		r := get(t, p, nil)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", p, r.StatusCode)
		}
		if got := body(t, r); !bytes.Equal(got, index.body) {
			t.Fatalf("GET %s: not index.html", p)
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: Content-Type %q", p, ct)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("GET %s: Cache-Control %q, want no-cache (index.html names the current assets)", p, cc)
		}
	}
	if !bytes.Contains(index.body, []byte(`<div id="app">`)) {
		t.Fatal("index.html has no app root")
	}
}

func TestSecurityHeaders(t *testing.T) {
	r := get(t, "/ui/", nil)
	for k, want := range map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestAssetsGzipAndCache(t *testing.T) {
	Handler()
	refs := assetRef.FindAllStringSubmatch(string(files["index.html"].body), -1)
	if len(refs) == 0 {
		t.Fatal("index.html references no assets")
	}
	for _, m := range refs {
		name := m[1]
		want := files[name]
		if want == nil {
			t.Fatalf("index.html references %s, which is not in dist", name)
		}
		r := get(t, "/ui/"+name, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if r.StatusCode != 200 || r.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: status %d encoding %q", name, r.StatusCode, r.Header.Get("Content-Encoding"))
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Fatalf("%s: Cache-Control %q", name, cc)
		}
		zr, err := gzip.NewReader(bytes.NewReader(body(t, r)))
		if err != nil {
			t.Fatal(err)
		}
		plain, _ := io.ReadAll(zr)
		if !bytes.Equal(plain, want.body) {
			t.Fatalf("%s: gzip body differs from the file", name)
		}
		r = get(t, "/ui/"+name, map[string]string{"Accept-Encoding": "gzip;q=0"})
		if r.Header.Get("Content-Encoding") != "" || !bytes.Equal(body(t, r), want.body) {
			t.Fatalf("%s: q=0 must get the plain body", name)
		}
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/") {
			t.Fatalf("%s: Content-Type %q", name, r.Header.Get("Content-Type"))
		}
	}
}

func TestConditionalGet(t *testing.T) {
	r := get(t, "/ui/", nil)
	etag := r.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r = get(t, "/ui/", map[string]string{"If-None-Match": `"x", ` + etag})
	if r.StatusCode != http.StatusNotModified || len(body(t, r)) != 0 {
		t.Fatalf("If-None-Match: %d", r.StatusCode)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	for _, p := range []string{"/ui/assets/missing.js", "/ui/favicon.ico", "/other"} {
		if r := get(t, p, nil); r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
	}
	if r := get(t, "/ui", nil); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ui/", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /ui/: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/ui/", nil))
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD /ui/: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "deflate, gzip": true, "gzip;q=0": false, "gzip; q=0.5": true,
		"*": true, "br": false, "x-gzip": false, "*;q=0": false,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
