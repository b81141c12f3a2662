package config

import (
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/sluicelb/sluice/acl"
)

// Decoder limits: bound the work a hostile file (alias bombs, deep nesting)
// can cause.
const (
	maxDepth = 64
	maxNodes = 1000000
)

// decoder turns the go-yaml AST into Config, reporting every problem and
// carrying on. Fields whose value is wrong keep their default.
type decoder struct {
	c       *collector
	pm      *posMap
	anchors map[string]ast.Node
	nodes   int
	depth   int
}

// Types the decoder treats specially.
var (
	typDuration  = reflect.TypeFor[time.Duration]()
	typSize      = reflect.TypeFor[Size]()
	typRate      = reflect.TypeFor[Rate]()
	typCIDRs     = reflect.TypeFor[CIDRs]()
	typHeaderSet = reflect.TypeFor[HeaderSet]()
	typStatus    = reflect.TypeFor[StatusCodes]()
)

// metaHolder is implemented by every config struct (metas.go).
type metaHolder interface{ meta() *meta }

// defaulter is implemented by structs whose defaults are filled when their
// mapping appears in the file (defaults.go).
type defaulter interface{ setDefaults() }

// pos returns the original-file position of n.
func (d *decoder) pos(n ast.Node) Pos {
	switch v := n.(type) {
	case nil:
		return Pos{}
	case *ast.DocumentNode:
		return d.pos(v.Body)
	case *ast.MappingNode:
		if len(v.Values) > 0 && !v.IsFlowStyle {
			return d.pos(v.Values[0])
		}
	case *ast.MappingValueNode:
		return d.pos(v.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return d.pm.toOrig(Pos{Line: tk.Position.Line, Col: tk.Position.Column})
}

// collectAnchors records every anchor in the document, in order (a later
// definition of the same name wins).
func (d *decoder) collectAnchors(n ast.Node, depth int) {
	if n == nil || depth > 10000 {
		return
	}
	switch v := n.(type) {
	case *ast.AnchorNode:
		if v.Name != nil {
			d.anchors[v.Name.GetToken().Value] = v.Value
		}
		d.collectAnchors(v.Value, depth+1)
	case *ast.MappingNode:
		for _, mv := range v.Values {
			d.collectAnchors(mv, depth+1)
		}
	case *ast.MappingValueNode:
		d.collectAnchors(v.Key, depth+1)
		d.collectAnchors(v.Value, depth+1)
	case *ast.MappingKeyNode:
		d.collectAnchors(v.Value, depth+1)
	case *ast.SequenceNode:
		for _, x := range v.Values {
			d.collectAnchors(x, depth+1)
		}
	case *ast.TagNode:
		d.collectAnchors(v.Value, depth+1)
	}
}

// resolve strips tags and anchors and follows aliases. It returns nil
// (after reporting) for an unknown alias.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for hops := 0; hops < maxDepth; hops++ {
		switch v := n.(type) {
		case *ast.TagNode:
			n = v.Value
		case *ast.AnchorNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			t, ok := d.anchors[name]
			if !ok {
				d.c.add(d.pos(v), "%s: unknown alias *%s", path, name)
				return nil
			}
			n = t
		case *ast.MappingKeyNode:
			n = v.Value
		default:
			return n
		}
	}
	d.c.add(d.pos(n), "%s: too many nested aliases", path)
	return nil
}

func isNull(n ast.Node) bool {
	_, ok := n.(*ast.NullNode)
	return ok || n == nil
}

// kindOf names n's YAML kind for messages.
func kindOf(n ast.Node) string {
	switch v := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case nil, *ast.NullNode:
		return "nothing"
	default:
		return fmt.Sprintf("%v", v.Type())
	}
}

// scalarText returns the text of a scalar node: the value of a string, the
// source text of a number or boolean.
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

// entry is one key: value of a mapping after merge keys are applied.
type entry struct {
	key    string
	keyPos Pos
	val    ast.Node
}

// entries lists a mapping's keys in order, applying "<<" merge keys (own
// keys win) and reporting duplicate and non-string keys.
func (d *decoder) entries(mn *ast.MappingNode, path string) []entry {
	var own, merged []entry
	seen := map[string]Pos{}
	for _, mv := range mn.Values {
		if mv == nil {
			continue
		}
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merged = append(merged, d.mergeEntries(mv.Value, path)...)
			continue
		}
		kp := d.pos(mv.Key)
		key, ok := scalarText(d.resolve(mv.Key, path))
		if !ok {
			d.c.add(kp, "%s: keys must be strings, got %s", pathOr(path), kindOf(mv.Key))
			continue
		}
		if first, dup := seen[key]; dup {
			d.c.add(kp, "%s: duplicate key %q (first at line %d)", pathOr(path), key, first.Line)
			continue
		}
		seen[key] = kp
		own = append(own, entry{key: key, keyPos: kp, val: mv.Value})
	}
	out := make([]entry, 0, len(merged)+len(own))
	for _, e := range merged {
		if _, ok := seen[e.key]; !ok {
			seen[e.key] = e.keyPos
			out = append(out, e)
		}
	}
	return append(out, own...)
}

// mergeEntries returns the entries of a "<<" value: a mapping or a list of
// mappings (earlier ones win).
func (d *decoder) mergeEntries(n ast.Node, path string) []entry {
	if d.depth++; d.depth > maxDepth {
		d.depth--
		d.c.add(d.pos(n), "%s: merge keys nested too deeply", pathOr(path))
		return nil
	}
	defer func() { d.depth-- }()
	switch v := d.resolve(n, path).(type) {
	case nil:
		return nil
	case *ast.MappingNode:
		return d.entries(v, path)
	case *ast.SequenceNode:
		var out []entry
		seen := map[string]bool{}
		for _, x := range v.Values {
			for _, e := range d.mergeEntries(x, path) {
				if !seen[e.key] {
					seen[e.key] = true
					out = append(out, e)
				}
			}
		}
		return out
	default:
		d.c.add(d.pos(n), "%s: << must merge a mapping or a list of mappings, got %s", pathOr(path), kindOf(v))
		return nil
	}
}

func pathOr(path string) string {
	if path == "" {
		return "top level"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldInfo maps yaml keys to struct field indexes.
type fieldInfo struct {
	index map[string]int
	names []string // in declaration order, for messages
}

var fieldCache sync.Map // reflect.Type → *fieldInfo

func fieldsOf(t reflect.Type) *fieldInfo {
	if fi, ok := fieldCache.Load(t); ok {
		return fi.(*fieldInfo)
	}
	fi := &fieldInfo{index: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		if tag == "" || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		fi.index[tag] = i
		fi.names = append(fi.names, tag)
	}
	fieldCache.Store(t, fi)
	return fi
}

// decodeStruct decodes a mapping into the struct v.
func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) {
	p := v.Addr().Interface()
	mn, ok := n.(*ast.MappingNode)
	if !ok {
		d.c.add(d.pos(n), "%s: expected a mapping (key: value), got %s", pathOr(path), kindOf(n))
		p.(metaHolder).meta().bad = true
		return
	}
	if df, ok := p.(defaulter); ok {
		df.setDefaults()
	}
	m := p.(metaHolder).meta()
	m.at = d.pos(mn)
	m.keys = map[string]Pos{}
	fi := fieldsOf(v.Type())
	for _, e := range d.entries(mn, path) {
		idx, ok := fi.index[e.key]
		if !ok {
			if path == "" && strings.HasPrefix(e.key, "x-") {
				continue // top-level x-* keys hold YAML anchors; ignored
			}
			d.c.add(e.keyPos, "%s: unknown key %q%s", pathOr(path), e.key, suggest(e.key, fi.names))
			continue
		}
		m.keys[e.key] = d.valuePos(e)
		d.decodeValue(e.val, v.Field(idx), join(path, e.key), m, e.key)
	}
}

// valuePos is where an entry's value is, or its key when the value is empty.
func (d *decoder) valuePos(e entry) Pos {
	if isNull(e.val) {
		return e.keyPos
	}
	if p := d.pos(e.val); p.Line > 0 {
		return p
	}
	return e.keyPos
}

// decodeValue decodes n into v. parent/key name where v sits, so that list
// item positions can be recorded as "key[i]".
func (d *decoder) decodeValue(n ast.Node, v reflect.Value, path string, parent *meta, key string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.c.add(d.pos(n), "%s: document too large (more than %d values after expanding aliases)", path, maxNodes)
		}
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.depth--
		d.c.add(d.pos(n), "%s: nested too deeply", path)
		return
	}
	defer func() { d.depth-- }()
	n = d.resolve(n, path)
	if isNull(n) {
		return // "key:" with no value keeps the default
	}
	switch v.Type() {
	case typDuration:
		d.decodeDuration(n, v, path)
		return
	case typSize:
		d.decodeSize(n, v, path)
		return
	case typRate:
		s, ok := n.(*ast.StringNode)
		if !ok {
			d.c.add(d.pos(n), "%s: expected a rate like \"100/s\", \"20/m\" or \"1000/h\", got %s", path, kindOf(n))
			return
		}
		r, err := ParseRate(s.Value)
		if err != nil {
			d.c.add(d.pos(n), "%s: %v", path, err)
			return
		}
		v.Set(reflect.ValueOf(r))
		return
	case typCIDRs:
		d.decodeCIDRs(n, v, path)
		return
	case typHeaderSet:
		d.decodeHeaderSet(n, v, path)
		return
	case typStatus:
		d.decodeStatus(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if df, ok := nv.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decodeValue(n, nv.Elem(), path, parent, key)
		v.Set(nv)
	case reflect.Slice:
		d.decodeSlice(n, v, path, parent, key)
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.c.add(d.pos(n), "%s: expected a string, got %s", path, kindOf(n))
			return
		}
		v.SetString(s)
	case reflect.Int:
		d.decodeInt(n, v, path)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.c.add(d.pos(n), "%s: expected true or false, got %s", path, kindOf(n))
			return
		}
		v.SetBool(b.Value)
	case reflect.Float64:
		switch f := n.(type) {
		case *ast.FloatNode:
			v.SetFloat(f.Value)
		case *ast.IntegerNode:
			i, _ := intValue(f)
			v.SetFloat(float64(i))
		default:
			d.c.add(d.pos(n), "%s: expected a number, got %s", path, kindOf(n))
		}
	default:
		d.c.add(d.pos(n), "%s: internal error: cannot decode into %s", path, v.Type())
	}
}

func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, path string, parent *meta, key string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.c.add(d.pos(n), "%s: expected a list, got %s", path, kindOf(n))
		return
	}
	et := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), 0, len(seq.Values))
	for i, item := range seq.Values {
		ip := fmt.Sprintf("%s[%d]", path, i)
		ev := reflect.New(et).Elem()
		if et.Kind() == reflect.Struct {
			p := ev.Addr().Interface()
			if df, ok := p.(defaulter); ok {
				df.setDefaults()
			}
			p.(metaHolder).meta().at = d.pos(item)
		} else if parent != nil {
			if parent.keys == nil {
				parent.keys = map[string]Pos{}
			}
			parent.keys[fmt.Sprintf("%s[%d]", key, i)] = d.pos(item)
		}
		if r := d.resolve(item, ip); r == nil || isNull(r) && et.Kind() == reflect.Struct {
			if r != nil {
				d.c.add(d.pos(item), "%s: expected a mapping (key: value), got nothing", ip)
			}
			if et.Kind() == reflect.Struct {
				ev.Addr().Interface().(metaHolder).meta().bad = true
			}
		} else {
			d.decodeValue(item, ev, ip, parent, key)
		}
		out = reflect.Append(out, ev)
	}
	v.Set(out)
}

// intValue returns an IntegerNode's value if it fits in an int.
func intValue(n *ast.IntegerNode) (int, bool) {
	switch x := n.Value.(type) {
	case int64:
		if x >= math.MinInt && x <= math.MaxInt {
			return int(x), true
		}
	case uint64:
		if x <= math.MaxInt {
			return int(x), true
		}
	}
	return 0, false
}

func (d *decoder) decodeInt(n ast.Node, v reflect.Value, path string) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		if s, isStr := n.(*ast.StringNode); isStr && strings.TrimLeft(s.Value, "-0123456789") == "" && s.Value != "" {
			d.c.add(d.pos(n), "%s: integer %s is out of range", path, s.Value)
			return
		}
		d.c.add(d.pos(n), "%s: expected an integer, got %s", path, kindOf(n))
		return
	}
	i, ok := intValue(in)
	if !ok || i < math.MinInt32 || i > math.MaxInt32 {
		d.c.add(d.pos(n), "%s: integer %s is out of range", path, in.GetToken().Value)
		return
	}
	v.SetInt(int64(i))
}

func (d *decoder) decodeDuration(n ast.Node, v reflect.Value, path string) {
	if in, ok := n.(*ast.IntegerNode); ok {
		if i, _ := intValue(in); i == 0 && in.Value != nil {
			v.SetInt(0)
			return
		}
	}
	s, ok := n.(*ast.StringNode)
	if !ok {
		d.c.add(d.pos(n), "%s: expected a duration with a unit like \"250ms\", \"2s\" or \"1m\", got %s", path, kindOf(n))
		return
	}
	dur, err := time.ParseDuration(s.Value)
	if err != nil {
		d.c.add(d.pos(n), "%s: invalid duration %q: use Go syntax like \"250ms\", \"2s\", \"1m30s\"", path, s.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) decodeSize(n ast.Node, v reflect.Value, path string) {
	switch s := n.(type) {
	case *ast.IntegerNode:
		i, ok := intValue(s)
		if !ok {
			d.c.add(d.pos(n), "%s: size %s is out of range", path, s.GetToken().Value)
			return
		}
		v.SetInt(int64(i))
	case *ast.StringNode:
		sz, err := ParseSize(s.Value)
		if err != nil {
			d.c.add(d.pos(n), "%s: %v", path, err)
			return
		}
		v.SetInt(int64(sz))
	default:
		d.c.add(d.pos(n), "%s: expected a size like 65536 or \"64KiB\", got %s", path, kindOf(n))
	}
}

func (d *decoder) decodeCIDRs(n ast.Node, v reflect.Value, path string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.c.add(d.pos(n), "%s: expected a list of CIDRs like [10.0.0.0/8], got %s", path, kindOf(n))
		return
	}
	out := make(CIDRs, 0, len(seq.Values))
	for i, item := range seq.Values {
		item = d.resolve(item, path)
		s, ok := scalarText(item)
		if !ok {
			d.c.add(d.pos(item), "%s[%d]: expected an address or CIDR, got %s", path, i, kindOf(item))
			continue
		}
		p, err := acl.ParsePrefix(s)
		if err != nil {
			d.c.add(d.pos(item), "%s[%d]: %v", path, i, err)
			continue
		}
		out = append(out, p)
	}
	v.Set(reflect.ValueOf(out))
}

// decodeStatus decodes expect_status: a code, a class or a list of them.
func (d *decoder) decodeStatus(n ast.Node, v reflect.Value, path string) {
	items := []ast.Node{n}
	if seq, ok := n.(*ast.SequenceNode); ok {
		items = seq.Values
		if len(items) == 0 {
			d.c.add(d.pos(n), "%s: an empty list accepts no status; give codes or classes like [200, 3xx]", path)
			return
		}
	}
	out := make(StatusCodes, 0, len(items))
	ok := true
	for i, item := range items {
		ip := path
		if len(items) > 1 || n != item {
			ip = fmt.Sprintf("%s[%d]", path, i)
		}
		item = d.resolve(item, ip)
		var s string
		switch x := item.(type) {
		case *ast.IntegerNode, *ast.StringNode:
			s, _ = scalarText(x)
		default:
			d.c.add(d.pos(item), "%s: expected a status code like 204 or a class like 2xx, got %s", ip, kindOf(item))
			ok = false
			continue
		}
		r, err := ParseStatus(s)
		if err != nil {
			d.c.add(d.pos(item), "%s: %v", ip, err)
			ok = false
			continue
		}
		out = append(out, r)
	}
	if ok {
		v.Set(reflect.ValueOf(out))
	}
}

func (d *decoder) decodeHeaderSet(n ast.Node, v reflect.Value, path string) {
	mn, ok := n.(*ast.MappingNode)
	if !ok {
		d.c.add(d.pos(n), "%s: expected a mapping of header names to values, got %s", path, kindOf(n))
		return
	}
	var out HeaderSet
	for _, e := range d.entries(mn, path) {
		val := d.resolve(e.val, path)
		h := Header{Name: e.key, m: meta{at: e.keyPos, keys: map[string]Pos{"name": e.keyPos, "value": d.valuePos(e)}}}
		if !isNull(val) {
			s, ok := scalarText(val)
			if !ok {
				d.c.add(d.pos(val), "%s.%s: expected a header value string, got %s", path, e.key, kindOf(val))
				continue
			}
			h.Value = s
		}
		out = append(out, h)
	}
	v.Set(reflect.ValueOf(out))
}

// suggest returns ` (did you mean "x"?)` for a close known key, else the
// list of known keys.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if dd := editDistance(strings.ToLower(key), k); dd < bestD {
			best, bestD = k, dd
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return "; known keys: " + strings.Join(known, ", ")
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// addrPortOf parses an IP-literal host:port, for Server.Addrs.
func addrPortOf(hostport string) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return ap, true
}
