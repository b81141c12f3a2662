package l7

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// ExplainRoute says which route matched and why every earlier one did not,
// reading the client through trusted X-Forwarded-For as the data path does.
func TestExplainRoute(t *testing.T) {
	api := newBackend(t, "api", BackendOptions{}, "127.0.0.1:1")
	wild := newBackend(t, "wild", BackendOptions{}, "127.0.0.1:1")
	post := newBackend(t, "post", BackendOptions{}, "127.0.0.1:1")
	p, err := New(Options{
		Routes: []Route{
			{Name: "api", Host: "api.example.com", PathPrefix: "/v1/", Backend: api},
			{Name: "wild", Host: "*.example.com", Backend: wild},
			{Name: "post", Methods: []string{"POST", "PUT"}, Backend: post},
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := func(method, uri, host, xff string) *fasthttp.Request {
		r := &fasthttp.Request{}
		r.Header.SetMethod(method)
		r.SetRequestURI(uri)
		r.Header.SetHost(host)
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	peer := netip.MustParseAddr("10.1.1.1")
	ex := p.ExplainRoute(req("GET", "/a/../v2/x", "API.example.com:8080", "203.0.113.9, 10.2.2.2"), peer)
	var lines []string
	for _, c := range ex.Routes {
		lines = append(lines, c.Name+" "+map[bool]string{true: "matched", false: c.Reason}[c.Matched])
	}
	want := `api path "/v2/x" does not start with "/v1/"|wild matched`
	if strings.Join(lines, "|") != want || ex.Route != "wild" || ex.Backend != wild ||
		!ex.Trusted || ex.Client != netip.MustParseAddr("203.0.113.9") {
		t.Fatalf("got %q route %q client %v trusted %v", strings.Join(lines, "|"), ex.Route, ex.Client, ex.Trusted)
	}
	ex = p.ExplainRoute(req("DELETE", "/", "other.org", "203.0.113.9"), netip.MustParseAddr("192.0.2.1"))
	lines = nil
	for _, c := range ex.Routes {
		lines = append(lines, c.Reason)
	}
	want = `host "other.org" does not match "api.example.com"|host "other.org" does not match "*.example.com"|method DELETE is not one of POST, PUT`
	if strings.Join(lines, "|") != want || ex.Route != "" || ex.Backend != nil || ex.Trusted || ex.Client != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("got %q route %q backend %v client %v", strings.Join(lines, "|"), ex.Route, ex.Backend, ex.Client)
	}
}
