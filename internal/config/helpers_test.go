package config

import (
	"errors"
	"strings"
	"testing"
)

// env is a fixed environment for tests.
var env = map[string]string{"HOST": "127.0.0.1", "PORT": "8080", "EMPTY": "", "LONG": "a-much-longer-value"}

func lookup(k string) (string, bool) { v, ok := env[k]; return v, ok }

// parseT parses src as "t.yaml" with the test environment.
func parseT(src string) (*Config, error) { return parse("t.yaml", []byte(src), lookup) }

// mustParse fails the test unless src is valid.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := parseT(src)
	if err != nil {
		t.Fatalf("unexpected errors:\n%v\nin:\n%s", err, src)
	}
	return c
}

// errLines returns the error lines of parsing src ("LINE:COL: msg", file
// name stripped), or fails when src is valid.
func errLines(t *testing.T, src string) []string {
	t.Helper()
	_, err := parseT(src)
	if err == nil {
		t.Fatalf("expected errors, got none for:\n%s", src)
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors", err)
	}
	var out []string
	for _, e := range es {
		out = append(out, strings.TrimPrefix(e.Error(), "t.yaml:"))
	}
	return out
}

func checkErrs(t *testing.T, src string, want ...string) {
	t.Helper()
	got := errLines(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors differ\n got:\n  %s\nwant:\n  %s\nsource:\n%s", strings.Join(got, "\n  "), strings.Join(want, "\n  "), src)
	}
}

// minimal is the smallest valid config.
const minimal = `frontends:
  - name: web
    listen: 127.0.0.1:8080
    backend: web
backends:
  - name: web
    servers:
      - address: 127.0.0.1:9001
`
