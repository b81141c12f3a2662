package confedit

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// splice is one text change, in offsets of the expanded text.
type splice struct {
	start, end int
	text       string
	// removing text that holds a ${VAR} reference is allowed (the reference
	// goes with the item); replacing a value that came from one is not.
	allowVar bool
}

// editor plans one edit on one document.
type editor struct {
	d *document
	r renderer
}

// pad returns n spaces.
func pad(n int) string { return strings.Repeat(" ", n) }

// blockCol is the column of off, which must be preceded on its line only by
// spaces and "-" indicators (ASCII, so bytes are columns).
func (e *editor) blockCol(off int) (int, error) {
	d := e.d
	ls := d.lines[d.lineOf(off)]
	for i := ls; i < off; i++ {
		if c := d.text[i]; c != ' ' && c != '-' {
			return 0, errShape("a key or item that does not start its line (line %d)", d.lineOf(off)+1)
		}
	}
	return off - ls, nil
}

// insertAtLineEnd builds the splice that adds text (whole lines) after the
// line holding off.
func (e *editor) insertAtLineEnd(off int, text string) *splice {
	p := e.d.lineEnd(off)
	if p == len(e.d.text) && p > 0 && e.d.text[p-1] != '\n' {
		text = e.r.st.nl + text
	}
	return &splice{start: p, end: p, text: text}
}

// quoteOf returns the quote character of a quoted string scalar, or 0.
func quoteOf(n ast.Node) byte {
	if s, ok := n.(*ast.StringNode); ok && s.Token != nil {
		switch s.Token.Type {
		case token.SingleQuoteType:
			return '\''
		case token.DoubleQuoteType:
			return '"'
		}
	}
	return 0
}

// isFlowColl reports whether n is a flow mapping or sequence.
func isFlowColl(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.IsFlowStyle
	case *ast.SequenceNode:
		return v.IsFlowStyle
	}
	return false
}

// isBlockColl reports whether n is a block mapping or sequence.
func isBlockColl(n ast.Node) bool {
	switch v := n.(type) {
	case *ast.MappingNode:
		return !v.IsFlowStyle
	case *ast.SequenceNode:
		return !v.IsFlowStyle
	}
	return false
}

// sameKind reports whether the block collection n and the value v are both
// mappings or both lists.
func sameKind(n ast.Node, v *jv) bool {
	switch n.(type) {
	case *ast.MappingNode:
		return v.kind == 'o'
	case *ast.SequenceNode:
		return v.kind == 'a'
	}
	return false
}

// oneLine writes v for a flow context, or a scalar keeping quote.
func (e *editor) oneLine(v *jv, ctx int, quote byte) string {
	if v.isCollection() {
		return e.r.flow(v)
	}
	return e.r.scalar(v, ctx, quote)
}

// replaceValue plans writing v in place of the value of c.
func (e *editor) replaceValue(c *cursor) func(v *jv) (*splice, error) {
	return func(v *jv) (*splice, error) {
		d := e.d
		switch {
		case c.mv != nil:
			return e.replaceMappingValue(c, v)
		case c.seq != nil && c.flow:
			s, err := d.startOf(c.node)
			if err != nil {
				return nil, err
			}
			end, err := d.endOf(c.node, true)
			if err != nil {
				return nil, err
			}
			return &splice{start: s, end: end, text: e.oneLine(v, ctxFlow, quoteOf(c.val))}, nil
		case c.seq != nil:
			return e.replaceItem(c, v)
		}
		return nil, errShape("a change of the whole document")
	}
}

func (e *editor) replaceMappingValue(c *cursor, v *jv) (*splice, error) {
	d, mv := e.d, c.mv
	colon, err := d.tokAt(mv.Start, ":")
	if err != nil {
		return nil, err
	}
	if c.flow {
		if isNullish(d, mv.Value) {
			return &splice{start: colon + 1, end: colon + 1, text: " " + e.oneLine(v, ctxFlow, 0)}, nil
		}
		s, err := d.startOf(mv.Value)
		if err != nil {
			return nil, err
		}
		end, err := d.endOf(mv.Value, true)
		if err != nil {
			return nil, err
		}
		return &splice{start: s, end: end, text: e.oneLine(v, ctxFlow, quoteOf(c.val))}, nil
	}
	ks, err := d.startOf(mv)
	if err != nil {
		return nil, err
	}
	keyCol, err := e.blockCol(ks)
	if err != nil {
		return nil, err
	}
	if isNullish(d, mv.Value) {
		return &splice{start: colon + 1, end: colon + 1, text: e.r.afterColon(v, keyCol)}, nil
	}
	s, err := d.startOf(mv.Value)
	if err != nil {
		return nil, err
	}
	end, err := d.endOf(mv.Value, false)
	if err != nil {
		return nil, err
	}
	oldInline := d.lineOf(s) == d.lineOf(colon)
	switch {
	case oldInline && (inline(v) || isFlowColl(c.val)):
		return &splice{start: s, end: end, text: e.oneLine(v, ctxBlock, quoteOf(c.val))}, nil
	case !oldInline && !inline(v) && isBlockColl(c.val) && sameKind(c.val, v) && d.col(s) > keyCol-boolInt(v.kind == 'a'):
		var b strings.Builder
		e.r.block(&b, v, d.col(s))
		return &splice{start: s, end: end, text: b.String()}, nil
	}
	return &splice{start: colon + 1, end: end, text: e.r.afterColon(v, keyCol)}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *editor) replaceItem(c *cursor, v *jv) (*splice, error) {
	d := e.d
	if c.idx >= len(c.seq.Entries) {
		return nil, errShape("a list item without its dash")
	}
	dash, err := d.tokAt(c.seq.Entries[c.idx].Start, "-")
	if err != nil {
		return nil, err
	}
	dashCol, err := e.blockCol(dash)
	if err != nil {
		return nil, err
	}
	if isNullish(d, c.node) {
		return &splice{start: dash + 1, end: dash + 1, text: e.r.afterDash(v, dashCol)}, nil
	}
	s, err := d.startOf(c.node)
	if err != nil {
		return nil, err
	}
	end, err := d.endOf(c.node, false)
	if err != nil {
		return nil, err
	}
	oldInline := d.lineOf(s) == d.lineOf(dash)
	switch {
	case oldInline && !isBlockColl(c.val) && (inline(v) || isFlowColl(c.val)):
		return &splice{start: s, end: end, text: e.oneLine(v, ctxBlock, quoteOf(c.val))}, nil
	case oldInline && isBlockColl(c.val) && !inline(v) && sameKind(c.val, v):
		var b strings.Builder
		e.r.block(&b, v, d.col(s))
		return &splice{start: s, end: end, text: b.String()}, nil
	}
	return &splice{start: dash + 1, end: end, text: e.r.afterDash(v, dashCol)}, nil
}

// flowSpan is the extent of one entry of a flow collection.
type flowSpan struct{ start, end int }

func (e *editor) flowSpans(n ast.Node) ([]flowSpan, error) {
	d := e.d
	var out []flowSpan
	switch v := n.(type) {
	case *ast.MappingNode:
		for _, mv := range v.Values {
			s, err := d.startOf(mv)
			if err != nil {
				return nil, err
			}
			end, err := d.endOf(mv, true)
			if err != nil {
				return nil, err
			}
			out = append(out, flowSpan{s, end})
		}
	case *ast.SequenceNode:
		for _, it := range v.Values {
			s, err := d.startOf(it)
			if err != nil {
				return nil, err
			}
			end, err := d.endOf(it, true)
			if err != nil {
				return nil, err
			}
			out = append(out, flowSpan{s, end})
		}
	}
	return out, nil
}

// flowInsert adds text as the last entry of the flow collection n.
func (e *editor) flowInsert(n ast.Node, text string) (*splice, error) {
	d := e.d
	open, err := d.startOf(n)
	if err != nil {
		return nil, err
	}
	spans, err := e.flowSpans(n)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return &splice{start: open + 1, end: open + 1, text: text}, nil
	}
	last := spans[len(spans)-1]
	if d.lineOf(last.start) != d.lineOf(open) {
		if _, ok := d.onlySpaceBefore(last.start); ok {
			return &splice{start: last.end, end: last.end, text: "," + e.r.st.nl + pad(d.col(last.start)) + text}, nil
		}
	}
	return &splice{start: last.end, end: last.end, text: ", " + text}, nil
}

// flowRemove removes entry i of the flow collection n with one comma.
func (e *editor) flowRemove(n ast.Node, i int) (*splice, error) {
	spans, err := e.flowSpans(n)
	if err != nil {
		return nil, err
	}
	if i >= len(spans) {
		return nil, errShape("a flow entry out of range")
	}
	switch {
	case i+1 < len(spans):
		return &splice{start: spans[i].start, end: spans[i+1].start, allowVar: true}, nil
	case i > 0:
		return &splice{start: spans[i-1].end, end: spans[i].end, allowVar: true}, nil
	}
	return &splice{start: spans[i].start, end: spans[i].end, allowVar: true}, nil
}

// insertKey plans adding key: v as the last key of mapping cursor c.
func (e *editor) insertKey(c *cursor, key string, v *jv) (*splice, error) {
	d := e.d
	m := c.val.(*ast.MappingNode)
	k := e.r.scalar(&jv{kind: 's', str: key}, ctxKey, 0)
	if m.IsFlowStyle {
		return e.flowInsert(m, k+": "+e.oneLine(v, ctxFlow, 0))
	}
	ks, err := d.startOf(m)
	if err != nil {
		return nil, err
	}
	keyCol, err := e.blockCol(ks)
	if err != nil {
		return nil, err
	}
	end, err := d.endOf(m, c.flow)
	if err != nil {
		return nil, err
	}
	return e.insertAtLineEnd(end, pad(keyCol)+k+":"+e.r.afterColon(v, keyCol)+e.r.st.nl), nil
}

// insertTop plans adding key: v to an empty document.
func (e *editor) insertTop(key string, v *jv) *splice {
	k := e.r.scalar(&jv{kind: 's', str: key}, ctxKey, 0)
	end := len(e.d.text)
	if end > 0 {
		end--
	}
	return e.insertAtLineEnd(end, k+":"+e.r.afterColon(v, 0)+e.r.st.nl)
}

// appendItem plans adding v as the last item of list cursor c.
func (e *editor) appendItem(c *cursor, v *jv) (*splice, error) {
	d := e.d
	sq := c.val.(*ast.SequenceNode)
	if sq.IsFlowStyle {
		return e.flowInsert(sq, e.oneLine(v, ctxFlow, 0))
	}
	if len(sq.Entries) == 0 {
		return nil, errShape("a block list without entries")
	}
	dash, err := d.tokAt(sq.Entries[0].Start, "-")
	if err != nil {
		return nil, err
	}
	dashCol, err := e.blockCol(dash)
	if err != nil {
		return nil, err
	}
	end, err := d.endOf(sq, c.flow)
	if err != nil {
		return nil, err
	}
	// Items written in flow style ("- {address: a}") get a flow sibling;
	// block mappings one indented like the first of them.
	allFlow, r := true, e.r
	for i, it := range sq.Values {
		val, _ := d.resolve(it, "")
		if !isFlowColl(val) {
			allFlow = false
		}
		if m, ok := val.(*ast.MappingNode); ok && !m.IsFlowStyle && i < len(sq.Entries) {
			ds, err1 := d.tokAt(sq.Entries[i].Start, "-")
			ks, err2 := d.startOf(m)
			if err1 == nil && err2 == nil && d.lineOf(ds) == d.lineOf(ks) && d.col(ks) > d.col(ds) {
				r.st.itemOff = d.col(ks) - d.col(ds)
				break
			}
		}
	}
	item := r.afterDash(v, dashCol)
	if allFlow && v.isCollection() {
		item = " " + r.flow(v)
	}
	return e.insertAtLineEnd(end, pad(dashCol)+"-"+item+e.r.st.nl), nil
}

// removeEntry plans removing the key of mapping-value cursor c.
func (e *editor) removeEntry(c *cursor) (*splice, error) {
	d := e.d
	p := c.parent
	m := p.val.(*ast.MappingNode)
	i := -1
	for j, mv := range m.Values {
		if mv == c.mv {
			i = j
		}
	}
	if i < 0 {
		return nil, errShape("a key outside its mapping")
	}
	if m.IsFlowStyle {
		return e.flowRemove(m, i)
	}
	if len(m.Values) == 1 {
		return e.emptyParent(p, &jv{kind: 'o'})
	}
	ks, err := d.startOf(c.mv)
	if err != nil {
		return nil, err
	}
	end, err := d.endOf(c.mv, c.flow)
	if err != nil {
		return nil, err
	}
	if ls, ok := d.onlySpaceBefore(ks); ok {
		return &splice{start: ls, end: d.lineEnd(end), allowVar: true}, nil
	}
	// The first key of a list item ("- key: v"): the next key moves up.
	if i != 0 {
		return nil, errShape("a key that does not start its line (line %d)", d.lineOf(ks)+1)
	}
	next, err := d.startOf(m.Values[1])
	if err != nil {
		return nil, err
	}
	return &splice{start: ks, end: next, allowVar: true}, nil
}

// removeItem plans removing list-item cursor c.
func (e *editor) removeItem(c *cursor) (*splice, error) {
	d := e.d
	sq := c.seq
	if sq.IsFlowStyle {
		return e.flowRemove(sq, c.idx)
	}
	if len(sq.Values) == 1 {
		return e.emptyParent(c.parent, &jv{kind: 'a'})
	}
	if c.idx >= len(sq.Entries) {
		return nil, errShape("a list item without its dash")
	}
	dash, err := d.tokAt(sq.Entries[c.idx].Start, "-")
	if err != nil {
		return nil, err
	}
	ls, ok := d.onlySpaceBefore(dash)
	if !ok {
		return nil, errShape("a list item that does not start its line (line %d)", d.lineOf(dash)+1)
	}
	end := dash + 1
	if !isNullish(d, c.node) {
		if end, err = d.endOf(c.node, false); err != nil {
			return nil, err
		}
	}
	return &splice{start: ls, end: d.lineEnd(end), allowVar: true}, nil
}

// emptyParent replaces the collection of cursor p (whose last entry goes)
// with an empty one: "servers: []", "- {}".
func (e *editor) emptyParent(p *cursor, empty *jv) (*splice, error) {
	if p.parent == nil {
		s, err := e.d.startOf(p.node)
		if err != nil {
			return nil, err
		}
		end, err := e.d.endOf(p.node, false)
		if err != nil {
			return nil, err
		}
		return &splice{start: s, end: end, text: e.r.flow(empty), allowVar: true}, nil
	}
	if p.shared != "" {
		return nil, &Error{Path: p.path, Err: ErrAlias, Msg: fmt.Sprintf("%s %s", pathOr(p.path), p.shared)}
	}
	sp, err := e.replaceValue(p)(empty)
	if err != nil {
		return nil, err
	}
	sp.allowVar = true
	// A comment after the last entry went with it.
	if d := e.d; d.lineOf(sp.start) != d.lineOf(sp.end) {
		eol := d.lineEnd(sp.end)
		rest := strings.TrimRight(string(d.text[sp.end:eol]), "\r\n")
		if t := strings.TrimLeft(rest, " \t"); t == "" || t[0] == '#' {
			sp.end += len(rest)
		}
	}
	return sp, nil
}
