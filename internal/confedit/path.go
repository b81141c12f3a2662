package confedit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// seg is one step of a path: a mapping key, or a list item chosen by index
// or by the value of one of its keys.
type seg struct {
	key    string // mapping key (isSel false)
	isSel  bool
	index  int    // isSel with selKey == "": the item's index
	selKey string // [selKey=selVal]
	selVal string
}

// String writes s back in path syntax.
func (s seg) String() string {
	if !s.isSel {
		return s.key
	}
	if s.selKey == "" {
		return "[" + strconv.Itoa(s.index) + "]"
	}
	return "[" + s.selKey + "=" + quoteSel(s.selVal) + "]"
}

// parsePath parses "backends[name=web].servers[address=10.0.0.1:80].weight".
// Keys are runs of any bytes but '.', '[' and ']' (or a JSON-quoted
// string); a selector is "[N]" or "[key=value]" where value is either a
// JSON-quoted string or runs to the matching ']' (brackets inside balance,
// so "[address=[::1]:80]" works).
func parsePath(p string) ([]seg, error) {
	var out []seg
	i := 0
	bad := func(format string, args ...any) ([]seg, error) {
		return nil, fmt.Errorf("path %q: %s", p, fmt.Sprintf(format, args...))
	}
	if p == "" {
		return bad("empty")
	}
	for i < len(p) {
		if p[i] == '[' {
			end, s, err := parseSel(p, i)
			if err != nil {
				return bad("%v", err)
			}
			out = append(out, s)
			i = end
			continue
		}
		if len(out) > 0 {
			if p[i] != '.' {
				return bad("expected '.' or '[' at offset %d", i)
			}
			if i++; i == len(p) {
				return bad("ends with '.'")
			}
		}
		key, end, err := parseKey(p, i)
		if err != nil {
			return bad("%v", err)
		}
		out = append(out, seg{key: key})
		i = end
	}
	return out, nil
}

func parseKey(p string, i int) (string, int, error) {
	if p[i] == '"' {
		end, s, err := jsonString(p, i)
		return s, end, err
	}
	j := i
	for j < len(p) && p[j] != '.' && p[j] != '[' && p[j] != ']' {
		j++
	}
	if j == i {
		return "", 0, fmt.Errorf("empty key at offset %d", i)
	}
	return p[i:j], j, nil
}

// jsonString reads a JSON string literal starting at p[i] == '"'.
func jsonString(p string, i int) (int, string, error) {
	j := i + 1
	for j < len(p) && p[j] != '"' {
		if p[j] == '\\' {
			j++
		}
		j++
	}
	if j >= len(p) {
		return 0, "", fmt.Errorf("unterminated quoted string at offset %d", i)
	}
	var s string
	if err := json.Unmarshal([]byte(p[i:j+1]), &s); err != nil {
		return 0, "", fmt.Errorf("bad quoted string at offset %d: %v", i, err)
	}
	return j + 1, s, nil
}

func parseSel(p string, i int) (int, seg, error) {
	j := i + 1
	for j < len(p) && p[j] != '=' && p[j] != ']' {
		j++
	}
	if j >= len(p) {
		return 0, seg{}, fmt.Errorf("unterminated [ at offset %d", i)
	}
	if p[j] == ']' {
		n, err := strconv.Atoi(p[i+1 : j])
		if err != nil || n < 0 || strings.TrimLeft(p[i+1:j], "0123456789") != "" {
			return 0, seg{}, fmt.Errorf("bad index %q at offset %d (want [N] or [key=value])", p[i+1:j], i)
		}
		return j + 1, seg{isSel: true, index: n}, nil
	}
	key := p[i+1 : j]
	if key == "" {
		return 0, seg{}, fmt.Errorf("empty selector key at offset %d", i)
	}
	v := j + 1
	if v < len(p) && p[v] == '"' {
		end, s, err := jsonString(p, v)
		if err != nil {
			return 0, seg{}, err
		}
		if end >= len(p) || p[end] != ']' {
			return 0, seg{}, fmt.Errorf("expected ] after quoted value at offset %d", end)
		}
		return end + 1, seg{isSel: true, selKey: key, selVal: s}, nil
	}
	depth := 0
	for k := v; k < len(p); k++ {
		switch p[k] {
		case '[':
			depth++
		case ']':
			if depth == 0 {
				if k == v {
					return 0, seg{}, fmt.Errorf("empty selector value at offset %d", v)
				}
				return k + 1, seg{isSel: true, selKey: key, selVal: p[v:k]}, nil
			}
			depth--
		}
	}
	return 0, seg{}, fmt.Errorf("unterminated [ at offset %d", i)
}

// quoteSel writes a selector value bare when parseSel reads it back the
// same, else as a JSON string.
func quoteSel(v string) string {
	depth, ok := 0, v != "" && v[0] != '"'
	for i := 0; i < len(v) && ok; i++ {
		switch v[i] {
		case '[':
			depth++
		case ']':
			if depth--; depth < 0 {
				ok = false
			}
		}
	}
	if ok && depth == 0 {
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// quoteKey writes a key bare when it has no path syntax in it.
func quoteKey(k string) string {
	if k != "" && k[0] != '"' && !strings.ContainsAny(k, ".[]") {
		return k
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// formatPath writes segs back in path syntax.
func formatPath(segs []seg) string {
	var b strings.Builder
	for i, s := range segs {
		if !s.isSel {
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(quoteKey(s.key))
			continue
		}
		b.WriteString(s.String())
	}
	return b.String()
}
