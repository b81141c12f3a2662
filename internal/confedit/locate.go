package confedit

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// cursor is a node reached by a path, with where it sits so that it can be
// replaced or removed.
type cursor struct {
	node   ast.Node // as written: tag, anchor or alias included; nil for an empty document
	val    ast.Node // node with tags and anchors stripped and aliases followed
	parent *cursor  // nil at the document root
	mv     *ast.MappingValueNode
	seq    *ast.SequenceNode // node is seq.Values[idx]
	idx    int
	flow   bool   // node sits inside a flow collection
	path   string // indexed path for messages: backends[0].servers[1]
	gpath  []any  // the same as keys (string) and indexes (int), for the verifier
	// shared is non-empty when node cannot be changed in place: it lies in
	// an anchor that an alias or merge uses elsewhere (the reason names it).
	shared string
	merged bool // node was found through a << merge key of its parent
}

// resolve strips tags and anchors and follows aliases, noting when the
// result is shared with other places of the document.
func (d *document) resolve(n ast.Node, shared string) (ast.Node, string) {
	for hops := 0; hops < maxDepth; hops++ {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			name := nodeName(v.Name)
			if shared == "" && d.aliased[name] > 0 {
				shared = fmt.Sprintf("is in the anchor &%s (line %d), which *%s uses elsewhere", name, v.Start.Position.Line, name)
			}
			n = v.Value
		case *ast.AliasNode:
			name := nodeName(v.Value)
			a := d.anchors[name]
			if a == nil {
				return nil, shared
			}
			if shared == "" {
				shared = fmt.Sprintf("is shared through the alias *%s (line %d) of &%s (line %d)", name, v.Start.Position.Line, name, a.Start.Position.Line)
			}
			n = a
		default:
			return n, shared
		}
	}
	return nil, shared
}

// root returns the cursor of the document body.
func (d *document) rootCursor() *cursor {
	c := &cursor{node: d.root}
	c.val, c.shared = d.resolve(d.root, "")
	return c
}

// scalarText returns the text of a scalar node (a key or a selector value).
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", true
		}
		return v.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// entry is a key of a mapping as the decoder sees it.
type entry struct {
	mv     *ast.MappingValueNode
	merged bool
	shared string
}

// lookup finds key in mapping m: its own keys first, then what "<<" merge
// keys bring in (earlier merges win), as internal/config decodes them.
func (d *document) lookup(m *ast.MappingNode, key string, depth int) (entry, bool, error) {
	if depth > maxDepth {
		return entry{}, false, errShape("merge keys nested too deeply")
	}
	var found *ast.MappingValueNode
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			continue
		}
		kn, _ := d.resolve(mv.Key, "")
		if k, ok := scalarText(kn); ok && k == key {
			if found != nil {
				return entry{}, false, errShape("the key %q twice in one mapping", key)
			}
			found = mv
		}
	}
	if found != nil {
		return entry{mv: found}, true, nil
	}
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); !ok {
			continue
		}
		v, shared := d.resolve(mv.Value, "")
		if shared == "" {
			shared = fmt.Sprintf("comes from the << merge at line %d", mv.Start.Position.Line)
		}
		var srcs []ast.Node
		switch x := v.(type) {
		case *ast.MappingNode:
			srcs = []ast.Node{x}
		case *ast.SequenceNode:
			for _, it := range x.Values {
				r, _ := d.resolve(it, "")
				srcs = append(srcs, r)
			}
		}
		for _, s := range srcs {
			sm, ok := s.(*ast.MappingNode)
			if !ok {
				continue
			}
			e, ok, err := d.lookup(sm, key, depth+1)
			if err != nil {
				return entry{}, false, err
			}
			if ok {
				return entry{mv: e.mv, merged: true, shared: shared}, true, nil
			}
		}
	}
	return entry{}, false, nil
}

// child returns the cursor of key in c (a mapping), or nil when absent.
func (d *document) childKey(c *cursor, key string) (*cursor, error) {
	m, ok := c.val.(*ast.MappingNode)
	if !ok {
		return nil, nil
	}
	e, ok, err := d.lookup(m, key, 0)
	if err != nil || !ok {
		return nil, err
	}
	n := &cursor{node: e.mv.Value, parent: c, mv: e.mv, flow: c.flow || m.IsFlowStyle,
		path: joinPath(c.path, key), gpath: appendG(c.gpath, key), shared: c.shared, merged: e.merged}
	if n.shared == "" {
		n.shared = e.shared
	}
	n.val, n.shared = d.resolve(e.mv.Value, n.shared)
	return n, nil
}

// childItem returns the cursor of item i of c (a sequence).
func (d *document) childItem(c *cursor, i int) *cursor {
	s := c.val.(*ast.SequenceNode)
	n := &cursor{node: s.Values[i], parent: c, seq: s, idx: i, flow: c.flow || s.IsFlowStyle,
		path: c.path + "[" + strconv.Itoa(i) + "]", gpath: appendG(c.gpath, i), shared: c.shared}
	n.val, n.shared = d.resolve(s.Values[i], n.shared)
	return n
}

func joinPath(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

func appendG(g []any, x any) []any {
	return append(append(make([]any, 0, len(g)+1), g...), x)
}

// selectItem returns the item of sequence cursor c that s selects.
func (d *document) selectItem(c *cursor, s seg) (*cursor, error) {
	sq, ok := c.val.(*ast.SequenceNode)
	if !ok {
		return nil, &Error{Path: c.path, Err: ErrNotFound, Msg: fmt.Sprintf("%s is not a list", pathOr(c.path))}
	}
	if s.selKey == "" {
		if s.index >= len(sq.Values) {
			return nil, &Error{Path: c.path, Err: ErrNotFound, Msg: fmt.Sprintf("%s has %d items, no [%d]", pathOr(c.path), len(sq.Values), s.index)}
		}
		return d.childItem(c, s.index), nil
	}
	i, err := d.findItem(sq, s.selKey, s.selVal)
	if err != nil {
		return nil, &Error{Path: c.path, Err: ErrInvalid, Msg: fmt.Sprintf("%s: %v", pathOr(c.path), err)}
	}
	if i < 0 {
		return nil, &Error{Path: c.path, Err: ErrNotFound, Msg: fmt.Sprintf("%s: no item with %s %q", pathOr(c.path), s.selKey, s.selVal)}
	}
	return d.childItem(c, i), nil
}

// findItem returns the index of the item of sq whose key equals val, or
// -1. An exact match wins; otherwise the same value written differently
// (host case, an IPv4-mapped address) matches. Two matches are an error.
func (d *document) findItem(sq *ast.SequenceNode, key, val string) (int, error) {
	exact, loose := -1, -1
	nLoose := 0
	for i, it := range sq.Values {
		m, _ := d.resolve(it, "")
		mm, ok := m.(*ast.MappingNode)
		if !ok {
			continue
		}
		e, ok, err := d.lookup(mm, key, 0)
		if err != nil {
			return -1, err
		}
		if !ok {
			continue
		}
		vn, _ := d.resolve(e.mv.Value, "")
		t, ok := scalarText(vn)
		if !ok {
			continue
		}
		if t == val {
			if exact >= 0 {
				return -1, fmt.Errorf("items [%d] and [%d] both have %s %q", exact, i, key, val)
			}
			exact = i
		} else if sameValue(t, val) {
			loose = i
			nLoose++
		}
	}
	if exact >= 0 {
		return exact, nil
	}
	if nLoose > 1 {
		return -1, fmt.Errorf("several items have a %s like %q", key, val)
	}
	return loose, nil
}

// sameValue compares selector values loosely: case-insensitively, and as
// host:port with IPv4-mapped addresses unmapped (as config's duplicate
// check does).
func sameValue(a, b string) bool {
	if strings.EqualFold(a, b) {
		return true
	}
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && x.Port() == y.Port() && x.Addr().Unmap() == y.Addr().Unmap()
}

func pathOr(p string) string {
	if p == "" {
		return "the top level"
	}
	return p
}

// walk follows segs from the root as far as they exist. It returns the
// deepest cursor reached and the segments left (empty when the whole path
// exists). A selector that matches nothing is ErrNotFound.
func (d *document) walk(segs []seg) (*cursor, []seg, error) {
	c := d.rootCursor()
	for i, s := range segs {
		if c.val == nil && c.node != nil {
			return nil, nil, &Error{Path: c.path, Err: ErrInvalid, Msg: fmt.Sprintf("%s: unknown alias", pathOr(c.path))}
		}
		if s.isSel {
			n, err := d.selectItem(c, s)
			if err != nil {
				return nil, nil, err
			}
			c = n
			continue
		}
		n, err := d.childKey(c, s.key)
		if err != nil {
			return nil, nil, wrapShape(c.path, err)
		}
		if n == nil {
			return c, segs[i:], nil
		}
		c = n
	}
	return c, nil, nil
}
