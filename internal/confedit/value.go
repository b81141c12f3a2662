package confedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// jv is a JSON value with object keys kept in order, so that a mapping is
// written with its keys in the order the caller gave them.
type jv struct {
	kind byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys []string
	vals []*jv // object values (parallel to keys) or array items
	str  string
	b    bool
}

func (v *jv) isCollection() bool { return v.kind == 'o' || v.kind == 'a' }
func (v *jv) empty() bool        { return len(v.vals) == 0 }

// maxValueDepth bounds the nesting of a value.
const maxValueDepth = 64

// parseJSON reads one JSON value; duplicate object keys are refused (YAML
// would refuse them too).
func parseJSON(raw []byte) (*jv, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("no value")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := readJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func readJSON(dec *json.Decoder, depth int) (*jv, error) {
	if depth > maxValueDepth {
		return nil, errors.New("value nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &jv{kind: 'o'}
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if seen[k] {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				seen[k] = true
				x, err := readJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.keys, v.vals = append(v.keys, k), append(v.vals, x)
			}
			_, err := dec.Token()
			return v, err
		case '[':
			v := &jv{kind: 'a'}
			for dec.More() {
				x, err := readJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				v.vals = append(v.vals, x)
			}
			_, err := dec.Token()
			return v, err
		}
	case string:
		return &jv{kind: 's', str: t}, nil
	case json.Number:
		if _, err := numberValue(string(t)); err != nil {
			return nil, err
		}
		return &jv{kind: 'n', str: string(t)}, nil
	case bool:
		return &jv{kind: 'b', b: t}, nil
	case nil:
		return &jv{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// numberValue converts a JSON number: an integer literal to int64 (uint64
// above it), anything else to float64.
func numberValue(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return nil, fmt.Errorf("number %s is out of range", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, fmt.Errorf("number %s is out of range", s)
	}
	return f, nil
}

// generic converts v to the value the verifier compares with the parsed
// YAML: map[string]any, []any, string, int64, uint64, float64, bool, nil.
func (v *jv) generic() any {
	switch v.kind {
	case 'o':
		m := make(map[string]any, len(v.keys))
		for i, k := range v.keys {
			m[k] = v.vals[i].generic()
		}
		return m
	case 'a':
		s := make([]any, len(v.vals))
		for i, x := range v.vals {
			s[i] = x.generic()
		}
		return s
	case 's':
		return v.str
	case 'n':
		n, _ := numberValue(v.str)
		return n
	case 'b':
		return v.b
	}
	return nil
}

// equal compares two JSON values (object key order ignored).
func (v *jv) equal(w *jv) bool { return equalG(v.generic(), w.generic()) }

// field returns the value of key in an object, or nil.
func (v *jv) field(key string) *jv {
	if v.kind != 'o' {
		return nil
	}
	for i, k := range v.keys {
		if k == key {
			return v.vals[i]
		}
	}
	return nil
}

// nest wraps v in objects for the keys of rest: nest([a b], v) = {a: {b: v}}.
func nest(rest []seg, v *jv) *jv {
	for i := len(rest) - 1; i >= 0; i-- {
		v = &jv{kind: 'o', keys: []string{rest[i].key}, vals: []*jv{v}}
	}
	return v
}
