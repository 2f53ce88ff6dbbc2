package http

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"gopkg.in/yaml.v3"
)

// openAPIDoc is the part of an OpenAPI document the contract test reads.
type openAPIDoc struct {
	OpenAPI    string                    `yaml:"openapi"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components map[string]map[string]any `yaml:"components"`
}

// isOperation reports whether a path item's key names an operation.
func isOperation(key string) bool {
	switch key {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
		return true
	}
	return false
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPIMatchesRoutes keeps the document true: every registered route is
// documented, and every documented operation is registered.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	s := newTestServer(t, nil, nil)
	// Echo writes path parameters as ":name", OpenAPI as "{name}".
	echoParam := regexp.MustCompile(`:([A-Za-z0-9_]+)`)

	registered := map[string]bool{}
	for _, r := range s.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		op := strings.ToLower(r.Method) + " " + echoParam.ReplaceAllString(r.Path, "{$1}")
		registered[op] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if isOperation(method) {
				documented[method+" "+path] = true
			}
		}
	}
	for _, op := range sortedKeys(registered) {
		if !documented[op] {
			t.Errorf("route %s is not in openapi.yaml", op)
		}
	}
	for _, op := range sortedKeys(documented) {
		if !registered[op] {
			t.Errorf("openapi.yaml documents %s, which is not registered", op)
		}
	}
}

// TestOpenAPIReferencesResolve catches a $ref to a component that does not
// exist, which YAML parsing alone would not.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	var root any
	if err := yaml.Unmarshal(openAPIDocument, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(node any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			for k, v := range n {
				if ref, ok := v.(string); ok && k == "$ref" {
					parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
					if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
						t.Errorf("unresolved $ref %q", ref)
					}
					continue
				}
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(root)
}

// Every path parameter of a documented path is declared, and the id routes
// document their 400 for a malformed id.
func TestOpenAPIPathParameters(t *testing.T) {
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths {
		if !strings.Contains(path, "{") {
			continue
		}
		for method, v := range item {
			if !isOperation(method) {
				continue
			}
			op, _ := v.(map[string]any)
			if _, ok := op["parameters"]; !ok {
				if _, ok := item["parameters"]; !ok {
					t.Errorf("%s %s declares no parameters", method, path)
				}
			}
			responses, _ := op["responses"].(map[string]any)
			if _, ok := responses["400"]; !ok {
				t.Errorf("%s %s documents no 400 for a malformed path parameter", method, path)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	rec := newTestServer(t, nil, nil).do(t, request{method: http.MethodGet, path: "/openapi.yaml"})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != openAPIContentType {
		t.Fatalf("GET /openapi.yaml = %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec.Body.String() != string(openAPIDocument) {
		t.Fatal("served document differs from the embedded one")
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
