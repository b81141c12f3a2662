package confedit

import (
	"fmt"
	"math"

	"github.com/goccy/go-yaml/ast"
)

// The verifier: after a splice, the new text is parsed again and its value
// (aliases and merges resolved, as config decodes them) must equal the old
// value with exactly the intended change. A splice that would change
// anything else is refused instead of written.

// maxGenericNodes bounds the work of expanding aliases (config refuses
// documents beyond a million values).
const maxGenericNodes = 1_000_000

type nanT struct{}

type genericBuilder struct {
	d     *document
	nodes int
}

// value returns the generic value of the whole document.
func (d *document) value() (any, error) {
	g := &genericBuilder{d: d}
	if d.root == nil {
		return nil, nil
	}
	return g.of(d.root, 0)
}

func (g *genericBuilder) of(n ast.Node, depth int) (any, error) {
	if g.nodes++; g.nodes > maxGenericNodes || depth > maxDepth {
		return nil, errShape("a document too large or too deep to verify")
	}
	n, _ = g.d.resolve(n, "")
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, nil
	case *ast.StringNode:
		return v.Value, nil
	case *ast.LiteralNode:
		if v.Value == nil {
			return "", nil
		}
		return v.Value.Value, nil
	case *ast.IntegerNode:
		switch x := v.Value.(type) {
		case int64:
			return x, nil
		case uint64:
			if x <= math.MaxInt64 {
				return int64(x), nil
			}
			return x, nil
		}
		return fmt.Sprint(v.Value), nil
	case *ast.FloatNode:
		return v.Value, nil
	case *ast.InfinityNode:
		return v.Value, nil
	case *ast.NanNode:
		return nanT{}, nil
	case *ast.BoolNode:
		return v.Value, nil
	case *ast.SequenceNode:
		out := make([]any, 0, len(v.Values))
		for _, x := range v.Values {
			y, err := g.of(x, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, y)
		}
		return out, nil
	case *ast.MappingNode:
		return g.mapping(v, depth)
	}
	return nil, errShape("a %s node", n.Type())
}

// mapping applies merge keys as internal/config does: own keys win, then
// earlier merges over later ones.
func (g *genericBuilder) mapping(m *ast.MappingNode, depth int) (map[string]any, error) {
	out := map[string]any{}
	var merges []ast.Node
	for _, mv := range m.Values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merges = append(merges, mv.Value)
			continue
		}
		kn, _ := g.d.resolve(mv.Key, "")
		if mk, ok := kn.(*ast.MappingKeyNode); ok {
			kn, _ = g.d.resolve(mk.Value, "")
		}
		k, ok := scalarText(kn)
		if !ok {
			k = fmt.Sprintf("\x00%T", kn) // not a scalar key: config refuses it; keep it comparable
		}
		if _, dup := out[k]; dup {
			continue // config refuses duplicates; the first one stands
		}
		v, err := g.of(mv.Value, depth+1)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	for _, mn := range merges {
		r, _ := g.d.resolve(mn, "")
		var srcs []ast.Node
		switch x := r.(type) {
		case *ast.MappingNode:
			srcs = []ast.Node{x}
		case *ast.SequenceNode:
			srcs = x.Values
		}
		for _, s := range srcs {
			sr, _ := g.d.resolve(s, "")
			sm, ok := sr.(*ast.MappingNode)
			if !ok {
				continue
			}
			sv, err := g.mapping(sm, depth+1)
			if err != nil {
				return nil, err
			}
			for k, v := range sv {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

// equalG compares generic values.
func equalG(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalG(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalG(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// change applies the intended edit to a generic value, following gpath
// (keys and indexes found by the walk). op: set (value), append (value to
// the list at gpath, created when missing), remove.
func change(root any, gpath []any, op string, value any) (any, error) {
	if len(gpath) == 0 {
		switch op {
		case OpSet:
			return value, nil
		case OpAppend:
			l, _ := root.([]any)
			return append(append([]any(nil), l...), value), nil
		}
		return nil, fmt.Errorf("remove at the top level")
	}
	switch k := gpath[0].(type) {
	case string:
		m, ok := root.(map[string]any)
		if !ok {
			if root != nil {
				return nil, fmt.Errorf("not a mapping")
			}
			m = map[string]any{}
		}
		out := make(map[string]any, len(m)+1)
		for kk, vv := range m {
			out[kk] = vv
		}
		if len(gpath) == 1 && op == OpRemove {
			delete(out, k)
			return out, nil
		}
		nv, err := change(m[k], gpath[1:], op, value)
		if err != nil {
			return nil, err
		}
		out[k] = nv
		return out, nil
	case int:
		l, ok := root.([]any)
		if !ok || k >= len(l) {
			return nil, fmt.Errorf("not a list item")
		}
		out := append([]any(nil), l...)
		if len(gpath) == 1 && op == OpRemove {
			return append(out[:k], out[k+1:]...), nil
		}
		nv, err := change(l[k], gpath[1:], op, value)
		if err != nil {
			return nil, err
		}
		out[k] = nv
		return out, nil
	}
	return nil, fmt.Errorf("bad path element %v", gpath[0])
}
