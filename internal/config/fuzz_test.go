package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and it
// must return either a valid Config or a non-empty Errors whose every
// entry names the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "#", "---\n---\n", "a: [1\n", "a:\n  b: 1\n c: 2\n", "frontends: *x\n",
		"x-a: &a {name: w, listen: ':1'}\nfrontends: [*a, *a]\n",
		"a: &a [*a]\nfrontends: *a\n", "frontends:\n- <<: [*a]\n", "? [1]\n: 2\n",
		"frontends:\n  - name: ${A:-x}\n    listen: ${B}\n", "$${", "${", "${:-}", "\t\x00\xff",
		"backends:\n- name: b\n  servers: [{address: 'h:1', weight: 1e9}]\n",
		"frontends: [{name: f, listen: ':1', rate_limits: [{rate: 1/s, burst: 0x7fffffffffffffff}]}]\n",
		"shutdown_timeout: !!binary AAAA\n", "max_connections: .inf\n", "logging: {level: [a]}\n",
		"a: |\n  ${X}\n", "frontends:\n  - &f\n    name: a\n  - *f\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz.yaml", data, func(k string) (string, bool) {
			if strings.HasPrefix(k, "U") {
				return "", false
			}
			return "v:" + k, true
		})
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
			}
			return
		}
		var es Errors
		if !errors.As(err, &es) || len(es) == 0 || cfg != nil {
			t.Fatalf("want non-empty Errors and nil config, got %T %v", err, err)
		}
		for _, e := range es {
			if e.File != "fuzz.yaml" || e.Msg == "" || e.Line < 0 || e.Col < 0 {
				t.Fatalf("bad error %#v", e)
			}
		}
	})
}
