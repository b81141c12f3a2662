package confedit

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// style is how the document lays out block collections, learnt from its
// own text so that new lines look like the old ones.
type style struct {
	step    int    // a nested mapping's keys are this much deeper than its key
	seqOff  int    // a list's "-" is this much deeper than its key (0 or step)
	itemOff int    // the first key of a mapping in a list is this far right of its "-"
	nl      string // line break
}

// learnStyle counts the indentation the document uses; every count
// defaults to 2 (seqOff to step).
func (d *document) learnStyle() style {
	steps, seqs, items := map[int]int{}, map[int]int{}, map[int]int{}
	var walk func(n ast.Node, depth int)
	walk = func(n ast.Node, depth int) {
		if n == nil || depth > maxDepth {
			return
		}
		switch v := n.(type) {
		case *ast.AnchorNode:
			walk(v.Value, depth+1)
		case *ast.TagNode:
			walk(v.Value, depth+1)
		case *ast.MappingNode:
			if v.IsFlowStyle {
				return
			}
			for _, mv := range v.Values {
				ks, err := d.startOf(mv)
				if err != nil {
					continue
				}
				val, _ := d.resolve(mv.Value, "")
				switch x := val.(type) {
				case *ast.MappingNode:
					if !x.IsFlowStyle && len(x.Values) > 0 {
						if cs, err := d.startOf(x); err == nil && d.lineOf(cs) > d.lineOf(ks) {
							steps[d.col(cs)-d.col(ks)]++
						}
					}
				case *ast.SequenceNode:
					if !x.IsFlowStyle && len(x.Entries) > 0 {
						if cs, err := d.startOf(x); err == nil && d.lineOf(cs) > d.lineOf(ks) {
							seqs[d.col(cs)-d.col(ks)]++
						}
					}
				}
				walk(mv.Value, depth+1)
			}
		case *ast.SequenceNode:
			if v.IsFlowStyle {
				return
			}
			for i, it := range v.Values {
				val, _ := d.resolve(it, "")
				if m, ok := val.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 && i < len(v.Entries) {
					ds, err1 := d.tokAt(v.Entries[i].Start, "-")
					ks, err2 := d.startOf(m)
					if err1 == nil && err2 == nil && d.lineOf(ds) == d.lineOf(ks) {
						items[d.col(ks)-d.col(ds)]++
					}
				}
				walk(it, depth+1)
			}
		}
	}
	walk(d.root, 0)
	most := func(m map[int]int, def, lo int) int {
		best, n := def, 0
		for k, c := range m {
			if k >= lo && k <= 16 && (c > n || c == n && k < best) {
				best, n = k, c
			}
		}
		return best
	}
	s := style{nl: d.nl}
	s.step = most(steps, 2, 1)
	s.seqOff = most(seqs, s.step, 0)
	s.itemOff = most(items, 2, 2)
	return s
}

// renderer writes JSON values as YAML.
type renderer struct{ st style }

// Scalar contexts.
const (
	ctxBlock = iota // a value in a block collection
	ctxFlow         // a value in a flow collection
	ctxKey          // a mapping key (block or flow)
)

// scalar writes a non-collection value. quote, a double or single quote, keeps the
// quoting of the value it replaces (strings only).
func (r *renderer) scalar(v *jv, ctx int, quote byte) string {
	switch v.kind {
	case 'z':
		return "null"
	case 'b':
		return strconv.FormatBool(v.b)
	case 'n':
		return formatNumber(v.str)
	case 'o':
		return "{}"
	case 'a':
		return "[]"
	}
	s := v.str
	switch {
	case quote == '\'' && printable(s):
		return escapeDollar("'" + strings.ReplaceAll(s, "'", "''") + "'")
	case quote != '"' && plainSafe(s, ctx):
		return escapeDollar(s)
	}
	return escapeDollar(doubleQuote(s))
}

// escapeDollar doubles every $ so ${VAR} expansion gives the text back.
func escapeDollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// formatNumber writes a JSON number as a YAML number of the same kind: an
// integer literal stays an integer, anything else becomes a float.
func formatNumber(s string) string {
	n, _ := numberValue(s)
	switch x := n.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		t := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(t, ".eIN") {
			t += ".0"
		}
		return t
	}
	return s
}

// plainSafe reports whether s can be written without quotes in ctx: the
// parser must read it back as the same plain string (not a number, bool,
// null, a key, a comment, an indicator...).
func plainSafe(s string, ctx int) bool {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off": // booleans to YAML 1.1 readers
		return false
	}
	if s == "" || len(s) > 1024 || strings.ContainsAny(s, "\n\r\t\"'\\#") || s != strings.TrimSpace(s) || !printable(s) {
		return false
	}
	switch ctx {
	case ctxKey:
		return readsPlain("%s: x", s, true) && readsPlain("{%s: x}", s, true)
	case ctxFlow:
		return readsPlain("{k: %s}", s, false) && readsPlain("[%s]", s, false)
	}
	return readsPlain("k: %s", s, false) && readsPlain("- %s", s, false)
}

// readsPlain parses a one-line document built from format and s and reports
// whether s comes back as a plain string (as a key when key is true).
func readsPlain(format, s string, key bool) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	f, err := parser.ParseBytes([]byte(fmt.Sprintf(format, s)), 0)
	if err != nil || len(f.Docs) != 1 || f.Docs[0] == nil {
		return false
	}
	var n ast.Node
	switch b := f.Docs[0].Body.(type) {
	case *ast.MappingNode:
		if len(b.Values) != 1 {
			return false
		}
		if key {
			n = b.Values[0].Key
		} else {
			n = b.Values[0].Value
		}
	case *ast.MappingValueNode:
		if key {
			n = b.Key
		} else {
			n = b.Value
		}
	case *ast.SequenceNode:
		if len(b.Values) != 1 {
			return false
		}
		n = b.Values[0]
	default:
		return false
	}
	sn, ok := n.(*ast.StringNode)
	return ok && sn.Token != nil && sn.Token.Type == token.StringType && sn.Value == s
}

// printable reports whether every rune of s may appear literally in a YAML
// quoted scalar (c-printable, minus tab/CR/LF and the BOM).
func printable(s string) bool {
	for _, r := range s {
		if !printableRune(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

func printableRune(r rune) bool {
	switch {
	case r == utf8.RuneError, r == 0xFEFF:
		return false
	case r >= 0x20 && r <= 0x7E, r == 0x85, r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// doubleQuote writes s as a YAML double-quoted scalar.
func doubleQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case printableRune(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02X`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			fmt.Fprintf(&b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// flow writes v on one line in flow style.
func (r *renderer) flow(v *jv) string {
	var b strings.Builder
	r.writeFlow(&b, v)
	return b.String()
}

func (r *renderer) writeFlow(b *strings.Builder, v *jv) {
	switch v.kind {
	case 'o':
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.scalar(&jv{kind: 's', str: k}, ctxKey, 0))
			b.WriteString(": ")
			r.writeFlow(b, v.vals[i])
		}
		b.WriteByte('}')
	case 'a':
		b.WriteByte('[')
		for i, x := range v.vals {
			if i > 0 {
				b.WriteString(", ")
			}
			r.writeFlow(b, x)
		}
		b.WriteByte(']')
	default:
		b.WriteString(r.scalar(v, ctxFlow, 0))
	}
}

// inline reports whether v is written on the line of its key or dash in
// block context (scalars and empty collections).
func inline(v *jv) bool { return !v.isCollection() || v.empty() }

// block writes a non-empty collection in block style. The first line
// continues the current line; later lines are indented to col.
func (r *renderer) block(b *strings.Builder, v *jv, col int) {
	pad := strings.Repeat(" ", col)
	if v.kind == 'o' {
		for i, k := range v.keys {
			if i > 0 {
				b.WriteString(r.st.nl + pad)
			}
			b.WriteString(r.scalar(&jv{kind: 's', str: k}, ctxKey, 0))
			b.WriteByte(':')
			b.WriteString(r.afterColon(v.vals[i], col))
		}
		return
	}
	for i, x := range v.vals {
		if i > 0 {
			b.WriteString(r.st.nl + pad)
		}
		b.WriteByte('-')
		b.WriteString(r.afterDash(x, col))
	}
}

// afterColon is what follows "key:" for value v of a key at column keyCol.
func (r *renderer) afterColon(v *jv, keyCol int) string {
	if inline(v) {
		return " " + r.scalar(v, ctxBlock, 0)
	}
	col := keyCol + r.st.step
	if v.kind == 'a' {
		col = keyCol + r.st.seqOff
	}
	var b strings.Builder
	b.WriteString(r.st.nl + strings.Repeat(" ", col))
	r.block(&b, v, col)
	return b.String()
}

// afterDash is what follows "-" for item v of a list whose dash is at
// column dashCol.
func (r *renderer) afterDash(v *jv, dashCol int) string {
	if inline(v) {
		return " " + r.scalar(v, ctxBlock, 0)
	}
	off := 2
	if v.kind == 'o' {
		off = r.st.itemOff
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", off-1))
	r.block(&b, v, dashCol+off)
	return b.String()
}
