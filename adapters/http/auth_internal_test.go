package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
)

// TestOpenAPISecurityMatchesAccess keeps openapi.yaml's security true: each
// operation's x-orderflow-access is the route's rule, anonymous operations
// need no token and the others bearerAuth, every operation documents its
// 401 (an invalid token is refused everywhere) and the protected ones 403.
func TestOpenAPISecurityMatchesAccess(t *testing.T) {
	doc := loadOpenAPI(t)
	table := routeAccess()
	openAPIParam := regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)
	if _, ok := doc.Components["securitySchemes"]["bearerAuth"]; !ok {
		t.Fatal("components.securitySchemes.bearerAuth is missing")
	}
	for path, item := range doc.Paths {
		for method, v := range item {
			if !isOperation(method) {
				continue
			}
			op, _ := v.(map[string]any)
			key := strings.ToUpper(method) + " " + openAPIParam.ReplaceAllString(path, ":$1")
			want, ok := table[key]
			if !ok {
				t.Errorf("%s is documented but has no access rule", key)
				continue
			}
			if got := op["x-orderflow-access"]; got != want.String() {
				t.Errorf("%s: x-orderflow-access %v, want %s", key, got, want)
			}
			security, present := op["security"].([]any)
			switch {
			case !present:
				t.Errorf("%s: no security", key)
			case want == accessAnonymous && len(security) != 0:
				t.Errorf("%s is anonymous but its security is %v", key, security)
			case want != accessAnonymous && (len(security) != 1 || security[0].(map[string]any)["bearerAuth"] == nil):
				t.Errorf("%s needs a token but its security is %v", key, security)
			}
			responses, _ := op["responses"].(map[string]any)
			if _, ok := responses["401"]; !ok {
				t.Errorf("%s documents no 401", key)
			}
			if _, ok := responses["403"]; ok != (want != accessAnonymous) {
				t.Errorf("%s: documents 403 = %v, want %v", key, ok, want != accessAnonymous)
			}
		}
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		values []string
		token  string
		ok     bool
	}{
		{[]string{"Bearer abc.def.ghi"}, "abc.def.ghi", true},
		{[]string{"bearer abc"}, "abc", true},
		{[]string{"BEARER   abc  "}, "abc", true},
		{[]string{"Bearer"}, "", false},
		{[]string{"Bearer "}, "", false},
		{[]string{"Basic YWRtaW46YWRtaW4="}, "", false},
		{[]string{"abc"}, "", false},
		{[]string{"Bearer a", "Bearer b"}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		token, ok := bearerToken(tt.values)
		if token != tt.token || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.values, token, ok, tt.token, tt.ok)
		}
	}
}

// BenchmarkAuthenticate measures what verifying a token on every request
// costs: /healthz with an admin token against /healthz without one.
func BenchmarkAuthenticate(b *testing.B) {
	keys, err := jwt.NewKeys([]byte("benchmark-secret-0123456789abcdefghij"))
	if err != nil {
		b.Fatal(err)
	}
	token, err := keys.Mint(app.Principal{Subject: "bench", Role: app.RoleAdmin}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewServer(Config{App: &app.Application{}, Registerer: reg, Gatherer: reg, Tokens: keys,
		Ready: func(context.Context) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, header string }{{"NoToken", ""}, {"Token", "Bearer " + token}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			if bc.header != "" {
				req.Header.Set("Authorization", bc.header)
			}
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
