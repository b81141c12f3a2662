package confedit

import (
	"errors"
	"testing"
)

func set(path, value string) Edit     { return Edit{Op: OpSet, Path: path, Value: []byte(value)} }
func appendE(path, value string) Edit { return Edit{Op: OpAppend, Path: path, Value: []byte(value)} }
func remove(path string) Edit         { return Edit{Op: OpRemove, Path: path} }

// Each text shape gets the change written the way the text around it is
// written, and nothing else moves.
func TestShapes(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"LISTEN": "127.0.0.1:80", "SRV": "{address: 10.9.0.1:80}"}[k]
		return v, ok
	}
	cases := []struct {
		name, in string
		edits    []Edit
		want     string
	}{
		{"CRLF line breaks are kept",
			"s:\r\n  - a: 1\r\n",
			[]Edit{set("s[0].b", "2"), appendE("s", `{"a":3}`)},
			"s:\r\n  - a: 1\r\n    b: 2\r\n  - a: 3\r\n"},
		{"no newline at the end of the file",
			"a: 1",
			[]Edit{set("b", "2")},
			"a: 1\nb: 2\n"},
		{"a flow list over several lines gets a line",
			"s: [\n  {a: 1},\n  {a: 2},\n]\n",
			[]Edit{appendE("s", `{"a":3}`)},
			"s: [\n  {a: 1},\n  {a: 2},\n  {a: 3},\n]\n"},
		{"removing the first key of a list item moves the next one up",
			"s:\n  - a: 1\n    b: 2\n",
			[]Edit{remove("s[0].a")},
			"s:\n  - b: 2\n"},
		{"removing the last item leaves an empty list",
			"s:\n  - a: 1   # c\nt: 1\n",
			[]Edit{remove("s[0]")},
			"s: []\nt: 1\n"},
		{"removing the only key leaves an empty mapping",
			"s:\n  - a: 1\n",
			[]Edit{remove("s[0].a")},
			"s:\n  - {}\n"},
		{"removing from a flow mapping takes one comma",
			"m: {a: 1, b: 2, c: 3}\n",
			[]Edit{remove("m.b"), remove("m.c")},
			"m: {a: 1}\n"},
		{"strings are quoted when they must be, $ is escaped",
			"a: x\nb: x\nc: x\nd: x\ne: x\nf: x\ng: x\nh: x\n",
			[]Edit{set("a", `"yes"`), set("b", `"k: v"`), set("c", `"${HOME}"`), set("d", `"#x"`), set("e", `"7"`),
				set("f", `"true"`), set("g", `"line\nbreak\u0007"`), set("h", `"[::1]:80"`)},
			"a: \"yes\"\nb: \"k: v\"\nc: $${HOME}\nd: \"#x\"\ne: \"7\"\nf: \"true\"\ng: \"line\\nbreak\\x07\"\nh: \"[::1]:80\"\n"},
		{"quoting of the old value is kept",
			"a: 'x'\nb: \"x\"\n",
			[]Edit{set("a", `"it's"`), set("b", `"y"`)},
			"a: 'it''s'\nb: \"y\"\n"},
		{"missing parents are created, block and flow",
			"a:\n  b: 1\nf: {x: 1}\n",
			[]Edit{set("a.c.d", `"v"`), set("f.g.z", `[1, 2]`)},
			"a:\n  b: 1\n  c:\n    d: v\nf: {x: 1, g: {z: [1, 2]}}\n"},
		{"a block item is replaced in place",
			"alerts:\n  - name: a   # first\n    when: x\n  - name: b\n",
			[]Edit{set("alerts[name=a]", `{"name":"a","when":"z","for":"1m"}`)},
			"alerts:\n  - name: a\n    when: z\n    for: 1m\n  - name: b\n"},
		{"append creates a top-level list, remove empties it",
			"backends: []\n",
			[]Edit{appendE("alerts", `{"name":"a","scope":{"backend":"web"}}`), appendE("alerts", `{"name":"b"}`), remove("alerts[name=a]")},
			"backends: []\nalerts:\n  - name: b\n"},
		{"an empty document",
			"",
			[]Edit{set("a.b", "1")},
			"a:\n  b: 1\n"},
		{"a document of comments only",
			"# just a comment\n",
			[]Edit{set("a", "1")},
			"# just a comment\na: 1\n"},
		{"lists written at the key's column stay so",
			"x:\n  s:\n  - a: 1\ny:\n  k: 1\n",
			[]Edit{appendE("x.s", `{"a":2}`), set("y.t", `[{"a":3}]`)},
			"x:\n  s:\n  - a: 1\n  - a: 2\ny:\n  k: 1\n  t:\n  - a: 3\n"},
		{"a tab before a comment, unicode before the edit",
			"# ünïcødé\nw: 1\t# tab\nv: é\n",
			[]Edit{set("w", "2"), set("v", `"ü"`)},
			"# ünïcødé\nw: 2\t# tab\nv: ü\n"},
		{"a block scalar before the new key",
			"m:\n  text: |\n    line one\n    line two\n  n: 1\no:\n  text: |\n    last\n",
			[]Edit{set("o.k", "1")},
			"m:\n  text: |\n    line one\n    line two\n  n: 1\no:\n  text: |\n    last\n  k: 1\n"},
		{"a value on the line after its key",
			"w:\n  5\n",
			[]Edit{set("w", "9")},
			"w: 9\n"},
		{"a byte-order mark stays, and is not part of the first key",
			"\ufeffa: 1\nb:\n  - x: 1\n",
			[]Edit{set("a", "2"), appendE("b", `{"x":2}`)},
			"\ufeffa: 2\nb:\n  - x: 1\n  - x: 2\n"},
		{"a document start marker",
			"---\na: 1\n",
			[]Edit{set("a", "2")},
			"---\na: 2\n"},
		{"${VAR} earlier in the text shifts nothing",
			"listen: ${LISTEN}\nw: 1\n",
			[]Edit{set("w", "2")},
			"listen: ${LISTEN}\nw: 2\n"},
		{"a value already so is not rewritten",
			"w: 0x2\n",
			[]Edit{set("w", "2")},
			"w: 0x2\n"},
		{"a block list becomes a mapping, a mapping a list",
			"a:\n  - 1\n  - 2\nb:\n  c: 1\n",
			[]Edit{set("a", `{"x":1}`), set("b", `[1]`)},
			"a:\n  x: 1\nb:\n  - 1\n"},
		{"a scalar becomes a mapping and back",
			"a: 1\nb:\n  c: 1\n",
			[]Edit{set("a", `{"x":1}`), set("b", `"s"`)},
			"a:\n  x: 1\nb: s\n"},
		{"a key through an alias is set by replacing the alias",
			"x: &v 1\ny: *v\n",
			[]Edit{set("y", "2")},
			"x: &v 1\ny: 2\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ApplyEnv([]byte(c.in), env, c.edits...)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if string(got) != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestShapeRefusals(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"SRV": "{address: 10.9.0.1:80}", "W": "3"}[k]
		return v, ok
	}
	cases := []struct {
		name, in string
		edit     Edit
		is       error
		msg      string
	}{
		{"a mapping written by ${VAR}", "s:\n  - ${SRV}\n", set("s[0].weight", "2"), ErrVar,
			"s[0].weight would be written inside ${SRV}, which cannot be written back"},
		{"a value written by ${VAR}", "w: ${W}\n", set("w", "4"), ErrVar,
			"w comes from ${W} and cannot be written back"},
		{"a multi-line plain scalar", "a: one\n  two\n", set("a", `"x"`), ErrUnsupported,
			"a: the writer cannot change a plain scalar over several lines (line 1)"},
		{"two documents", "a: 1\n---\nb: 2\n", set("a", "2"), ErrUnsupported, "the configuration has more than one YAML document"},
		{"not YAML", "a: [\n", set("a", "2"), ErrInvalid, ""},
		{"an anchor used elsewhere", "x: &v 1\ny: *v\n", set("x", "2"), ErrAlias,
			"x is in the anchor &v (line 1), which *v uses elsewhere: edit the anchor, or write the value out in place of the alias"},
		{"a key of a scalar", "a: 1\n", set("a.b", "2"), ErrInvalid, "a is a scalar, not a mapping"},
		{"append to a mapping", "a: {b: 1}\n", appendE("a", "2"), ErrInvalid, "a is a mapping, not a list"},
		{"an index past the end", "a: [1]\n", set("a[3]", "2"), ErrNotFound, "a has 1 items, no [3]"},
		{"remove what is absent", "a: 1\n", remove("b"), ErrNotFound, "b: not found"},
		{"bad op", "a: 1\n", Edit{Op: "bump", Path: "a"}, ErrInvalid, `unknown operation "bump" (want set, append or remove)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := ApplyEnv([]byte(c.in), env, c.edit)
			if !errors.Is(err, c.is) || out != nil || c.msg != "" && err.Error() != c.msg {
				t.Errorf("got %v, %q\nwant %v: %s", err, out, c.is, c.msg)
			}
		})
	}
}

// The verifier refuses a text that does not hold exactly the intended
// change, whatever the splice was.
func TestVerifyRefusesWrongSplices(t *testing.T) {
	src := []byte("a: 1\nb: [1, 2]\n")
	d, err := load(src, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p := plan{path: "a", gpath: []any{"a"}, op: OpSet, gval: int64(2)}
	for _, out := range []string{
		"a: 2\nb: [1, 2]\n",       // right
		"a: 2\nb: [1, 3]\n",       // touched another value
		"a: \"2\"\nb: [1, 2]\n",   // a string, not a number
		"a: 2\nb: [1, 2\n",        // not YAML
		"a: 2\nb: [1, 2]\nc: 0\n", // added a key
	} {
		err := verify(d, []byte(out), p, noEnv)
		if (err == nil) != (out == "a: 2\nb: [1, 2]\n") || err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: %v", out, err)
		}
	}
}
