package l7

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProxyBasicGET(t *testing.T) {
	be := startBackend(t, okHandler)
	_, addr := startProxy(t, Options{Frontend: "web", Default: newBackend(t, "web", BackendOptions{}, be.addr)})
	resp, body := get(t, "http://"+addr+"/a/b?x=1", nil)
	if resp.StatusCode != 200 || body != "hello from /a/b" || resp.Header.Get("X-Backend") != "yes" {
		t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	r := be.lastRequest(t)
	if r.URL.RawQuery != "x=1" {
		t.Fatalf("query %q", r.URL.RawQuery)
	}
}

func TestProxyPOSTBody(t *testing.T) {
	be := startBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte(strings.ToUpper(string(b))))
	})
	_, addr := startProxy(t, Options{Default: newBackend(t, "web", BackendOptions{}, be.addr)})
	resp, err := testClient.Post("http://"+addr+"/up", "text/plain", strings.NewReader("some body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "SOME BODY" {
		t.Fatalf("got %q", b)
	}
	// chunked (unknown length)
	resp, err = testClient.Post("http://"+addr+"/up", "text/plain", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "CHUNKED" {
		t.Fatalf("got %q", b)
	}
}
