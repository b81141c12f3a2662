package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a configuration file. Line and Col are 1-based;
// 0 means the position is unknown (a Config built in code, or a file that
// could not be read).
type Error struct {
	// File is the configuration file, or the flag or environment variable
	// ("--admin-listen", "SLUICE_LOG_LEVEL") whose value is wrong.
	File      string
	Line, Col int
	Msg       string
}

// Error formats e as FILE:LINE:COL: message (FILE: message without a
// position).
func (e *Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ":" + strconv.Itoa(e.Col) + ": " + e.Msg
}

// Errors is every problem found, sorted by position. Load, Parse, Validate
// and Resolve return it (as error) when non-empty, never an empty one.
type Errors []*Error

// Error formats one error per line.
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// sort orders es by position, keeping the order of equal positions.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

// err returns es sorted as an error, or nil when empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// Pos is a 1-based line and column in the original (unexpanded) file.
type Pos struct{ Line, Col int }

// meta records where a decoded struct and its keys are in the file, for
// positioned validation messages. Zero for structs built in code.
type meta struct {
	at   Pos            // the mapping itself (its first key)
	keys map[string]Pos // key (or "key[i]" for scalar list items) → value position
	bad  bool           // the value was not a mapping (already reported); skip its checks
	// over maps a key set by an Override to its source (flag or variable).
	over map[string]string
}

// pos returns the position of key, or of the struct when key is absent.
func (m *meta) pos(key string) Pos {
	if p, ok := m.keys[key]; ok {
		return p
	}
	return m.at
}

// line returns " (line N)" for a key given in the file, else "": cross-key
// messages name the other key's line this way.
func (m *meta) line(key string) string {
	if p, ok := m.keys[key]; ok && p.Line > 0 {
		return " (line " + strconv.Itoa(p.Line) + ")"
	}
	return ""
}

// has reports whether key was given in the file.
func (m *meta) has(key string) bool {
	_, ok := m.keys[key]
	return ok
}

// collector accumulates errors for one file.
type collector struct {
	file string
	errs Errors
}

func (c *collector) add(p Pos, format string, args ...any) {
	c.addFrom(c.file, p, format, args...)
}

// addFrom records an error about a value that came from file (or from a
// flag or environment variable).
func (c *collector) addFrom(file string, p Pos, format string, args ...any) {
	c.errs = append(c.errs, &Error{File: file, Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, args...)})
}
