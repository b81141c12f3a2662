package confedit

import (
	"bytes"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/sluicelb/sluice/internal/config"
)

// document is one configuration text prepared for editing: the original
// bytes, their ${VAR} expansion (what the parser read, so node positions are
// offsets in it) and the parsed tree. Offsets below are byte offsets in the
// expanded text unless a name says orig.
type document struct {
	src   []byte
	text  []byte
	subs  []config.Substitution
	lines []int  // byte offset of each line start in text
	nl    string // "\n", or "\r\n" when the file uses it
	root  ast.Node
	// aliased counts the aliases (and merges) naming each anchor.
	aliased map[string]int
	anchors map[string]*ast.AnchorNode
}

// load expands and parses src. A text the parser refuses is ErrInvalid.
func load(src []byte, lookup func(string) (string, bool)) (*document, error) {
	exp, _ := config.Expand(src, lookup) // unset variables expand to "": config.Parse reports them
	d := &document{src: src, text: exp.Text, subs: exp.Subs, nl: "\n",
		aliased: map[string]int{}, anchors: map[string]*ast.AnchorNode{}}
	if bytes.Contains(src, []byte("\r\n")) {
		d.nl = "\r\n"
	}
	d.lines = []int{0}
	for i, c := range d.text {
		if c == '\n' {
			d.lines = append(d.lines, i+1)
		}
	}
	f, err := parseYAML(d.text)
	if err != nil {
		return nil, &Error{Err: ErrInvalid, Msg: fmt.Sprintf("the configuration is not valid YAML: %v", err)}
	}
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) > 1 {
		return nil, &Error{Err: ErrUnsupported, Msg: "the configuration has more than one YAML document"}
	}
	if len(docs) == 1 {
		d.root = docs[0].Body
		if doc := docs[0]; doc.Start != nil || doc.End != nil {
			// "---" / "...": fine, positions are still those of the body.
			_ = doc
		}
	}
	d.scan(d.root, 0)
	return d, nil
}

func parseYAML(b []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(b, 0, parser.AllowDuplicateMapKey())
}

// scan records anchors and counts alias uses.
func (d *document) scan(n ast.Node, depth int) {
	if n == nil || depth > maxDepth {
		return
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if name := nodeName(v.Name); name != "" {
			d.anchors[name] = v
		}
		d.scan(v.Value, depth+1)
	case *ast.AliasNode:
		d.aliased[nodeName(v.Value)]++
	case *ast.TagNode:
		d.scan(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.scan(mv, depth+1)
		}
	case *ast.MappingValueNode:
		d.scan(v.Key, depth+1)
		d.scan(v.Value, depth+1)
	case *ast.MappingKeyNode:
		d.scan(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			d.scan(x, depth+1)
		}
	}
}

func nodeName(n ast.Node) string {
	if n == nil || n.GetToken() == nil {
		return ""
	}
	return n.GetToken().Value
}

// maxDepth bounds recursion over hostile documents (config allows 64).
const maxDepth = 200

// tokOff returns the byte offset of a token from its line and column
// (go-yaml counts columns in runes).
func (d *document) tokOff(tk *token.Token) (int, error) {
	if tk == nil || tk.Position == nil {
		return 0, errShape("a token without a position")
	}
	line, col := tk.Position.Line, tk.Position.Column
	if line < 1 || line > len(d.lines) || col < 1 {
		return 0, errShape("a token at line %d column %d", line, col)
	}
	off := d.lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(d.text) || d.text[off] == '\n' {
			return 0, errShape("a token past the end of line %d", line)
		}
		_, n := utf8.DecodeRune(d.text[off:])
		off += n
	}
	return off, nil
}

// tokAt returns tk's offset, checking that the text there starts with want.
func (d *document) tokAt(tk *token.Token, want string) (int, error) {
	off, err := d.tokOff(tk)
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(d.text[off:], []byte(want)) {
		return 0, errShape("%q expected at line %d column %d", want, tk.Position.Line, tk.Position.Column)
	}
	return off, nil
}

// lineOf returns the 0-based line containing off.
func (d *document) lineOf(off int) int {
	return sort.Search(len(d.lines), func(i int) bool { return d.lines[i] > off }) - 1
}

// col returns the column (0-based, in bytes) of off.
func (d *document) col(off int) int { return off - d.lines[d.lineOf(off)] }

// lineEnd returns the offset just past the newline ending the line that
// contains off (len(text) on the last line without one).
func (d *document) lineEnd(off int) int {
	if l := d.lineOf(off); l+1 < len(d.lines) {
		return d.lines[l+1]
	}
	return len(d.text)
}

// onlySpaceBefore reports whether off is preceded on its line by spaces
// only (and returns the line start).
func (d *document) onlySpaceBefore(off int) (int, bool) {
	ls := d.lines[d.lineOf(off)]
	for i := ls; i < off; i++ {
		if d.text[i] != ' ' {
			return ls, false
		}
	}
	return ls, true
}

// origOff maps an offset in the expanded text to the original. inVar is
// true when off falls inside the value of a ${VAR} (then the offset is the
// reference's start).
func (d *document) origOff(off int) (orig int, inVar *config.Substitution) {
	k := sort.Search(len(d.subs), func(i int) bool { return d.subs[i].Exp > off }) - 1
	if k < 0 {
		return off, nil
	}
	s := &d.subs[k]
	if off < s.ExpEnd {
		if off == s.Exp {
			return s.Orig, nil
		}
		return s.Orig, s
	}
	return off - s.ExpEnd + s.OrigEnd, nil
}

// varIn returns the first ${VAR} substitution that overlaps [start, end)
// (an empty expansion counts when it sits inside or at either edge).
func (d *document) varIn(start, end int) *config.Substitution {
	for i := range d.subs {
		s := &d.subs[i]
		if !s.IsVar() {
			continue
		}
		if s.Exp < end && s.ExpEnd > start || s.Exp == s.ExpEnd && s.Exp >= start && s.Exp <= end {
			return s
		}
	}
	return nil
}
