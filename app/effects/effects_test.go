package effects_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/effects"
)

// domainEventTypes reads every event type of package domain from its
// source: the string each EventName method returns. Reading the source
// rather than a hand-kept list means a new event cannot be forgotten here.
func domainEventTypes(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "domain")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, filepath.Join(dir, f.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv == nil || fn.Name.Name != "EventName" || fn.Body == nil || len(fn.Body.List) != 1 {
				continue
			}
			ret, ok := fn.Body.List[0].(*ast.ReturnStmt)
			if !ok || len(ret.Results) != 1 {
				t.Fatalf("%s: EventName must return one string literal", fset.Position(fn.Pos()))
			}
			lit, ok := ret.Results[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s: EventName must return one string literal", fset.Position(fn.Pos()))
			}
			name, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("found no event types in domain")
	}
	return names
}

// Every event type of domain has a row, and the codec knows it.
func TestEveryDomainEventHasARow(t *testing.T) {
	codec := app.NewEventCodec()
	for _, name := range domainEventTypes(t) {
		if effects.Of(name) == 0 {
			t.Errorf("%s has no row in the effects table", name)
		}
		if !codec.Knows(name) {
			t.Errorf("%s is not in the event codec's schema table", name)
		}
	}
}

// The rows say what the read models promise: stock moves touch only the
// live stock and version; every other product change moves details and the
// catalogue, and the version too.
func TestRows(t *testing.T) {
	for _, tt := range []struct {
		event string
		want  effects.Effect
	}{
		{"ProductCreated", effects.ProductDetails | effects.Catalogue | effects.LiveStock},
		{"ProductDetailsChanged", effects.ProductDetails | effects.Catalogue | effects.LiveStock},
		{"ProductPriceChanged", effects.ProductDetails | effects.Catalogue | effects.LiveStock},
		{"StockAdded", effects.LiveStock},
		{"StockReserved", effects.LiveStock},
		{"StockReleased", effects.LiveStock},
		{"CustomerRegistered", effects.CustomerProfile},
		{"CustomerProfileUpdated", effects.CustomerProfile},
		{"OrderPlaced", effects.CustomerOrders},
		{"OrderPaid", effects.CustomerOrders},
		{"OrderShipped", effects.CustomerOrders},
		{"OrderCancelled", effects.CustomerOrders},
		{"CustomerVanished", 0},
	} {
		if got := effects.Of(tt.event); got != tt.want {
			t.Errorf("Of(%s) = %b, want %b", tt.event, got, tt.want)
		}
	}
}
