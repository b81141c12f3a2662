package state

import (
	"strings"
	"testing"
)

func TestLogMatcher(t *testing.T) {
	entries := []LogEntry{
		{Frontend: "web", Backend: "app", ClientIP: "10.1.2.3", Method: "GET", Host: "api.example.com", Path: "/v1/users", Status: 200},
		{Frontend: "web", Backend: "app", ClientIP: "192.168.0.9", Host: "www.example.com", Path: "/login", Status: 503},
		{Frontend: "web", Backend: "static", ClientIP: "::ffff:10.9.9.9", Path: "/img", Status: 404},
		{Frontend: "pg", Mode: "tcp", Backend: "db", ClientIP: "2001:db8::1"},
	}
	cases := []struct {
		f    LogFilter
		want string // indexes that match
	}{
		{LogFilter{}, "0123"},
		{LogFilter{Frontend: "web"}, "012"},
		{LogFilter{Backend: "app"}, "01"},
		{LogFilter{Status: "503"}, "1"},
		{LogFilter{Status: "5xx"}, "1"},
		{LogFilter{Status: "4XX"}, "2"},
		{LogFilter{ClientIP: "10.0.0.0/8"}, "02"},
		{LogFilter{ClientIP: "10.1.2.3"}, "0"},
		{LogFilter{ClientIP: "::ffff:10.1.2.3"}, "0"},
		{LogFilter{ClientIP: "2001:db8::/32"}, "3"},
		{LogFilter{Q: "example.com"}, "01"},
		{LogFilter{Q: "/v1/"}, "0"},
		{LogFilter{Frontend: "web", Status: "2xx", Q: "users"}, "0"},
		{LogFilter{ClientIP: "::ffff:10.0.0.0/104"}, "02"},
	}
	for _, c := range cases {
		m, err := CompileLogFilter(c.f)
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		got := ""
		for i := range entries {
			if m.Match(&entries[i]) {
				got += string(rune('0' + i))
			}
		}
		if got != c.want {
			t.Errorf("%+v matched %q, want %q", c.f, got, c.want)
		}
	}
	for _, f := range []LogFilter{{Status: "600"}, {Status: "5x"}, {Status: "abc"}, {Status: "0xx"}, {Status: "+50"}, {Status: "5+3"}, {Status: "099"}} {
		if _, err := CompileLogFilter(f); err == nil || !strings.HasPrefix(err.Error(), "status: ") {
			t.Errorf("%+v: %v", f, err)
		}
	}
	for _, f := range []LogFilter{{ClientIP: "10.0.0.0/33"}, {ClientIP: "host"}} {
		if _, err := CompileLogFilter(f); err == nil || !strings.HasPrefix(err.Error(), "client_ip: ") {
			t.Errorf("%+v: %v", f, err)
		}
	}
}
