package confedit

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func ptr[T any](v T) *T { return &v }

// noEnv is an environment where nothing is set: ${VAR:-default} gives the
// default.
func noEnv(string) (string, bool) { return "", false }

// The admin API's changes, one after another, on a file with comments,
// anchors, merges, flow and block styles and ${VAR} values: the result is
// golden_out.yaml, every intermediate text is a valid configuration, and
// the lines that differ from the input are exactly the changed values.
func TestGoldenSequence(t *testing.T) {
	in, err := os.ReadFile("testdata/golden_in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name  string
		edits []Edit
	}{
		{"weight of a block server, keeping its comment", SetServer("web", "10.0.0.1:80", ptr(5), nil, nil)},
		{"drain a flow server", SetServer("web", "10.0.0.2:80", nil, nil, ptr(true))},
		{"disable a server whose address comes from ${VAR}", SetServer("api", "10.0.1.1:8080", nil, ptr(false), nil)},
		{"undrain: the key is there, its value changes", SetServer("api", "10.0.1.2:8080", nil, nil, ptr(false))},
		{"defaults already hold: nothing written", SetServer("api", "10.0.1.3:8080", ptr(1), ptr(true), ptr(false))},
		{"add to a block list", AddServer("web", state.ServerSpec{Address: "10.0.0.3:80", Weight: ptr(2)})},
		{"add to an empty flow list", AddServer("empty", state.ServerSpec{Address: "10.0.2.1:80"})},
		{"add to a backend without servers", AddServer("bare", state.ServerSpec{Address: "[::1]:8080", Enabled: ptr(false)})},
		{"remove a server", RemoveServer("api", "10.0.1.3:8080")},
		{"weight of a merged server: an own key overrides the anchor", SetServer("merged", "10.0.4.1:80", ptr(7), nil, nil)},
	}
	cur := in
	for _, s := range steps {
		out, err := ApplyEnv(cur, noEnv, s.edits...)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if _, err := config.Parse("golden.yaml", out); err != nil {
			t.Fatalf("%s: the result does not validate:\n%v\n%s", s.name, err, out)
		}
		cur = out
	}
	golden(t, "testdata/golden_out.yaml", cur)

	// Only the changed values moved: every input line is still there, in
	// order, except those the steps changed or removed.
	changed := map[string]bool{
		"        weight: 3                 # 0..256":                 true,
		`      - {address: "10.0.0.2:80", weight: 1}   # flow style`: true,
		"      drain: true":            true,
		"    - address: 10.0.1.3:8080": true,
		"    servers: []":              true,
	}
	outLines := strings.Split(string(cur), "\n")
	j := 0
	for _, l := range strings.Split(string(in), "\n") {
		if changed[l] {
			continue
		}
		for j < len(outLines) && outLines[j] != l {
			j++
		}
		if j == len(outLines) {
			t.Errorf("input line %q is missing or out of order in the output", l)
			break
		}
		j++
	}
}

// golden compares got with the file, or rewrites it under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -run %s -update to rewrite):\n--- got\n%s\n--- want\n%s", path, t.Name(), got, want)
	}
}

// Refusals on the golden file name the place and the reason, and change
// nothing.
func TestGoldenRefusals(t *testing.T) {
	in, err := os.ReadFile("testdata/golden_in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		edits []Edit
		is    error
		msg   string
	}{
		{SetServer("api", "10.0.1.1:8080", ptr(9), nil, nil), ErrVar,
			"backends[1].servers[0].weight comes from ${SLUICE_GOLDEN_WEIGHT:-2} and cannot be written back"},
		{SetServer("web", "10.9.9.9:80", ptr(9), nil, nil), ErrNotFound,
			`backends[0].servers: no item with address "10.9.9.9:80"`},
		{SetServer("nope", "10.0.0.1:80", ptr(9), nil, nil), ErrNotFound,
			`backends: no item with name "nope"`},
		{AddServer("web", state.ServerSpec{Address: "10.0.0.1:80"}), ErrExists,
			`backends[0].servers: an item with address "10.0.0.1:80" already exists (backends[0].servers[0])`},
		{RemoveServer("nope", "10.0.0.1:80"), ErrNotFound, `backends: no item with name "nope"`},
		{[]Edit{{Op: OpSet, Path: "backends[name=web].health.passive.cooldown", Value: []byte(`"1s"`)}}, ErrAlias,
			"backends[0].health.passive.cooldown is shared through the alias *health (line 31) of &health (line 5): edit the anchor, or write the value out in place of the alias"},
		{[]Edit{{Op: OpSet, Path: "backends[name=api].health.active.interval", Value: []byte(`"1s"`)}}, ErrAlias,
			"backends[1].health.active.interval is shared through the alias *health (line 41) of &health (line 5): edit the anchor, or write the value out in place of the alias"},
		{[]Edit{{Op: OpRemove, Path: "backends[name=api].health.active"}}, ErrAlias,
			"backends[1].health.active is shared through the alias *health (line 41) of &health (line 5) and cannot be removed here"},
		{[]Edit{{Op: OpRemove, Path: "x-health"}}, ErrAlias,
			"x-health holds the anchor &health (line 5), which *health uses elsewhere: edit the alias first"},
		{[]Edit{{Op: OpSet, Path: "backends[name=web].servers[0]weight", Value: []byte(`1`)}}, ErrInvalid,
			`path "backends[name=web].servers[0]weight": expected '.' or '[' at offset 29`},
		{[]Edit{{Op: OpSet, Path: "admin.listen", Value: []byte(`{"a":1,"a":2}`)}}, ErrInvalid,
			`set admin.listen: bad value: duplicate key "a"`},
	}
	for _, c := range cases {
		out, err := ApplyEnv(in, noEnv, c.edits...)
		var ee *Error
		if !errors.Is(err, c.is) || !errors.As(err, &ee) || err.Error() != c.msg || out != nil {
			t.Errorf("%+v:\n got %v (%T)\nwant %v: %s", c.edits, err, err, c.is, c.msg)
		}
	}
}
