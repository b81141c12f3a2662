package confedit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/goccy/go-yaml/ast"
)

// Edit operations.
const (
	// OpSet writes Value at Path: it replaces the value there, or creates
	// the key (and missing parent keys) in the surrounding style.
	OpSet = "set"
	// OpAppend adds Value as the last item of the list at Path, creating
	// the list when the key is absent or empty.
	OpAppend = "append"
	// OpRemove deletes the key or list item at Path.
	OpRemove = "remove"
)

// Edit is one change to a configuration text. It is plain data and
// round-trips through JSON, so a list of edits can be stored (the state_dir
// overlay of a read-only file) and applied again later: an edit that no
// longer fits the text fails with ErrNotFound, ErrExists or ErrVar and
// changes nothing.
type Edit struct {
	Op string `json:"op"`
	// Path names the place: keys joined by dots, list items by index "[0]"
	// or by a key's value "[name=web]" (bare, brackets balanced:
	// "[address=[::1]:80]", or a JSON string: "[address=\"a.b\"]").
	// Example: backends[name=web].servers[address=10.0.0.1:80].weight.
	Path string `json:"path"`
	// Value (set, append) is a JSON value: a scalar, an object (written as a
	// mapping, keys in the given order) or an array.
	Value json.RawMessage `json:"value,omitempty"`
	// Default (set): when the key is absent and Value equals Default,
	// nothing is written (the file already says it).
	Default json.RawMessage `json:"default,omitempty"`
	// Unique (append): the key that names the list's items ("address",
	// "name"); appending an item whose value of that key is already taken
	// fails with ErrExists.
	Unique string `json:"unique,omitempty"`
}

// Errors, matched with errors.Is on what Apply returns (an *Error).
var (
	// ErrNotFound: a path names a backend, server, key or item that the
	// text does not have.
	ErrNotFound = errors.New("not found")
	// ErrExists: an append would add an item whose Unique key is taken.
	ErrExists = errors.New("already exists")
	// ErrVar: the value to change (or the place to write) came from a
	// ${VAR} reference, which cannot be written back.
	ErrVar = errors.New("comes from an environment variable")
	// ErrAlias: the change would alter a node shared through a YAML anchor
	// with other places (an alias or a merge uses it), or remove a key that
	// only a << merge provides. Edits are refused rather than made in a way
	// that changes something else too.
	ErrAlias = errors.New("shared through a YAML anchor")
	// ErrInvalid: a bad path or value, or a text that is not YAML.
	ErrInvalid = errors.New("invalid edit")
	// ErrUnsupported: a text shape the writer does not splice (a multi-line
	// plain scalar, several documents...), or a splice that the verifier
	// found would change more than intended.
	ErrUnsupported = errors.New("cannot be spliced")
)

// Error is a refused edit. Msg is a full sentence naming the place.
type Error struct {
	Index int    // position of the edit in the Apply call
	Edit  Edit   // the edit
	Path  string // the place in indexed form, as config's messages write it: backends[0].servers[1].weight
	Err   error  // one of the Err* values
	Msg   string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// shapeError is an ErrUnsupported found deep in the text; wrapShape turns it
// into an *Error.
type shapeError struct{ msg string }

func (e *shapeError) Error() string { return e.msg }

func errShape(format string, args ...any) error {
	return &shapeError{msg: fmt.Sprintf(format, args...)}
}

func wrapShape(path string, err error) error {
	var se *shapeError
	if errors.As(err, &se) {
		return &Error{Path: path, Err: ErrUnsupported, Msg: fmt.Sprintf("%s: the writer cannot change %s", pathOr(path), se.msg)}
	}
	return err
}

// Apply applies edits in order to a configuration text, expanding ${VAR}
// from the process environment as config.Parse does, and returns the new
// text. It is all-or-nothing: on error src is unchanged and the error is an
// *Error. Only the bytes of the changed values move: comments, key order,
// anchors, quoting and every untouched line stay as they were. Each edit's
// result is parsed again and checked to hold exactly the intended change.
func Apply(src []byte, edits ...Edit) ([]byte, error) {
	return ApplyEnv(src, os.LookupEnv, edits...)
}

// ApplyEnv is Apply with lookup as the environment.
func ApplyEnv(src []byte, lookup func(string) (string, bool), edits ...Edit) ([]byte, error) {
	out := src
	for i, e := range edits {
		next, err := applyOne(out, lookup, e)
		if err != nil {
			var ee *Error
			if !errors.As(err, &ee) {
				ee = &Error{Err: ErrUnsupported, Msg: err.Error()}
			}
			ee.Index, ee.Edit = i, e
			return nil, ee
		}
		out = next
	}
	return out, nil
}

func invalid(path, format string, args ...any) error {
	return &Error{Path: path, Err: ErrInvalid, Msg: fmt.Sprintf(format, args...)}
}

func applyOne(src []byte, lookup func(string) (string, bool), e Edit) ([]byte, error) {
	segs, err := parsePath(e.Path)
	if err != nil {
		return nil, invalid("", "%v", err)
	}
	var val, def *jv
	switch e.Op {
	case OpSet, OpAppend:
		if val, err = parseJSON(e.Value); err != nil {
			return nil, invalid(e.Path, "%s %s: bad value: %v", e.Op, e.Path, err)
		}
		if len(e.Default) > 0 {
			if def, err = parseJSON(e.Default); err != nil {
				return nil, invalid(e.Path, "%s %s: bad default: %v", e.Op, e.Path, err)
			}
		}
	case OpRemove:
	default:
		return nil, invalid(e.Path, "unknown operation %q (want set, append or remove)", e.Op)
	}
	d, err := load(src, lookup)
	if err != nil {
		return nil, err
	}
	ed := &editor{d: d, r: renderer{st: d.learnStyle()}}
	p, err := ed.plan(e, segs, val, def)
	if err != nil {
		return nil, err
	}
	if p.sp == nil {
		return src, nil // already so
	}
	out, err := ed.splice(p)
	if err != nil {
		return nil, err
	}
	if err := verify(d, out, p, lookup); err != nil {
		return nil, err
	}
	return out, nil
}

// verify checks that out (the spliced text) holds the value of d with
// exactly the change p: the safety net under every splice.
func verify(d *document, out []byte, p plan, lookup func(string) (string, bool)) error {
	d2, err := load(out, lookup)
	if err != nil {
		return &Error{Path: p.path, Err: ErrUnsupported, Msg: fmt.Sprintf("%s: the writer produced a text that does not parse (%v); nothing was changed", pathOr(p.path), err)}
	}
	old, err1 := d.value()
	got, err2 := d2.value()
	want, err3 := change(old, p.gpath, p.op, p.gval)
	if err1 != nil || err2 != nil || err3 != nil || !equalG(want, got) {
		return &Error{Path: p.path, Err: ErrUnsupported, Msg: fmt.Sprintf("%s: the writer could not make this change without touching other values; nothing was changed", pathOr(p.path))}
	}
	return nil
}

// plan is one planned splice and the change it must make.
type plan struct {
	sp    *splice // nil: nothing to do
	path  string
	gpath []any
	op    string
	gval  any
}

func (ed *editor) plan(e Edit, segs []seg, val, def *jv) (plan, error) {
	d := ed.d
	c, rest, err := d.walk(segs)
	if err != nil {
		return plan{}, err
	}
	for _, s := range rest {
		if s.isSel {
			return plan{}, &Error{Path: c.path, Err: ErrNotFound, Msg: fmt.Sprintf("%s: no key %q", pathOr(c.path), rest[0].key)}
		}
	}
	keys := make([]any, len(rest))
	for i, s := range rest {
		keys[i] = s.key
	}
	p := plan{path: c.path, gpath: append(append([]any(nil), c.gpath...), keys...), op: e.Op}
	if val != nil {
		p.gval = val.generic()
	}
	if len(rest) > 0 {
		p.path = joinPath(c.path, formatPath(rest))
	}
	wrap := func(sp *splice, err error) (plan, error) {
		if err != nil {
			return plan{}, wrapShape(p.path, err)
		}
		p.sp = sp
		return p, nil
	}
	switch e.Op {
	case OpRemove:
		if len(rest) > 0 {
			return plan{}, &Error{Path: p.path, Err: ErrNotFound, Msg: fmt.Sprintf("%s: not found", p.path)}
		}
		if c.merged {
			return plan{}, &Error{Path: p.path, Err: ErrAlias, Msg: fmt.Sprintf("%s %s and cannot be removed here", p.path, c.shared)}
		}
		if c.parent != nil && c.parent.shared != "" {
			return plan{}, aliasErr(p.path, c.parent)
		}
		if err := d.anchorsUsedOutside(c.node, p.path); err != nil {
			return plan{}, err
		}
		if c.mv != nil {
			return wrap(ed.removeEntry(c))
		}
		return wrap(ed.removeItem(c))

	case OpSet:
		if len(rest) == 0 {
			if cur, err := d.genericOf(c.node); err == nil && equalG(cur, p.gval) {
				return p, nil // already so
			}
			if c.merged && c.parent.shared == "" {
				// The key comes only from a << merge: an own key overrides it
				// and leaves the anchor alone.
				return wrap(ed.insertKey(c.parent, segs[len(segs)-1].key, val))
			}
			if c.shared != "" && !isAlias(c.node) || c.parent.shared != "" {
				return plan{}, aliasErr(p.path, c)
			}
			if err := d.anchorsUsedOutside(c.node, p.path); err != nil {
				return plan{}, err
			}
			return wrap(ed.replaceValue(c)(val))
		}
		if def != nil && len(rest) == 1 && val.equal(def) {
			return p, nil // absent means the default
		}
		return ed.create(p, c, rest, val, wrap)

	case OpAppend:
		if e.Unique != "" && (val.kind != 'o' || val.field(e.Unique) == nil || val.field(e.Unique).isCollection()) {
			return plan{}, invalid(p.path, "append %s: the value must be a mapping with a scalar %q", e.Path, e.Unique)
		}
		if len(rest) > 0 {
			p.gpath, p.op, p.gval = append(append([]any(nil), c.gpath...), keys...), OpSet, []any{val.generic()}
			return ed.create(p, c, rest, &jv{kind: 'a', vals: []*jv{val}}, wrap)
		}
		if c.shared != "" {
			return plan{}, aliasErr(p.path, c)
		}
		switch sq := c.val.(type) {
		case *ast.SequenceNode:
			if e.Unique != "" {
				want := scalarString(val.field(e.Unique))
				i, err := d.findItem(sq, e.Unique, want)
				if err != nil {
					return plan{}, invalid(p.path, "%s: %v", p.path, err)
				}
				if i >= 0 {
					return plan{}, &Error{Path: p.path, Err: ErrExists, Msg: fmt.Sprintf("%s: an item with %s %q already exists (%s[%d])", p.path, e.Unique, want, p.path, i)}
				}
			}
			return wrap(ed.appendItem(c, val))
		case nil, *ast.NullNode:
			p.op, p.gval = OpSet, []any{val.generic()}
			return wrap(ed.replaceValue(c)(&jv{kind: 'a', vals: []*jv{val}}))
		}
		return plan{}, invalid(p.path, "%s is %s, not a list", p.path, kindOf(c.val))
	}
	return plan{}, invalid(p.path, "unknown operation %q", e.Op)
}

// create plans writing the keys of rest (absent) under cursor c.
func (ed *editor) create(p plan, c *cursor, rest []seg, val *jv, wrap func(*splice, error) (plan, error)) (plan, error) {
	if c.shared != "" {
		return plan{}, aliasErr(p.path, c)
	}
	switch c.val.(type) {
	case *ast.MappingNode:
		return wrap(ed.insertKey(c, rest[0].key, nest(rest[1:], val)))
	case nil, *ast.NullNode:
		if c.parent == nil {
			if ed.d.root != nil {
				return plan{}, invalid(p.path, "the document is null, not a mapping")
			}
			return wrap(ed.insertTop(rest[0].key, nest(rest[1:], val)), nil)
		}
		return wrap(ed.replaceValue(c)(nest(rest, val)))
	}
	return plan{}, invalid(p.path, "%s is %s, not a mapping", pathOr(c.path), kindOf(c.val))
}

// isAlias reports whether n is an alias (replacing it leaves the anchor
// alone).
func isAlias(n ast.Node) bool {
	_, ok := n.(*ast.AliasNode)
	return ok
}

// anchorsUsedOutside refuses replacing or removing n when an anchor
// defined inside it is used by an alias outside it (the alias would dangle
// or change).
func (d *document) anchorsUsedOutside(n ast.Node, path string) error {
	defs := map[string]int{} // anchor → line
	inner := map[string]int{}
	var walk func(n ast.Node, depth int)
	walk = func(n ast.Node, depth int) {
		if n == nil || depth > maxDepth {
			return
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			defs[nodeName(v.Name)] = v.Start.Position.Line
			walk(v.Value, depth+1)
		case *ast.AliasNode:
			inner[nodeName(v.Value)]++
		case *ast.TagNode:
			walk(v.Value, depth+1)
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv.Key, depth+1)
				walk(mv.Value, depth+1)
			}
		case *ast.MappingValueNode:
			walk(v.Key, depth+1)
			walk(v.Value, depth+1)
		case *ast.SequenceNode:
			for _, x := range v.Values {
				walk(x, depth+1)
			}
		}
	}
	walk(n, 0)
	for name, line := range defs {
		if d.aliased[name] > inner[name] {
			return &Error{Path: path, Err: ErrAlias, Msg: fmt.Sprintf("%s holds the anchor &%s (line %d), which *%s uses elsewhere: edit the alias first", path, name, line, name)}
		}
	}
	return nil
}

func aliasErr(path string, c *cursor) error {
	return &Error{Path: path, Err: ErrAlias, Msg: fmt.Sprintf("%s %s: edit the anchor, or write the value out in place of the alias", path, c.shared)}
}

// genericOf returns the generic value of one node.
func (d *document) genericOf(n ast.Node) (any, error) {
	g := &genericBuilder{d: d}
	return g.of(n, 0)
}

func scalarString(v *jv) string {
	switch v.kind {
	case 's', 'n':
		return v.str
	case 'b':
		return strconv.FormatBool(v.b)
	}
	return "null"
}

func kindOf(n ast.Node) string {
	switch v := n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case nil, *ast.NullNode:
		return "empty"
	default:
		_ = v
		return "a scalar"
	}
}

// splice checks p against ${VAR} references and applies it to the
// original text.
func (ed *editor) splice(p plan) ([]byte, error) {
	d, sp := ed.d, p.sp
	if !sp.allowVar || sp.start == sp.end {
		if s := d.varIn(sp.start, sp.end); s != nil && sp.start != sp.end {
			return nil, &Error{Path: p.path, Err: ErrVar, Msg: fmt.Sprintf("%s comes from %s and cannot be written back", p.path, s.Ref)}
		}
	}
	os, inVar := d.origOff(sp.start)
	if inVar != nil {
		return nil, &Error{Path: p.path, Err: ErrVar, Msg: fmt.Sprintf("%s would be written inside %s, which cannot be written back", p.path, inVar.Ref)}
	}
	oe, inVar := d.origOff(sp.end)
	if inVar != nil {
		return nil, &Error{Path: p.path, Err: ErrVar, Msg: fmt.Sprintf("%s comes from %s and cannot be written back", p.path, inVar.Ref)}
	}
	out := make([]byte, 0, len(d.src)+len(sp.text))
	out = append(out, d.src[:os]...)
	out = append(out, sp.text...)
	return append(out, d.src[oe:]...), nil
}
