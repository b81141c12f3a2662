package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// utf8BOM is the UTF-8 byte-order mark some editors put first.
var utf8BOM = []byte("\ufeff")

// MaxFileSize bounds a configuration file (16 MiB).
const MaxFileSize = 16 << 20

// Load reads, expands, decodes, defaults and validates the file at path.
// It does no DNS: call Resolve afterwards. On failure the error is Errors
// (every problem, FILE:LINE:COL: message, sorted) and the Config is nil.
func Load(path string) (*Config, error) {
	return LoadWith(path, nil)
}

// readFile reads at most MaxFileSize+1 bytes of the file at path.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: fileErr(err)}}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, Errors{{File: path, Msg: fileErr(err)}}
	}
	return data, nil
}

func fileErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read configuration: " + err.Error()
}

// Parse is Load for bytes already read; name is used in messages. ${VAR}
// references are expanded from the process environment. Parse does no DNS
// and never panics, whatever data holds.
func Parse(name string, data []byte) (*Config, error) {
	return parseWith(name, data, lookupEnv, nil)
}

// lookupEnv is os.LookupEnv (a variable, so that nothing else is needed).
var lookupEnv = os.LookupEnv

func parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	return parseWith(name, data, lookup, nil)
}

func parseWith(name string, data []byte, lookup func(string) (string, bool), ovs []Override) (*Config, error) {
	c := &collector{file: name}
	if len(data) > MaxFileSize {
		c.add(Pos{}, "file is larger than %d bytes", MaxFileSize)
		return nil, c.errs.err()
	}
	cfg := Defaults()
	cfg.File = name
	cfg.Raw = data
	cfg.SHA256 = sha256.Sum256(data)

	// A UTF-8 byte-order mark is ignored (contract §2; YAML 1.2 section
	// 5.2). Raw and SHA256 keep the file as read; positions are of the text
	// after the mark, as an editor shows them (only line 1's byte offsets
	// shift, by 3).
	expanded, pm := expandEnv(bytes.TrimPrefix(data, utf8BOM), lookup, c)
	if len(c.errs) > 0 {
		return nil, c.errs.err()
	}
	file, err := parseYAML(expanded)
	if err != nil {
		c.add(yamlErrPos(err, pm), "%s", yamlErrMsg(err))
		return nil, c.errs.err()
	}
	cfg.m.at = Pos{Line: 1, Col: 1}
	d := &decoder{c: c, pm: pm, anchors: map[string]ast.Node{}}
	d.decodeFile(file, cfg)
	cfg.setDerived()
	cfg.applyOverrides(ovs, c)

	decodeErrs := c.errs
	at := make(map[Pos]bool, len(decodeErrs))
	for _, e := range decodeErrs {
		at[Pos{e.Line, e.Col}] = true
	}
	var verrs Errors
	if err := cfg.Validate(); err != nil {
		verrs = err.(Errors)
	}
	files := &collector{file: name}
	cfg.loadTLSFiles(files)
	verrs = append(verrs, files.errs...)
	all := decodeErrs
	for _, e := range verrs {
		// A value that failed to decode kept its default; don't report it
		// twice. (An error about an override names no file position.)
		if e.File != name || !at[Pos{e.Line, e.Col}] {
			all = append(all, e)
		}
	}
	if len(all) > 0 {
		return nil, all.err()
	}
	return cfg, nil
}

// parseYAML runs the go-yaml parser, turning a panic inside it into an error.
func parseYAML(b []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(b, 0, parser.AllowDuplicateMapKey())
}

func yamlErrPos(err error, pm *posMap) Pos {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return pm.toOrig(Pos{Line: tk.Position.Line, Col: tk.Position.Column})
		}
	}
	return Pos{}
}

func yamlErrMsg(err error) string {
	var ye yaml.Error
	if errors.As(err, &ye) {
		return "YAML syntax error: " + ye.GetMessage()
	}
	return "YAML syntax error: " + err.Error()
}

// decodeFile decodes the single document of f into cfg.
func (d *decoder) decodeFile(f *ast.File, cfg *Config) {
	var docs []*ast.DocumentNode
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		return // empty file: Validate reports the missing frontends
	}
	for _, doc := range docs[1:] {
		d.c.add(d.pos(doc.Body), "only one YAML document is allowed per file")
	}
	for _, doc := range docs {
		d.collectAnchors(doc.Body, 0)
	}
	body := d.resolve(docs[0].Body, "")
	if isNull(body) {
		return
	}
	d.decodeStruct(body, reflect.ValueOf(cfg).Elem(), "")
}

// Checksum returns the hex SHA-256 of the file as read (Raw).
func (c *Config) Checksum() string { return hex.EncodeToString(c.SHA256[:]) }
