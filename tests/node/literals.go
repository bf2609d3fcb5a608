// Prints, as JSON, the string literals of Go snippets decoded by Go itself
// (go/parser + strconv.Unquote), and the pgx DSN parsed by net/url.
// Usage: go run literals.go FILE...   Standard library only.
package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"os"
	"strconv"
	"strings"
)

func literals(tree *ast.File) map[string]string {
	found := map[string]string{}
	add := func(name string, expr ast.Expr) {
		lit, ok := expr.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		value, err := strconv.Unquote(lit.Value)
		if err != nil {
			panic(err)
		}
		found[name] = value
	}
	ast.Inspect(tree, func(node ast.Node) bool {
		switch n := node.(type) {
		case *ast.KeyValueExpr:
			if key, ok := n.Key.(*ast.Ident); ok {
				add(key.Name, n.Value)
			}
		case *ast.AssignStmt:
			if sel, ok := n.Lhs[0].(*ast.SelectorExpr); ok && len(n.Rhs) == 1 {
				add(sel.Sel.Name, n.Rhs[0])
			}
		case *ast.CallExpr:
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
				for i, arg := range n.Args {
					add(sel.Sel.Name+"."+strconv.Itoa(i), arg)
				}
			}
		}
		return true
	})
	return found
}

func main() {
	out := map[string]map[string]any{}
	for _, file := range os.Args[1:] {
		tree, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			out[file] = map[string]any{"error": err.Error()}
			continue
		}
		lits := literals(tree)
		entry := map[string]any{"literals": lits}
		if dsn, ok := lits["ParseConfig.0"]; ok {
			u, err := url.Parse(dsn)
			if err != nil {
				entry["error"] = err.Error()
			} else {
				_, hasPassword := u.User.Password()
				entry["dsn"] = map[string]any{
					"scheme": u.Scheme, "user": u.User.Username(), "has_password": hasPassword,
					"host": u.Hostname(), "port": u.Port(),
					"database": strings.TrimPrefix(u.Path, "/"), "query": u.Query(),
				}
			}
		}
		out[file] = entry
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
