package arch

import (
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the module's directory (the tests run in internal/arch).
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	return r
}

// buildTags reports whether the file's //go:build line (if any) includes
// it in a -race build (race) and in a build without -race (noRace).
func buildTags(f *ast.File) (race, noRace bool) {
	race, noRace = true, true
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, c := range cg.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if err != nil {
				continue
			}
			race = expr.Eval(func(tag string) bool { return tag == "race" })
			noRace = expr.Eval(func(string) bool { return false })
		}
	}
	return race, noRace
}

// TestAllocTestsRunInMakeTest: make test runs every test under -race, then
// `go test -run Alloc ./...` without it. testing.AllocsPerRun is meaningless
// under the race detector (its instrumentation allocates), so a file that
// calls it must be built !race, and then only the non-race pass can run its
// tests: each must be named …Alloc…. A test in a !race file named otherwise
// would never run at all.
// eachTestFile parses every _test.go file of the module (hidden
// directories and testdata excepted) and calls fn with its path relative to
// the module root.
func eachTestFile(t *testing.T, fn func(rel string, f *ast.File)) {
	t.Helper()
	r := root(t)
	err := filepath.WalkDir(r, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != r && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		relPath, _ := filepath.Rel(r, path)
		fn(filepath.ToSlash(relPath), f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// calls reports whether f calls pkg.name (by the package's import name).
func calls(f *ast.File, pkg, name string) bool {
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
			if id, ok := sel.X.(*ast.Ident); ok && id.Name == pkg {
				found = true
			}
		}
		return !found
	})
	return found
}

func TestAllocTestsRunInMakeTest(t *testing.T) {
	found := 0
	eachTestFile(t, func(relPath string, f *ast.File) {
		race, noRace := buildTags(f)
		if calls(f, "testing", "AllocsPerRun") {
			found++
			if race || !noRace {
				t.Errorf("%s calls testing.AllocsPerRun but is not built //go:build !race", relPath)
			}
		}
		if race || !noRace {
			return
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Name.Name == "TestMain" {
				continue
			}
			if !strings.Contains(fn.Name.Name, "Alloc") {
				t.Errorf("%s: %s is built only without -race but is not named …Alloc…: make test never runs it",
					relPath, fn.Name.Name)
			}
		}
	})
	if found < 5 {
		t.Fatalf("found only %d files with allocation tests; is the walk broken?", found)
	}
	// And make test has that pass: a go test line with -run Alloc and no -race.
	mk, err := os.ReadFile(filepath.Join(root(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	pass := false
	for _, line := range strings.Split(string(mk), "\n") {
		pass = pass || strings.Contains(line, "test ") && strings.Contains(line, "-run Alloc") && !strings.Contains(line, "-race")
	}
	if !pass {
		t.Error("the Makefile has no `go test -run Alloc` line without -race: the allocation tests never run")
	}
}
