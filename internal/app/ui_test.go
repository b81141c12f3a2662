package app

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminServesUI: the admin listener serves the web UI at /ui/ (its
// pages and assets, no credential needed: the login page is part of it)
// and sends / there.
func TestAdminServesUI(t *testing.T) {
	_, admin := obsLoadApp(t, "off")
	get := func(path string) (*http.Response, string) {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r, err := c.Get("http://" + admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r, string(b)
	}
	for _, p := range []string{"/ui/", "/ui/logs", "/ui/backends?server=x"} {
		r, body := get(p)
		if r.StatusCode != 200 || !strings.Contains(body, `<div id="app">`) || r.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("GET %s: %d %q", p, r.StatusCode, body[:min(len(body), 80)])
		}
	}
	if r, _ := get("/"); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /: %d Location %q, want 302 /ui/", r.StatusCode, r.Header.Get("Location"))
	}
	if r, _ := get("/ui/assets/nope.js"); r.StatusCode != 404 {
		t.Fatalf("GET a missing asset: %d", r.StatusCode)
	}
}
