package confedit

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Node extents. startOf and endOf return byte offsets in the expanded text
// of where a node's text begins and ends (exclusive), anchors and tags
// included. flow tells endOf that n sits inside a flow collection, where a
// plain scalar also ends at , [ ] { }.

func (d *document) startOf(n ast.Node) (int, error) {
	switch v := n.(type) {
	case nil:
		return 0, errShape("a missing node")
	case *ast.AnchorNode:
		return d.tokAt(v.Start, "&")
	case *ast.TagNode:
		return d.tokAt(v.Start, "!")
	case *ast.AliasNode:
		return d.tokAt(v.Start, "*")
	case *ast.MappingNode:
		if v.IsFlowStyle {
			return d.tokAt(v.Start, "{")
		}
		if len(v.Values) == 0 {
			return 0, errShape("an empty block mapping")
		}
		return d.startOf(v.Values[0])
	case *ast.MappingValueNode:
		return d.startOf(v.Key)
	case *ast.MappingKeyNode:
		return d.tokAt(v.Start, "?")
	case *ast.MergeKeyNode:
		return d.tokAt(v.Token, "<<")
	case *ast.SequenceNode:
		if v.IsFlowStyle {
			return d.tokAt(v.Start, "[")
		}
		if len(v.Entries) == 0 {
			return 0, errShape("an empty block sequence")
		}
		return d.tokAt(v.Entries[0].Start, "-")
	case *ast.LiteralNode:
		off, err := d.tokOff(v.Start)
		if err == nil && (off >= len(d.text) || d.text[off] != '|' && d.text[off] != '>') {
			err = errShape("block scalar indicator expected at line %d", v.Start.Position.Line)
		}
		return off, err
	case *ast.NullNode:
		if isImplicitNull(d, v) {
			return 0, errShape("an empty value")
		}
		return d.tokAt(v.Token, v.Token.Value)
	case *ast.StringNode:
		switch v.Token.Type {
		case token.SingleQuoteType:
			return d.tokAt(v.Token, "'")
		case token.DoubleQuoteType:
			return d.tokAt(v.Token, `"`)
		}
		if v.Value == "" {
			return 0, errShape("an empty plain scalar")
		}
		return d.tokAt(v.Token, v.Value[:1])
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		tk := n.GetToken()
		return d.tokAt(tk, tk.Value)
	}
	return 0, errShape("a %s node", n.Type())
}

// isImplicitNull reports whether n is the empty value of "key:" or "-"
// (go-yaml gives it a token where the value would be, or at the ':').
func isImplicitNull(d *document, n *ast.NullNode) bool {
	tk := n.Token
	if tk == nil || tk.Position == nil {
		return true
	}
	off, err := d.tokOff(tk)
	if err != nil {
		return true
	}
	rest := d.text[off:]
	for _, lit := range []string{"null", "Null", "NULL", "~"} {
		if strings.HasPrefix(string(rest[:min(len(rest), 4)]), lit) && tk.Value == lit {
			return false
		}
	}
	return true
}

func (d *document) endOf(n ast.Node, flow bool) (int, error) {
	switch v := n.(type) {
	case nil:
		return 0, errShape("a missing node")
	case *ast.AnchorNode:
		if v.Value == nil || isNullish(d, v.Value) {
			off, err := d.tokAt(v.Name.GetToken(), nodeName(v.Name))
			return off + len(nodeName(v.Name)), err
		}
		return d.endOf(v.Value, flow)
	case *ast.TagNode:
		if v.Value == nil || isNullish(d, v.Value) {
			off, err := d.tokAt(v.Start, v.Start.Value)
			return off + len(v.Start.Value), err
		}
		return d.endOf(v.Value, flow)
	case *ast.AliasNode:
		off, err := d.tokAt(v.Start, "*"+nodeName(v.Value))
		return off + 1 + len(nodeName(v.Value)), err
	case *ast.MappingNode:
		if v.IsFlowStyle {
			off, err := d.tokAt(v.End, "}")
			return off + 1, err
		}
		if len(v.Values) == 0 {
			return 0, errShape("an empty block mapping")
		}
		return d.endOf(v.Values[len(v.Values)-1], flow)
	case *ast.MappingValueNode:
		if isNullish(d, v.Value) {
			off, err := d.tokAt(v.Start, ":")
			return off + 1, err
		}
		return d.endOf(v.Value, flow || v.IsFlowStyle)
	case *ast.SequenceNode:
		if v.IsFlowStyle {
			off, err := d.tokAt(v.End, "]")
			return off + 1, err
		}
		if len(v.Values) == 0 || len(v.Entries) != len(v.Values) {
			return 0, errShape("a block sequence without entries")
		}
		last := v.Values[len(v.Values)-1]
		if isNullish(d, last) {
			off, err := d.tokAt(v.Entries[len(v.Entries)-1].Start, "-")
			return off + 1, err
		}
		return d.endOf(last, flow)
	case *ast.LiteralNode:
		return d.literalEnd(v)
	case *ast.StringNode:
		start, err := d.startOf(v)
		if err != nil {
			return 0, err
		}
		switch v.Token.Type {
		case token.SingleQuoteType, token.DoubleQuoteType:
			return d.quotedEnd(start)
		}
		return d.plainEnd(start, flow, v.Value)
	case *ast.NullNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		start, err := d.startOf(v)
		if err != nil {
			return 0, err
		}
		return d.plainEnd(start, flow, n.GetToken().Value)
	}
	return 0, errShape("a %s node", n.Type())
}

// isNullish reports whether n is an implicit (empty) null.
func isNullish(d *document, n ast.Node) bool {
	nn, ok := n.(*ast.NullNode)
	return n == nil || ok && isImplicitNull(d, nn)
}

// plainEnd scans a one-line plain scalar from start and checks it reads as
// want (a multi-line plain scalar is not spliced).
func (d *document) plainEnd(start int, flow bool, want string) (int, error) {
	t := d.text
	i := start
	for i < len(t) {
		c := t[i]
		if c == '\n' || c == '\r' {
			break
		}
		if c == '#' && i > start && (t[i-1] == ' ' || t[i-1] == '\t') {
			break
		}
		if c == ':' && (i+1 == len(t) || isBlank(t[i+1]) || flow && isFlowIndicator(t[i+1])) {
			break
		}
		if flow && isFlowIndicator(c) {
			break
		}
		i++
	}
	for i > start && (t[i-1] == ' ' || t[i-1] == '\t') {
		i--
	}
	if string(t[start:i]) != want {
		return 0, errShape("a plain scalar over several lines (line %d)", d.lineOf(start)+1)
	}
	return i, nil
}

func isBlank(c byte) bool         { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isFlowIndicator(c byte) bool { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' }

// quotedEnd scans a single- or double-quoted scalar starting at start.
func (d *document) quotedEnd(start int) (int, error) {
	t := d.text
	q := t[start]
	for i := start + 1; i < len(t); i++ {
		switch {
		case q == '"' && t[i] == '\\':
			i++
		case t[i] == q && q == '\'' && i+1 < len(t) && t[i+1] == '\'':
			i++
		case t[i] == q:
			return i + 1, nil
		}
	}
	return 0, errShape("an unterminated quoted scalar (line %d)", d.lineOf(start)+1)
}

// literalEnd is the end of the last content line of a | or > block scalar.
func (d *document) literalEnd(v *ast.LiteralNode) (int, error) {
	ind, err := d.startOf(v)
	if err != nil {
		return 0, err
	}
	cs := d.lineEnd(ind)
	if v.Value == nil || v.Value.Token == nil {
		return 0, errShape("a block scalar without content (line %d)", d.lineOf(ind)+1)
	}
	o := v.Value.Token.Origin
	if cs+len(o) > len(d.text) || string(d.text[cs:cs+len(o)]) != o {
		return 0, errShape("a block scalar whose text could not be located (line %d)", d.lineOf(ind)+1)
	}
	end := cs + len(o)
	for end > cs && isBlank(d.text[end-1]) {
		end--
	}
	if end == cs { // no content: the indicator line
		end = ind + len(v.Start.Value)
	}
	return end, nil
}
