package arch

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// decls returns the names a package declares in its non-test files:
// "Name" for top-level functions, types, variables and constants,
// "Type.Method" for methods (interface methods included).
func decls(t *testing.T, p *pkg) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || len(d.Recv.List) == 0 {
					out[d.Name.Name] = true
					continue
				}
				out[recvName(d.Recv.List[0].Type)+"."+d.Name.Name] = true
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						out[s.Name.Name] = true
						if it, ok := s.Type.(*ast.InterfaceType); ok {
							for _, m := range it.Methods.List {
								for _, n := range m.Names {
									out[s.Name.Name+"."+n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							out[n.Name] = true
						}
					}
				}
			}
		}
	}
	return out
}

// recvName is the type name of a method receiver (*T, T[P] → T).
func recvName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvName(e.X)
	case *ast.IndexExpr:
		return recvName(e.X)
	case *ast.IndexListExpr:
		return recvName(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

var (
	codeSpan    = regexp.MustCompile("`([^`\n]+)`")
	pathRE      = regexp.MustCompile(`^[a-z][a-z0-9]*(/[a-z][a-z0-9]*)*$`)
	refRE       = regexp.MustCompile(`^([a-z][a-z0-9]*(?:/[a-z][a-z0-9]*)*)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?$`)
	fileRE      = regexp.MustCompile(`^[\w./-]+\.(go|md|yaml|yml|json|mod|sum|sh|txt)$`)
	nodeLabel   = regexp.MustCompile(`\["([^"]+)"\]`)
	edgeRE      = regexp.MustCompile(`^\s*(\w+)(?:\["[^"]+"\])?\s*-->\s*(\w+)`)
	nodeIDLabel = regexp.MustCompile(`(\w+)\["([^"]+)"\]`)
)

// TestArchitectureDoc keeps docs/architecture.md true: every package in its
// diagram exists and every drawn import is real; every package, function,
// type, method and file it names in `code` exists. Packages added since,
// and imports the diagram does not draw, are logged (go test -v).
func TestArchitectureDoc(t *testing.T) {
	r := root(t)
	b, err := os.ReadFile(filepath.Join(r, "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	pkgs := listPackages(t)

	// The diagram: node labels are package paths ("bench/..." a tree).
	start := strings.Index(doc, "```mermaid\n")
	end := strings.Index(doc[start+1:], "\n```")
	if start < 0 || end < 0 {
		t.Fatal("docs/architecture.md has no mermaid diagram")
	}
	diagram := doc[start : start+1+end]
	ids := map[string]string{} // node id → package path
	for _, m := range nodeIDLabel.FindAllStringSubmatch(diagram, -1) {
		ids[m[1]] = m[2]
	}
	covered := func(p string) bool {
		for _, l := range ids {
			if l == p || strings.HasSuffix(l, "/...") && strings.HasPrefix(p+"/", strings.TrimSuffix(l, "...")) {
				return true
			}
		}
		return false
	}
	roots := map[string]bool{} // first path elements of the module's packages, drawn or not
	for _, l := range ids {
		roots[strings.Split(l, "/")[0]] = true
		if p := strings.TrimSuffix(l, "/..."); p != l {
			if fi, err := os.Stat(filepath.Join(r, p)); err != nil || !fi.IsDir() {
				t.Errorf("diagram: %s: no such directory", l)
			}
		} else if pkgs[l] == nil {
			t.Errorf("diagram: package %s does not exist", l)
		}
	}
	for name := range pkgs {
		roots[strings.Split(name, "/")[0]] = true
		if !covered(name) {
			t.Logf("diagram: package %s is not drawn", name)
		}
	}
	drawn := map[[2]string]bool{}
	for _, line := range strings.Split(diagram, "\n") {
		m := edgeRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		from, to := ids[m[1]], ids[m[2]]
		if from == "" || to == "" {
			t.Errorf("diagram: edge %q between unlabelled nodes", strings.TrimSpace(line))
			continue
		}
		drawn[[2]string{from, to}] = true
		imports := false
		for name, p := range pkgs {
			if name == from || strings.HasSuffix(from, "/...") && strings.HasPrefix(name+"/", strings.TrimSuffix(from, "...")) {
				imports = imports || slices.Contains(p.Imports, module+"/"+to)
			}
		}
		if !imports {
			t.Errorf("diagram: %s --> %s, but %s does not import %s", from, to, from, to)
		}
	}
	for name, p := range pkgs {
		if !covered(name) || strings.HasPrefix(name, "bench/") {
			continue
		}
		for _, imp := range p.Imports {
			if to := rel(imp); strings.HasPrefix(imp, module+"/") && !drawn[[2]string{name, to}] {
				t.Logf("diagram: %s imports %s, not drawn", name, to)
			}
		}
	}

	// Every `reference` in the text.
	declsOf := map[string]map[string]bool{}
	checked := 0
	for _, m := range codeSpan.FindAllStringSubmatch(doc, -1) {
		tok := m[1]
		switch {
		case fileRE.MatchString(tok) && strings.Contains(tok, "/"):
			if _, err := os.Stat(filepath.Join(r, tok)); err != nil {
				t.Errorf("names file %s, which does not exist", tok)
			}
			checked++
		case pathRE.MatchString(tok):
			if !roots[strings.Split(tok, "/")[0]] {
				continue // not a path of this module (a word, a program)
			}
			if fi, err := os.Stat(filepath.Join(r, tok)); err != nil || !fi.IsDir() {
				t.Errorf("names package %s, which does not exist", tok)
			}
			checked++
		case refRE.MatchString(tok):
			sm := refRE.FindStringSubmatch(tok)
			if !roots[strings.Split(sm[1], "/")[0]] {
				continue
			}
			checked++
			p := pkgs[sm[1]]
			if p == nil {
				t.Errorf("names %s: package %s does not exist", tok, sm[1])
				continue
			}
			if declsOf[sm[1]] == nil {
				declsOf[sm[1]] = decls(t, p)
			}
			name := sm[2]
			if sm[3] != "" {
				name += "." + sm[3]
			}
			if !declsOf[sm[1]][name] {
				t.Errorf("names %s: %s declares no %s", tok, sm[1], name)
			}
		}
	}
	t.Logf("%d references checked", checked)
	if checked < 40 {
		t.Errorf("only %d references checked: has the notation of docs/architecture.md changed?", checked)
	}
}
