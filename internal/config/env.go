package config

import (
	"bytes"
	"sort"
	"unicode/utf8"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in raw file text with values
// from lookup, and $$ with $. A "$" followed by anything else is kept.
// ${VAR:-default} uses default when VAR is unset or empty; ${VAR} with VAR
// unset is an error naming the variable and its position. Expansion applies
// to the whole text except YAML comments.
//
// It returns the expanded text and a posMap translating positions in it
// back to the original text.
func expandEnv(src []byte, lookup func(string) (string, bool), c *collector) ([]byte, *posMap) {
	out, pm, _ := expand(src, lookup, c)
	return out, pm
}

// expand is expandEnv that also returns each substitution in byte offsets.
func expand(src []byte, lookup func(string) (string, bool), c *collector) ([]byte, *posMap, []Substitution) {
	var bsubs []Substitution
	pm := &posMap{}
	comments := commentStarts(src)
	out := make([]byte, 0, len(src))
	line, col := 1, 1         // position of src[i] in the original
	origRune, expRune := 0, 0 // rune offsets of src[i] and of len(out)
	advance := func(b []byte) {
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			b = b[n:]
			origRune++
			if r == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
	}
	for i := 0; i < len(src); {
		inComment := false
		if cc, ok := comments[line]; ok && col > cc {
			inComment = true
		}
		if inComment || src[i] != '$' || i+1 >= len(src) || (src[i+1] != '$' && src[i+1] != '{') {
			_, n := utf8.DecodeRune(src[i:])
			out = append(out, src[i:i+n]...)
			expRune++
			advance(src[i : i+n])
			i += n
			continue
		}
		start := Pos{line, col}
		var val string
		var ref int // bytes of the reference in src
		if src[i+1] == '$' {
			val, ref = "$", 2
		} else {
			end := i + 2
			for end < len(src) && src[end] != '}' && src[end] != '\n' {
				end++
			}
			if end >= len(src) || src[end] != '}' {
				c.add(start, "unterminated ${ in environment reference (use $$ for a literal $)")
				val, ref = string(src[i:end]), end-i
			} else {
				ref = end + 1 - i
				val = expandRef(string(src[i+2:end]), lookup, start, c)
			}
		}
		vr := utf8.RuneCountInString(val)
		sr := utf8.RuneCount(src[i : i+ref])
		pm.subs = append(pm.subs, sub{exp: expRune, expLen: vr, orig: origRune, origLen: sr})
		bsubs = append(bsubs, Substitution{Orig: i, OrigEnd: i + ref, Exp: len(out), ExpEnd: len(out) + len(val), Ref: string(src[i : i+ref])})
		out = append(out, val...)
		expRune += vr
		advance(src[i : i+ref])
		i += ref
	}
	if len(pm.subs) == 0 {
		return out, nil, nil
	}
	pm.expLines = lineStarts(out)
	pm.origLines = lineStarts(src)
	return out, pm, bsubs
}

// Expansion is a configuration text after ${VAR} expansion together with
// where each substitution sits in both texts, for tools that edit the
// original text at positions found in the expanded one (internal/confedit).
type Expansion struct {
	// Text is the expanded text, what the YAML parser reads.
	Text []byte
	// Subs are the substitutions in order: ${VAR}, ${VAR:-default} and $$.
	Subs []Substitution
}

// Substitution is one reference replaced by expansion, in byte offsets:
// src[Orig:OrigEnd] (the reference as written) became Text[Exp:ExpEnd].
type Substitution struct {
	Orig, OrigEnd int
	Exp, ExpEnd   int
	// Ref is the reference as written: "${WEIGHT}", "${HOST:-localhost}", "$$".
	Ref string
}

// IsVar reports whether s came from an environment variable (${...}),
// not from the $$ escape.
func (s Substitution) IsVar() bool { return len(s.Ref) > 1 && s.Ref[1] == '{' }

// Expand expands ${VAR}, ${VAR:-default} and $$ in src exactly as Parse
// does, with lookup as the environment (os.LookupEnv for Parse). A leading
// byte-order mark is dropped, as Parse drops it, and listed as the first
// Substitution (Ref "\ufeff", expanding to nothing). The error
// is Errors, one per bad or unset reference (positions are line:col of src,
// file name empty); the Expansion is returned as well, with unset variables
// expanded to "".
func Expand(src []byte, lookup func(string) (string, bool)) (*Expansion, error) {
	c := &collector{}
	var subs []Substitution
	shift := 0
	if bytes.HasPrefix(src, utf8BOM) {
		shift = len(utf8BOM)
		subs = append(subs, Substitution{Orig: 0, OrigEnd: shift, Ref: string(utf8BOM)})
	}
	out, _, rest := expand(src[shift:], lookup, c)
	for _, s := range rest {
		s.Orig, s.OrigEnd = s.Orig+shift, s.OrigEnd+shift
		subs = append(subs, s)
	}
	return &Expansion{Text: out, Subs: subs}, c.errs.err()
}

// commentStarts maps a line number to the column of the '#' that starts a
// comment on it, found with the go-yaml lexer on the unexpanded text.
func commentStarts(src []byte) (m map[int]int) {
	if !bytes.Contains(src, []byte("#")) {
		return nil
	}
	defer func() {
		if recover() != nil {
			m = nil // the lexer failed: expand everywhere; the parser will report
		}
	}()
	m = map[int]int{}
	for _, tk := range lexer.Tokenize(string(src)) {
		if tk.Type == token.CommentType && tk.Position != nil {
			if c, ok := m[tk.Position.Line]; !ok || tk.Position.Column < c {
				m[tk.Position.Line] = tk.Position.Column
			}
		}
	}
	return m
}

// expandRef resolves the inside of ${...}.
func expandRef(ref string, lookup func(string) (string, bool), at Pos, c *collector) string {
	name, def, hasDef := ref, "", false
	for j := 0; j+1 < len(ref); j++ {
		if ref[j] == ':' && ref[j+1] == '-' {
			name, def, hasDef = ref[:j], ref[j+2:], true
			break
		}
	}
	if !validEnvName(name) {
		c.add(at, "invalid environment variable name %q in ${%s} (use letters, digits and _; ${VAR} or ${VAR:-default})", name, ref)
		return ""
	}
	v, ok := lookup(name)
	if hasDef && v == "" {
		return def
	}
	if !ok {
		c.add(at, "environment variable %s is not set (use ${%s:-default} to give a default)", name, name)
		return ""
	}
	return v
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b == '_' || b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || i > 0 && b >= '0' && b <= '9' {
			continue
		}
		return false
	}
	return true
}

// sub is one substitution, in rune offsets.
type sub struct{ exp, expLen, orig, origLen int }

// posMap maps line:col in expanded text back to the original text. A nil
// *posMap is the identity. Columns count runes, as go-yaml does.
type posMap struct {
	subs      []sub
	expLines  []int // rune offset of each line start, expanded text
	origLines []int // same, original text
}

func (pm *posMap) toOrig(p Pos) Pos {
	if pm == nil || p.Line <= 0 || p.Line > len(pm.expLines) {
		return p
	}
	off := pm.expLines[p.Line-1] + p.Col - 1
	k := sort.Search(len(pm.subs), func(i int) bool { return pm.subs[i].exp > off }) - 1
	orig := off
	if k >= 0 {
		s := pm.subs[k]
		if off < s.exp+s.expLen {
			orig = s.orig
		} else {
			orig = off - (s.exp + s.expLen) + s.orig + s.origLen
		}
	}
	l := sort.Search(len(pm.origLines), func(i int) bool { return pm.origLines[i] > orig }) - 1
	if l < 0 {
		return p
	}
	return Pos{Line: l + 1, Col: orig - pm.origLines[l] + 1}
}

// lineStarts returns the rune offset at which each line begins.
func lineStarts(b []byte) []int {
	starts := []int{0}
	n := 0
	for len(b) > 0 {
		r, sz := utf8.DecodeRune(b)
		b = b[sz:]
		n++
		if r == '\n' {
			starts = append(starts, n)
		}
	}
	return starts
}
