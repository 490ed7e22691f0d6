package layer

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// TestImportsAndOutput keeps the package's place in the module: its
// non-test files import only the standard library, gonum, Gorgonia and the
// module's models and op packages (never envs, train or examples), and
// never print or exit.
func TestImportsAndOutput(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := []string{"gorgonia.org/", "gonum.org/", "github.com/dilqr/dilqr/models", "github.com/dilqr/dilqr/op"}
	for _, p := range pkg.Imports {
		ok := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") // standard library
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(p, a)
		}
		if !ok {
			t.Errorf("%v: imports %s", pkg.ImportPos[p][0], p)
		}
	}
	forbidden := map[string]bool{"fmt.Print": true, "fmt.Println": true, "fmt.Printf": true, "os.Exit": true,
		"log.Print": true, "log.Printf": true, "log.Println": true, "log.Fatal": true, "log.Fatalf": true, "panic": true}
	fset := token.NewFileSet()
	for _, f := range pkg.GoFiles {
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(af, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.Ident); ok {
					name = x.Name + "." + fn.Sel.Name
				}
			}
			if forbidden[name] {
				t.Errorf("%s: calls %s", fset.Position(call.Pos()), name)
			}
			return true
		})
	}
}
