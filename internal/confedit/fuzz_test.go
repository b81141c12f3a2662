package confedit

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/sluicelb/sluice/internal/config"
	"github.com/sluicelb/sluice/internal/state"
	"github.com/sluicelb/sluice/internal/testcert"
)

var (
	seedOnce  sync.Once
	seedFiles [][]byte
)

// configSeeds are the example configurations and the golden input.
func configSeeds(tb testing.TB) [][]byte {
	seedOnce.Do(func() {
		exampleTLSFiles(tb)
		paths, _ := filepath.Glob("../../configs/*.yaml")
		paths = append(paths, "testdata/golden_in.yaml")
		sort.Strings(paths)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err == nil {
				seedFiles = append(seedFiles, b)
			}
		}
	})
	if len(seedFiles) < 5 {
		tb.Fatalf("want the configs/ files and the golden input, got %d", len(seedFiles))
	}
	return seedFiles
}

// comparable returns a config as JSON without what names the text (file,
// raw bytes, checksum): two configs that mean the same compare equal.
func comparableJSON(tb testing.TB, c *config.Config) string {
	tb.Helper()
	cp := *c
	cp.File, cp.Raw, cp.SHA256 = "", nil, [32]byte{}
	b, err := json.Marshal(&cp)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

var addrPool = []string{"10.0.0.1:80", "10.0.0.9:80", "127.0.0.1:9001", "[::1]:8080", "[::ffff:10.0.0.1]:80", "app.internal:8080", "10.0.1.1:8080"}

// FuzzApplyConfigs applies random sequences of the admin API's server
// changes to the example configurations: Apply never panics, every text it
// returns parses and validates, and the parsed result equals the old
// configuration with exactly the intended change. A refusal (a value from
// ${VAR}, an address already there, a server that is not there) leaves the
// text as it was; a refusal for any other reason fails the target.
func FuzzApplyConfigs(f *testing.F) {
	for i := range configSeeds(f) {
		f.Add(uint8(i), []byte{0, 0, 0, 5, 3, 1, 1, 0, 0, 2, 1, 1, 4, 0, 0, 3, 2, 3})
	}
	f.Fuzz(func(t *testing.T, file uint8, ops []byte) {
		files := configSeeds(t)
		text := files[int(file)%len(files)]
		if len(ops) > 60 {
			ops = ops[:60]
		}
		for len(ops) >= 3 {
			kind, bsel, x := ops[0]%6, int(ops[1]), int(ops[2])
			ops = ops[3:]
			old, err := config.Parse("f.yaml", text)
			if err != nil {
				t.Fatalf("the text does not validate:\n%v\n%s", err, text)
			}
			if len(old.Backends) == 0 {
				return
			}
			bi := bsel % len(old.Backends)
			b := &old.Backends[bi]
			want, _ := config.Parse("f.yaml", text) // mutated into the expected result
			wb := &want.Backends[bi]
			si := -1
			if len(b.Servers) > 0 {
				si = x % len(b.Servers)
			}
			var edits []Edit
			var ok []error // refusals allowed for this edit
			switch {
			case kind == 0 && si >= 0:
				w := 1 + x%256
				edits = SetServer(b.Name, b.Servers[si].Address, &w, nil, nil)
				wb.Servers[si].Weight = w
				ok = []error{ErrVar}
			case kind == 1 && si >= 0:
				on := x&1 == 1
				edits = SetServer(b.Name, b.Servers[si].Address, nil, &on, nil)
				wb.Servers[si].Enabled = on
				ok = []error{ErrVar}
			case kind == 2 && si >= 0:
				d := x&2 == 2
				edits = SetServer(b.Name, b.Servers[si].Address, nil, nil, &d)
				wb.Servers[si].Drain = d
				ok = []error{ErrVar}
			case kind == 3:
				a := addrPool[x%len(addrPool)]
				spec := state.ServerSpec{Address: a}
				s := config.Server{Address: a, Weight: 1, Enabled: true}
				if x&8 != 0 {
					w := 1 + x%7
					spec.Weight, s.Weight = &w, w
				}
				if x&16 != 0 {
					spec.Enabled, s.Enabled = ptr(false), false
				}
				if ap, err := netip.ParseAddrPort(a); err == nil {
					s.Addrs = []netip.AddrPort{ap}
				}
				edits = AddServer(b.Name, spec)
				wb.Servers = append(wb.Servers, s)
				ok = []error{ErrExists}
			case kind == 4 && si >= 0:
				edits = RemoveServer(b.Name, b.Servers[si].Address)
				wb.Servers = append(wb.Servers[:si:si], wb.Servers[si+1:]...)
			default:
				w := 2
				edits = SetServer(b.Name, "10.255.255.255:1", &w, nil, nil)
				ok = []error{ErrNotFound}
			}
			out, err := ApplyEnv(text, noEnv, edits...)
			if err != nil {
				var ee *Error
				if !errors.As(err, &ee) || out != nil {
					t.Fatalf("%+v: error %v (%T), out %q", edits, err, err, out)
				}
				allowed := false
				for _, e := range ok {
					allowed = allowed || errors.Is(err, e)
				}
				if !allowed {
					t.Fatalf("%+v refused: %v\n%s", edits, err, text)
				}
				continue
			}
			got, err := config.Parse("f.yaml", out)
			if err != nil {
				if wrrAllZero(wb) {
					return // the change itself makes the backend invalid
				}
				t.Fatalf("%+v: the result does not validate:\n%v\n%s", edits, err, out)
			}
			if g, w := comparableJSON(t, got), comparableJSON(t, want); g != w {
				t.Fatalf("%+v: parsed result differs from the intended change\n got %s\nwant %s\ntext:\n%s", edits, g, w, out)
			}
			text = out
		}
	})
}

func wrrAllZero(b *config.Backend) bool {
	if b.Algorithm != config.AlgWeightedRoundRobin || len(b.Servers) == 0 {
		return false
	}
	for _, s := range b.Servers {
		if s.Weight > 0 {
			return false
		}
	}
	return true
}

// FuzzApplyYAML applies random edits at paths that exist (or one key past
// them) in random YAML: Apply never panics; when it returns a text, that
// text parses and, read by go-yaml's own decoder, equals the old value with
// exactly the intended change.
func FuzzApplyYAML(f *testing.F) {
	for _, s := range configSeeds(f) {
		f.Add(s, []byte{1, 2, 3, 0, 4, 1})
	}
	for _, s := range []string{
		"a: 1\nb: [1, 2]\nc: {d: e}\n",
		"s:\n  - a: 1\n    b: 2\n  - {a: 3}\n",
		"x: &a {k: v}\ny: *a\nz:\n  <<: *a\n  o: 1\n",
		"l:\n- 1\n- 2\nm: |\n  text\n",
		"k: 'q''s'\n\"d\": \"e\"\r\nn: ~\n",
		"",
		"# c\n",
		"[1, 2]\n",
	} {
		f.Add([]byte(s), []byte{0, 0, 0, 1, 1, 1, 2, 2, 2})
	}
	values := []string{`1`, `"s"`, `true`, `null`, `"yes"`, `"a: b"`, `"$x"`, `{"k":"v","n":[1,2]}`, `[]`, `{}`, `[{"a":1},{"b":"c d"}]`, `1.5`, `"#"`, `"[x]"`, `"é"`, `"\t"`}
	f.Fuzz(func(t *testing.T, src, ops []byte) {
		if len(src) > 4096 || len(ops) > 30 {
			return
		}
		for len(ops) >= 3 {
			kind, walk, vi := ops[0]%3, ops[1], int(ops[2])
			ops = ops[3:]
			before, okOld := decodeG(src)
			path, gpath := randomPath(before, walk)
			if path == "" {
				path, gpath = "k"+strconv.Itoa(int(walk%3)), []any{"k" + strconv.Itoa(int(walk%3))}
			}
			val := values[vi%len(values)]
			e := Edit{Op: []string{OpSet, OpAppend, OpRemove}[kind], Path: path}
			if e.Op != OpRemove {
				e.Value = json.RawMessage(val)
			}
			out, err := ApplyEnv(src, noEnv, e)
			if err != nil {
				var ee *Error
				if !errors.As(err, &ee) || out != nil {
					t.Fatalf("%+v: %v (%T) %q", e, err, err, out)
				}
				return
			}
			after, okNew := decodeG(out)
			if okOld && !okNew {
				t.Fatalf("%+v: the result no longer decodes:\n%s", e, out)
			}
			if okOld && okNew {
				var v any
				if e.Op != OpRemove {
					_ = json.Unmarshal([]byte(val), &v)
					v = normG(v)
				}
				want, err := expectG(before, gpath, e.Op, v)
				if err == nil && !reflect.DeepEqual(want, after) {
					t.Fatalf("%+v:\n got %#v\nwant %#v\ntext:\n%s", e, after, want, out)
				}
			}
			src = out
		}
	})
}

// decodeG decodes the expanded text with go-yaml's decoder, normalized.
func decodeG(src []byte) (any, bool) {
	exp, _ := config.Expand(src, noEnv)
	var v any
	if err := yaml.Unmarshal(exp.Text, &v); err != nil {
		return nil, false
	}
	return normG(v), true
}

// normG turns maps into map[string]any and numbers into float64.
func normG(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, y := range x {
			m[k] = normG(y)
		}
		return m
	case map[any]any:
		m := map[string]any{}
		for k, y := range x {
			m[fmt.Sprint(k)] = normG(y)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = normG(y)
		}
		return out
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		return x
	}
	return v
}

// randomPath walks v choosing keys and indexes from the bytes of walk.
func randomPath(v any, walk byte) (string, []any) {
	var segs []seg
	var g []any
	for depth := 0; depth < 4; depth++ {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				return formatPath(segs), g
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			k := keys[int(walk)%len(keys)]
			segs, g, v = append(segs, seg{key: k}), append(g, k), x[k]
		case []any:
			if len(x) == 0 || len(segs) == 0 {
				return formatPath(segs), g
			}
			i := int(walk) % len(x)
			segs, g, v = append(segs, seg{isSel: true, index: i}), append(g, i), x[i]
		default:
			return formatPath(segs), g
		}
		if walk&1 == 0 {
			break
		}
		walk = walk>>1 | walk<<7
	}
	return formatPath(segs), g
}

// expectG applies an edit to a decoded value (the test's own model).
func expectG(root any, g []any, op string, v any) (any, error) {
	if len(g) == 0 {
		return nil, errors.New("top level")
	}
	switch k := g[0].(type) {
	case string:
		m, ok := root.(map[string]any)
		if !ok {
			return nil, errors.New("not a mapping")
		}
		out := map[string]any{}
		for kk, vv := range m {
			out[kk] = vv
		}
		if len(g) == 1 {
			switch op {
			case OpSet:
				out[k] = v
			case OpRemove:
				delete(out, k)
			case OpAppend:
				l, _ := out[k].([]any)
				out[k] = append(append([]any(nil), l...), v)
			}
			return out, nil
		}
		nv, err := expectG(m[k], g[1:], op, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
		return out, nil
	case int:
		l, ok := root.([]any)
		if !ok || k >= len(l) {
			return nil, errors.New("not an item")
		}
		out := append([]any(nil), l...)
		if len(g) == 1 {
			switch op {
			case OpSet:
				out[k] = v
			case OpRemove:
				return append(out[:k], out[k+1:]...), nil
			case OpAppend:
				il, _ := out[k].([]any)
				out[k] = append(append([]any(nil), il...), v)
			}
			return out, nil
		}
		nv, err := expectG(l[k], g[1:], op, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
		return out, nil
	}
	return nil, errors.New("bad path")
}

// exampleTLSFiles makes the certificates configs/tls.yaml reads (from
// SLUICE_TLS_DIR, set for this test process): config.Parse checks them.
func exampleTLSFiles(tb testing.TB) {
	dir, err := os.MkdirTemp("", "sluice-confedit-tls")
	if err != nil {
		tb.Fatal(err)
	}
	ca := testcert.NewCA(tb, "examples")
	for name, names := range map[string][]string{"example.com": {"example.com"}, "wildcard.example.org": {"*.example.org"}} {
		l := ca.Issue(tb, names...)
		_ = os.WriteFile(filepath.Join(dir, name+".pem"), l.CertPEM, 0o600)
		_ = os.WriteFile(filepath.Join(dir, name+"-key.pem"), l.KeyPEM, 0o600)
	}
	_ = os.Setenv("SLUICE_TLS_DIR", dir)
}
