package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv"
)

// testSecret signs the tokens of every API the tests build.
const testSecret = "orderflow-test-secret-0123456789abcdef"

// testAdmin is the subject of the admin token the harness sends.
const testAdmin = "test-admin"

func testKeys(t *testing.T) *jwt.Keys {
	t.Helper()
	keys, err := jwt.NewKeys([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func mint(t *testing.T, keys *jwt.Keys, role app.Role, sub string, ttl time.Duration) string {
	t.Helper()
	token, err := keys.Mint(app.Principal{Subject: sub, Role: role}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// expiredToken is a token signed with secret that expired a minute ago;
// jwt.Keys refuses to mint one.
func expiredToken(t *testing.T, secret string, role app.Role, sub string) string {
	t.Helper()
	now := time.Now()
	token, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, gojwt.MapClaims{
		"sub": sub, "role": string(role), "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-time.Minute).Unix(),
	}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// anonymousRoute is the list of routes that need no token (docs/guarantees.md,
// "Auth"), stated again here so that the tests do not trust the table they
// test.
func anonymousRoute(method, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	switch {
	case method == http.MethodGet && (path == "/api/v1/products" || strings.HasPrefix(path, "/api/v1/products/")):
		return true
	case method == http.MethodPost && path == "/api/v1/customers":
		return true
	case strings.HasPrefix(path, "/public/"):
		return true
	}
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.yaml", "/admin/console", "/admin/console/console.js", "/admin/console/console.css":
		return true
	}
	return false
}

// withAdmin adds the admin token to header on a route that needs one,
// unless header names Authorization itself; an empty Authorization value
// means: send none.
func withAdmin(method, path, admin string, header []string) []string {
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Authorization") {
			if header[i+1] != "" {
				return header
			}
			return append(header[:i:i], header[i+2:]...)
		}
	}
	if admin == "" || anonymousRoute(method, path) {
		return header
	}
	return append(header, "Authorization", "Bearer "+admin)
}

// noToken is the header list of a request without credentials.
var noToken = []string{"Authorization", ""}

func bearer(token string) []string { return []string{"Authorization", "Bearer " + token} }

// authFixture is what one case of the matrix acts on: a product, the
// customer whose token is "right", another customer and an order of the
// first. Each case gets its own, so a case that succeeds cannot change what
// the next one sees.
type authFixture struct {
	product, owner, other, order string
}

var fixtureSeq atomic.Int64

func newAuthFixture(a *api) authFixture {
	a.t.Helper()
	n := fixtureSeq.Add(1)
	f := authFixture{
		product: a.createProduct(fmt.Sprintf("AUTH-%d", n), 100, 1000, "EUR")["id"].(string),
		owner:   a.registerCustomer(fmt.Sprintf("owner-%d@example.com", n))["id"].(string),
		other:   a.registerCustomer(fmt.Sprintf("other-%d@example.com", n))["id"].(string),
	}
	r := a.call(http.MethodPost, "/api/v1/orders", orderBody(f.owner, f.product, 1))
	expect(a.t, r, http.StatusCreated)
	f.order = r.json(a.t)["id"].(string)
	return f
}

// authRoute is one route of the API and a request to it that succeeds for
// a caller allowed to make it.
type authRoute struct {
	method, route string
	access        string // anonymous, customer or admin
	// request builds the path and body acting on f; it may prepare f first.
	request func(a *api, f authFixture) (path, body string)
	ok      int
}

func authRoutes() []authRoute {
	static := func(path, body string) func(*api, authFixture) (string, string) {
		return func(*api, authFixture) (string, string) { return path, body }
	}
	return []authRoute{
		{http.MethodPost, "/api/v1/products", "admin", func(*api, authFixture) (string, string) {
			return "/api/v1/products", fmt.Sprintf(`{"sku":"NEW-%d","name":"New","description":"","priceCents":1,"currency":"EUR","initialStock":1}`, fixtureSeq.Add(1))
		}, http.StatusCreated},
		{http.MethodGet, "/api/v1/products", "anonymous", static("/api/v1/products", ""), http.StatusOK},
		{http.MethodGet, "/api/v1/products/by-sku/{sku}", "anonymous", static("/api/v1/products/by-sku/nope", ""), http.StatusNotFound},
		{http.MethodGet, "/api/v1/products/{id}", "anonymous", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/products/" + f.product, ""
		}, http.StatusOK},
		{http.MethodPatch, "/api/v1/products/{id}", "admin", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/products/" + f.product, `{"name":"Renamed"}`
		}, http.StatusOK},
		{http.MethodPut, "/api/v1/products/{id}/price", "admin", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/products/" + f.product + "/price", `{"priceCents":999}`
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/products/{id}/stock", "admin", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/products/" + f.product + "/stock", `{"quantity":5}`
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/customers", "anonymous", func(*api, authFixture) (string, string) {
			return "/api/v1/customers", fmt.Sprintf(`{"email":"new-%d@example.com","name":"New"}`, fixtureSeq.Add(1))
		}, http.StatusCreated},
		{http.MethodGet, "/api/v1/customers/{id}", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/customers/" + f.owner, ""
		}, http.StatusOK},
		{http.MethodPatch, "/api/v1/customers/{id}", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/customers/" + f.owner, `{"name":"Changed"}`
		}, http.StatusOK},
		{http.MethodGet, "/api/v1/customers/{id}/orders", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/customers/" + f.owner + "/orders", ""
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/orders", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/orders", orderBody(f.owner, f.product, 2)
		}, http.StatusCreated},
		{http.MethodGet, "/api/v1/orders/{id}", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/orders/" + f.order, ""
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/orders/{id}/pay", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/orders/" + f.order + "/pay", ""
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/orders/{id}/ship", "admin", func(a *api, f authFixture) (string, string) {
			expect(a.t, a.call(http.MethodPost, "/api/v1/orders/"+f.order+"/pay", ""), http.StatusOK)
			return "/api/v1/orders/" + f.order + "/ship", ""
		}, http.StatusOK},
		{http.MethodPost, "/api/v1/orders/{id}/cancel", "customer", func(_ *api, f authFixture) (string, string) {
			return "/api/v1/orders/" + f.order + "/cancel", ""
		}, http.StatusOK},
		{http.MethodGet, "/public/products", "anonymous", static("/public/products", ""), http.StatusOK},
		{http.MethodGet, "/api/v1/admin/cache/stats", "admin", static("/api/v1/admin/cache/stats", ""), http.StatusOK},
		{http.MethodGet, "/debug/pprof/{name}", "admin", static("/debug/pprof/heap", ""), http.StatusOK},
		{http.MethodGet, "/api/v1/admin/overview", "admin", static("/api/v1/admin/overview", ""), http.StatusOK},
		{http.MethodGet, "/api/v1/admin/dead-letters", "admin", static("/api/v1/admin/dead-letters?limit=5", ""), http.StatusOK},
		{http.MethodPost, "/api/v1/admin/dead-letters/redrive", "admin", static("/api/v1/admin/dead-letters/redrive", `{"ids":["1-0"]}`), http.StatusOK},
		{http.MethodPost, "/api/v1/admin/dead-letters/drop", "admin", static("/api/v1/admin/dead-letters/drop", `{"all":true}`), http.StatusOK},
		{http.MethodPost, "/api/v1/admin/replay", "admin", func(a *api, _ authFixture) (string, string) {
			a.call(http.MethodPost, "/api/v1/admin/replay/cancel", "") // no projector takes it here
			return "/api/v1/admin/replay", `{"from":"auto"}`
		}, http.StatusAccepted},
		{http.MethodPost, "/api/v1/admin/replay/cancel", "admin", func(a *api, _ authFixture) (string, string) {
			a.call(http.MethodPost, "/api/v1/admin/replay", `{}`)
			return "/api/v1/admin/replay/cancel", ""
		}, http.StatusOK},
		{http.MethodGet, "/admin/console", "anonymous", static("/admin/console", ""), http.StatusOK},
		{http.MethodGet, "/admin/console/console.js", "anonymous", static("/admin/console/console.js", ""), http.StatusOK},
		{http.MethodGet, "/admin/console/console.css", "anonymous", static("/admin/console/console.css", ""), http.StatusOK},
		{http.MethodGet, "/healthz", "anonymous", static("/healthz", ""), http.StatusOK},
		{http.MethodGet, "/readyz", "anonymous", static("/readyz", ""), http.StatusOK},
		{http.MethodGet, "/metrics", "anonymous", static("/metrics", ""), http.StatusOK},
		{http.MethodGet, "/openapi.yaml", "anonymous", static("/openapi.yaml", ""), http.StatusOK},
	}
}

// stateCount sums the rows every command writes: events (and with them the
// read tables, in the same transaction) and idempotency keys.
func stateCount(t *testing.T, a *api) int64 {
	t.Helper()
	var n int64
	err := a.pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM idempotency_keys)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuthEveryRoute: every route of the API × {no token, expired, bad
// signature, wrong role, other customer, right customer, admin}, each
// where it applies, answers the status and problem docs/guarantees.md
// ("Auth") gives; a refused request changes nothing.
func TestAuthEveryRoute(t *testing.T) {
	base := newCachedAPI(t, cachedAPIOptions{})
	keys := base.keys
	otherKeys, err := jwt.NewKeys([]byte("another-secret-0123456789abcdefghij"))
	if err != nil {
		t.Fatal(err)
	}

	type tokenCase struct {
		name string
		// header for the fixture; applies tells whether the case means
		// anything on a route of this access.
		header  func(f authFixture) []string
		applies func(access string) bool
		// want is the answer on a route of this access: 0 means the
		// route's own success.
		want func(access string) (int, string)
	}
	all := func(string) bool { return true }
	refused := func(status int, kind string) func(string) (int, string) {
		return func(string) (int, string) { return status, kind }
	}
	cases := []tokenCase{
		{"NoToken", func(authFixture) []string { return noToken }, all, func(access string) (int, string) {
			if access == "anonymous" {
				return 0, ""
			}
			return http.StatusUnauthorized, "unauthorized"
		}},
		{"Expired", func(f authFixture) []string {
			return bearer(expiredToken(t, testSecret, app.RoleAdmin, testAdmin))
		}, all, refused(http.StatusUnauthorized, "unauthorized")},
		{"BadSignature", func(f authFixture) []string {
			return bearer(mint(t, otherKeys, app.RoleAdmin, testAdmin, time.Hour))
		}, all, refused(http.StatusUnauthorized, "unauthorized")},
		{"NotABearer", func(authFixture) []string { return []string{"Authorization", "Basic YWRtaW46YWRtaW4="} },
			all, refused(http.StatusUnauthorized, "unauthorized")},
		{"WrongRole", func(f authFixture) []string {
			return bearer(mint(t, keys, app.RoleCustomer, f.owner, time.Hour))
		}, func(access string) bool { return access == "admin" }, refused(http.StatusForbidden, "forbidden")},
		{"OtherCustomer", func(f authFixture) []string {
			return bearer(mint(t, keys, app.RoleCustomer, f.other, time.Hour))
		}, func(access string) bool { return access == "customer" }, refused(http.StatusForbidden, "forbidden")},
		{"RightCustomer", func(f authFixture) []string {
			return bearer(mint(t, keys, app.RoleCustomer, f.owner, time.Hour))
		}, func(access string) bool { return access != "admin" }, func(string) (int, string) { return 0, "" }},
		{"Admin", func(authFixture) []string {
			return bearer(mint(t, keys, app.RoleAdmin, "another-admin", time.Hour))
		}, all, func(string) (int, string) { return 0, "" }},
	}

	seen := map[string]bool{}
	for _, rt := range authRoutes() {
		seen[rt.method+" "+rt.route] = true
		for _, tc := range cases {
			if !tc.applies(rt.access) {
				continue
			}
			t.Run(rt.method+" "+rt.route+"/"+tc.name, func(t *testing.T) {
				a := base.with(t).api
				f := newAuthFixture(a)
				path, body := rt.request(a, f)
				before := stateCount(t, a)
				r := a.call(rt.method, path, body, tc.header(f)...)
				status, kind := tc.want(rt.access)
				if status == 0 {
					expect(t, r, rt.ok)
					return
				}
				expectProblem(t, r, status, kind)
				if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without a Bearer challenge: WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
				if after := stateCount(t, a); after != before {
					t.Errorf("a refused %s %s changed the database: %d rows before, %d after", rt.method, path, before, after)
				}
			})
		}
	}

	// The matrix covers every route: openapi.yaml lists exactly the
	// registered ones (openapi_test.go).
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	served := base.call(http.MethodGet, "/openapi.yaml", "")
	if err := yaml.Unmarshal(served.body, &doc); err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			if op := strings.ToUpper(method) + " " + path; !seen[op] {
				t.Errorf("route %s is not in the auth matrix", op)
			}
		}
	}
}

// newAuthServer builds a server over a fresh database, with auth on or off.
func newAuthServer(t *testing.T, authOff bool) *orderflowhttp.Server {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	store, application := e.Store, e.App
	reg := prometheus.NewRegistry()
	cfg := orderflowhttp.Config{App: application, Registerer: reg, Gatherer: reg, Ready: store.Ping, AuthOff: authOff}
	if !authOff {
		cfg.Tokens = testKeys(t)
	}
	s, err := orderflowhttp.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAuthNotFoundOrForbidden: a customer learns nothing about ids that are
// not its own. Another customer's id, existing or not, and an order that is
// not its own, existing or not, answer 403; an admin gets 404 for what does
// not exist; the customer gets 404 only for what would be its own.
func TestAuthNotFoundOrForbidden(t *testing.T) {
	a := newAPI(t)
	f := newAuthFixture(a)
	customer := bearer(mint(t, a.keys, app.RoleCustomer, f.owner, time.Hour))
	unknown := "00000000-0000-4000-8000-0000000000aa"
	for _, path := range []string{
		"/api/v1/customers/" + unknown,
		"/api/v1/customers/" + unknown + "/orders",
		"/api/v1/orders/" + unknown,
		"/api/v1/customers/" + f.other,
	} {
		expectProblem(t, a.call(http.MethodGet, path, "", customer...), http.StatusForbidden, "forbidden")
	}
	for _, path := range []string{"/api/v1/orders/" + unknown + "/pay", "/api/v1/orders/" + unknown + "/cancel"} {
		expectProblem(t, a.call(http.MethodPost, path, "", customer...), http.StatusForbidden, "forbidden")
		expectProblem(t, a.call(http.MethodPost, path, ""), http.StatusNotFound, "not-found")
	}
	expectProblem(t, a.call(http.MethodGet, "/api/v1/orders/"+unknown, ""), http.StatusNotFound, "not-found")
	expectProblem(t, a.call(http.MethodGet, "/api/v1/customers/"+unknown, ""), http.StatusNotFound, "not-found")

	// Its own id, not registered (yet): 404, nothing to hide.
	ghost := bearer(mint(t, a.keys, app.RoleCustomer, unknown, time.Hour))
	expectProblem(t, a.call(http.MethodGet, "/api/v1/customers/"+unknown, "", ghost...), http.StatusNotFound, "not-found")
	// An upper-case subject is the same customer.
	upper := bearer(mint(t, a.keys, app.RoleCustomer, strings.ToUpper(f.owner), time.Hour))
	expect(t, a.call(http.MethodGet, "/api/v1/customers/"+f.owner, "", upper...), http.StatusOK)
}

// TestAuthIdempotencyKeyScopedToCaller: the same Idempotency-Key from two
// callers is two keys; from one caller it replays.
func TestAuthIdempotencyKeyScopedToCaller(t *testing.T) {
	a := newAPI(t)
	f := newAuthFixture(a)
	customer := bearer(mint(t, a.keys, app.RoleCustomer, f.owner, time.Hour))
	key := []string{"Idempotency-Key", "same-key"}

	first := a.call(http.MethodPost, "/api/v1/orders", orderBody(f.owner, f.product, 1), append(key, customer...)...)
	expect(t, first, http.StatusCreated)
	replay := a.call(http.MethodPost, "/api/v1/orders", orderBody(f.owner, f.product, 1), append(key, customer...)...)
	expect(t, replay, http.StatusCreated)
	if replay.header.Get("Idempotent-Replayed") != "true" || replay.json(t)["id"] != first.json(t)["id"] {
		t.Fatalf("the customer's repeat was not replayed: %s", replay.body)
	}
	// The admin's request with the same key and another body is its own.
	admin := a.call(http.MethodPost, "/api/v1/orders", orderBody(f.owner, f.product, 3), key...)
	expect(t, admin, http.StatusCreated)
	if admin.json(t)["id"] == first.json(t)["id"] {
		t.Fatal("the admin's order replayed the customer's")
	}
	// A forbidden request claims no key: the other customer can use it after.
	other := bearer(mint(t, a.keys, app.RoleCustomer, f.other, time.Hour))
	expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(f.owner, f.product, 1), append([]string{"Idempotency-Key", "fresh-key"}, other...)...),
		http.StatusForbidden, "forbidden")
	expect(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(f.other, f.product, 5), append([]string{"Idempotency-Key", "fresh-key"}, other...)...),
		http.StatusCreated)
}

// TestAuthActorInEvents: events carry who made them.
func TestAuthActorInEvents(t *testing.T) {
	a := newAPI(t)
	f := newAuthFixture(a)
	customer := bearer(mint(t, a.keys, app.RoleCustomer, f.owner, time.Hour))
	expect(t, a.call(http.MethodPost, "/api/v1/orders/"+f.order+"/pay", "", customer...), http.StatusOK)
	var actor string
	err := a.pool.QueryRow(context.Background(),
		`SELECT metadata->>'actor' FROM events WHERE stream_id = $1 ORDER BY version DESC LIMIT 1`, f.order).Scan(&actor)
	if err != nil {
		t.Fatal(err)
	}
	if actor != "customer:"+f.owner {
		t.Fatalf("actor of the payment = %q, want customer:%s", actor, f.owner)
	}
}

// TestAuthOff: ORDERFLOW_AUTH=off opens every route, and credentials are
// not looked at.
func TestAuthOff(t *testing.T) {
	s := newAuthServer(t, true)
	for _, h := range [][]string{nil, {"Authorization", "Bearer not-a-token"}} {
		req, err := http.NewRequest(http.MethodPost, "/api/v1/products", strings.NewReader(
			fmt.Sprintf(`{"sku":"OFF-%d","name":"Open","description":"","priceCents":1,"currency":"EUR","initialStock":1}`, fixtureSeq.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			t.Fatalf("with auth off, POST /api/v1/products (header %v) = %d %s", h, rec.Code, rec.Body)
		}
	}
}
