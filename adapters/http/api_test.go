package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/wire"
)

// The API end to end over real PostgreSQL: each test gets its own database
// (pgtest) and its own server on a loopback port.

// api is a running API with a client that speaks JSON to it.
type api struct {
	t    *testing.T
	url  string
	pool *pgxpool.Pool
	// keys mint tokens the API accepts; admin is an admin token that call
	// sends on every route that is not anonymous (auth_test.go).
	keys  *jwt.Keys
	admin string
}

func newAPI(t *testing.T) *api {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	store := postgres.NewStore(pool)
	application, err := wire.New(store, store, nil)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	reg := prometheus.NewRegistry()
	keys := testKeys(t)
	server, err := orderflowhttp.NewServer(orderflowhttp.Config{
		App:        application,
		Registerer: reg,
		Gatherer:   reg,
		Ready:      store.Ping,
		Tokens:     keys,
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ts := httptest.NewServer(server.Handler())
	t.Cleanup(ts.Close)
	return &api{t: t, url: ts.URL, pool: pool, keys: keys, admin: mint(t, keys, app.RoleAdmin, testAdmin, time.Hour)}
}

// response is an answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map, failing the test on error.
func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

// call sends one request, with the admin token on routes that need one
// unless header names Authorization itself ("" sends none).
func (a *api) call(method, path, body string, header ...string) response {
	a.t.Helper()
	header = withAdmin(method, path, a.admin, header)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// expect fails the test unless r has status.
func expect(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
}

// expectProblem fails the test unless r is a problem of kind with status.
func expectProblem(t *testing.T, r response, status int, kind string) map[string]any {
	t.Helper()
	expect(t, r, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q; body %s", ct, r.body)
	}
	p := r.json(t)
	if p["type"] != "https://orderflow.dev/problems/"+kind {
		t.Fatalf("type = %v, want kind %s; body %s", p["type"], kind, r.body)
	}
	return p
}

func (a *api) createProduct(sku string, priceCents, stock int64, currency string) map[string]any {
	a.t.Helper()
	r := a.call(http.MethodPost, "/api/v1/products", fmt.Sprintf(`{"sku":%q,"name":"Product %s","description":"d","priceCents":%d,"currency":%q,"initialStock":%d}`, sku, sku, priceCents, currency, stock))
	expect(a.t, r, http.StatusCreated)
	return r.json(a.t)
}

func (a *api) registerCustomer(email string) map[string]any {
	a.t.Helper()
	r := a.call(http.MethodPost, "/api/v1/customers", fmt.Sprintf(`{"email":%q,"name":"Ada"}`, email))
	expect(a.t, r, http.StatusCreated)
	return r.json(a.t)
}

func orderBody(customerID string, lines ...any) string {
	var parts []string
	for i := 0; i+1 < len(lines); i += 2 {
		parts = append(parts, fmt.Sprintf(`{"productId":%q,"quantity":%d}`, lines[i], lines[i+1]))
	}
	return fmt.Sprintf(`{"customerId":%q,"lines":[%s]}`, customerID, strings.Join(parts, ","))
}

func stockOf(t *testing.T, a *api, productID string) float64 {
	t.Helper()
	r := a.call(http.MethodGet, "/api/v1/products/"+productID, "")
	expect(t, r, http.StatusOK)
	level, ok := r.json(t)["stockLevel"].(float64)
	if !ok {
		t.Fatalf("stockLevel missing or null: %s", r.body)
	}
	return level
}

func TestAPIProducts(t *testing.T) {
	a := newAPI(t)

	created := a.call(http.MethodPost, "/api/v1/products", `{"sku":"Mug-Blue","name":"Blue mug","description":"Holds tea","priceCents":1250,"currency":"EUR","initialStock":5}`, "X-Correlation-ID", "corr-create-1")
	expect(t, created, http.StatusCreated)
	p := created.json(t)
	id, _ := p["id"].(string)
	if created.header.Get("Location") != "/api/v1/products/"+id {
		t.Errorf("Location = %q, want /api/v1/products/%s", created.header.Get("Location"), id)
	}
	if created.header.Get("ETag") != `W/"1"` || p["version"] != 1.0 || p["stockLevel"] != 5.0 || p["sku"] != "Mug-Blue" {
		t.Errorf("created = %s, ETag %q", created.body, created.header.Get("ETag"))
	}
	if at, _ := p["createdAt"].(string); !strings.HasSuffix(at, "Z") {
		t.Errorf("createdAt = %q, want RFC 3339 in UTC", at)
	}

	t.Run("MetadataStored", func(t *testing.T) {
		var correlationID, actor string
		err := a.pool.QueryRow(context.Background(),
			`SELECT metadata->>'correlationId', metadata->>'actor' FROM events WHERE stream_id = $1 ORDER BY version LIMIT 1`, id).
			Scan(&correlationID, &actor)
		if err != nil {
			t.Fatal(err)
		}
		if correlationID != "corr-create-1" || actor != "admin:"+testAdmin {
			t.Errorf("event metadata correlationId %q actor %q", correlationID, actor)
		}
	})

	t.Run("Get", func(t *testing.T) {
		r := a.call(http.MethodGet, "/api/v1/products/"+id, "")
		expect(t, r, http.StatusOK)
		if r.header.Get("X-Cache") == "" || r.header.Get("ETag") != `W/"1"` {
			t.Errorf("headers %v", r.header)
		}
		again := a.call(http.MethodGet, "/api/v1/products/"+id, "", "If-None-Match", r.header.Get("ETag"))
		expect(t, again, http.StatusNotModified)
	})
	t.Run("BySKUCaseInsensitive", func(t *testing.T) {
		r := a.call(http.MethodGet, "/api/v1/products/by-sku/mug-BLUE", "")
		expect(t, r, http.StatusOK)
		if got := r.json(t); got["id"] != id || got["sku"] != "Mug-Blue" {
			t.Errorf("by sku = %s", r.body)
		}
		expectProblem(t, a.call(http.MethodGet, "/api/v1/products/by-sku/nope", ""), http.StatusNotFound, "not-found")
	})
	t.Run("DuplicateSKU", func(t *testing.T) {
		r := a.call(http.MethodPost, "/api/v1/products", `{"sku":"MUG-blue","name":"Other","priceCents":1,"currency":"EUR"}`)
		expectProblem(t, r, http.StatusConflict, "duplicate-sku")
	})
	t.Run("UnknownID", func(t *testing.T) {
		expectProblem(t, a.call(http.MethodGet, "/api/v1/products/0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e", ""), http.StatusNotFound, "not-found")
	})
	t.Run("DomainValidation", func(t *testing.T) {
		p := expectProblem(t, a.call(http.MethodPost, "/api/v1/products", `{"sku":"ok","name":"n","priceCents":-1,"currency":"EUR"}`), http.StatusBadRequest, "validation")
		if errs, _ := p["errors"].([]any); len(errs) != 1 {
			t.Errorf("errors = %v, want priceCents only", p["errors"])
		}
	})
	t.Run("PatchKeepsAbsentFields", func(t *testing.T) {
		r := a.call(http.MethodPatch, "/api/v1/products/"+id, `{"name":"Big blue mug"}`)
		expect(t, r, http.StatusOK)
		got := r.json(t)
		if got["name"] != "Big blue mug" || got["description"] != "Holds tea" || got["version"] != 2.0 {
			t.Errorf("patched = %s", r.body)
		}
		if r.header.Get("ETag") != `W/"2"` {
			t.Errorf("ETag = %q", r.header.Get("ETag"))
		}
	})
	t.Run("Price", func(t *testing.T) {
		r := a.call(http.MethodPut, "/api/v1/products/"+id+"/price", `{"priceCents":1500}`)
		expect(t, r, http.StatusOK)
		if r.json(t)["priceCents"] != 1500.0 {
			t.Errorf("price = %s", r.body)
		}
	})
	t.Run("Restock", func(t *testing.T) {
		r := a.call(http.MethodPost, "/api/v1/products/"+id+"/stock", `{"quantity":3}`)
		expect(t, r, http.StatusOK)
		if r.json(t)["stockLevel"] != 8.0 {
			t.Errorf("restocked = %s", r.body)
		}
		expectProblem(t, a.call(http.MethodPost, "/api/v1/products/"+id+"/stock", `{"quantity":0}`), http.StatusBadRequest, "validation")
	})
}

func TestAPIProductList(t *testing.T) {
	a := newAPI(t)
	for _, sku := range []string{"C-1", "A-1", "B-1"} {
		a.createProduct(sku, 100, 1, "EUR")
	}
	r := a.call(http.MethodGet, "/api/v1/products?pageSize=2", "")
	expect(t, r, http.StatusOK)
	var page app.ProductPage
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 3 || page.Page != 1 || page.PageSize != 2 || len(page.Items) != 2 || page.Items[0].SKU != "A-1" {
		t.Errorf("page = %s", r.body)
	}
	if strings.Contains(string(r.body), "stockLevel") {
		t.Errorf("list items carry stock: %s", r.body)
	}
	if etag := r.header.Get("ETag"); !strings.HasPrefix(etag, `"`) || r.header.Get("X-Cache") == "" {
		t.Errorf("headers %v", r.header)
	}

	past := a.call(http.MethodGet, "/api/v1/products?page=9", "")
	expect(t, past, http.StatusOK)
	if !strings.Contains(string(past.body), `"items":[]`) {
		t.Errorf("page past the end = %s", past.body)
	}

	search := a.call(http.MethodGet, "/api/v1/products?search=b-", "")
	expect(t, search, http.StatusOK)
	if err := json.Unmarshal(search.body, &page); err != nil || page.TotalCount != 1 || page.Items[0].SKU != "B-1" {
		t.Errorf("search = %s", search.body)
	}

	t.Run("PublicCatalogue", func(t *testing.T) {
		r := a.call(http.MethodGet, "/public/products", "")
		expect(t, r, http.StatusOK)
		if r.header.Get("Cache-Control") != "public, max-age=300" || r.header.Get("X-Cache") == "" {
			t.Errorf("headers %v", r.header)
		}
		if err := json.Unmarshal(r.body, &page); err != nil || page.PageSize != app.DefaultPageSize || len(page.Items) != 3 {
			t.Errorf("catalogue = %s", r.body)
		}
		expect(t, a.call(http.MethodGet, "/public/products", "", "If-None-Match", r.header.Get("ETag")), http.StatusNotModified)

		a.call(http.MethodPatch, "/api/v1/products/"+page.Items[0].ID, `{"name":"Renamed"}`)
		changed := a.call(http.MethodGet, "/public/products", "", "If-None-Match", r.header.Get("ETag"))
		expect(t, changed, http.StatusOK)
	})
}

func TestAPICustomers(t *testing.T) {
	a := newAPI(t)
	created := a.call(http.MethodPost, "/api/v1/customers", `{"email":"ada@example.com","name":"Ada"}`)
	expect(t, created, http.StatusCreated)
	id, _ := created.json(t)["id"].(string)
	if created.header.Get("Location") != "/api/v1/customers/"+id {
		t.Errorf("Location = %q", created.header.Get("Location"))
	}

	get := a.call(http.MethodGet, "/api/v1/customers/"+id, "")
	expect(t, get, http.StatusOK)
	if get.json(t)["email"] != "ada@example.com" || get.header.Get("ETag") != `W/"1"` {
		t.Errorf("customer = %s %v", get.body, get.header)
	}

	expectProblem(t, a.call(http.MethodPost, "/api/v1/customers", `{"email":"ADA@example.com","name":"Other"}`), http.StatusConflict, "duplicate-email")

	other := a.registerCustomer("grace@example.com")
	expectProblem(t, a.call(http.MethodPatch, "/api/v1/customers/"+other["id"].(string), `{"email":"Ada@Example.com"}`), http.StatusConflict, "duplicate-email")

	patched := a.call(http.MethodPatch, "/api/v1/customers/"+id, `{"name":"Ada Lovelace"}`)
	expect(t, patched, http.StatusOK)
	if got := patched.json(t); got["name"] != "Ada Lovelace" || got["email"] != "ada@example.com" {
		t.Errorf("patched = %s", patched.body)
	}

	orders := a.call(http.MethodGet, "/api/v1/customers/"+id+"/orders", "")
	expect(t, orders, http.StatusOK)
	if string(orders.body) != `{"items":[]}` {
		t.Errorf("orders = %s", orders.body)
	}
	expectProblem(t, a.call(http.MethodGet, "/api/v1/customers/0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e/orders", ""), http.StatusNotFound, "not-found")
}

func TestAPIOrders(t *testing.T) {
	a := newAPI(t)
	customer := a.registerCustomer("buyer@example.com")["id"].(string)
	mug := a.createProduct("MUG", 1250, 10, "EUR")["id"].(string)
	tea := a.createProduct("TEA", 400, 5, "EUR")["id"].(string)
	dollar := a.createProduct("USD-1", 100, 5, "USD")["id"].(string)

	placed := a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, mug, 2, tea, 1))
	expect(t, placed, http.StatusCreated)
	o := placed.json(t)
	orderID := o["id"].(string)
	if placed.header.Get("Location") != "/api/v1/orders/"+orderID || o["status"] != "placed" || o["totalCents"] != 2900.0 || o["currency"] != "EUR" {
		t.Errorf("placed = %s %v", placed.body, placed.header)
	}
	if lines, _ := o["lines"].([]any); len(lines) != 2 {
		t.Errorf("lines = %v", o["lines"])
	}
	if stockOf(t, a, mug) != 8 {
		t.Errorf("mug stock after order = %v, want 8", stockOf(t, a, mug))
	}

	t.Run("Get", func(t *testing.T) {
		r := a.call(http.MethodGet, "/api/v1/orders/"+orderID, "")
		expect(t, r, http.StatusOK)
		if r.header.Get("X-Cache") != "BYPASS" || r.header.Get("ETag") != `W/"1"` {
			t.Errorf("headers %v", r.header)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, mug, 9)), http.StatusConflict, "insufficient-stock")
		expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody("0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e", mug, 1)), http.StatusNotFound, "not-found")
		expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, "0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e", 1)), http.StatusNotFound, "not-found")
		expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, mug, 1, dollar, 1)), http.StatusBadRequest, "validation")
		expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, mug, 1, mug, 1)), http.StatusBadRequest, "validation")
		if stockOf(t, a, mug) != 8 {
			t.Errorf("refused orders changed stock: %v", stockOf(t, a, mug))
		}
	})
	t.Run("Lifecycle", func(t *testing.T) {
		expect(t, a.call(http.MethodPost, "/api/v1/orders/"+orderID+"/ship", ""), http.StatusConflict)
		paid := a.call(http.MethodPost, "/api/v1/orders/"+orderID+"/pay", "")
		expect(t, paid, http.StatusOK)
		if paid.json(t)["status"] != "paid" || paid.header.Get("ETag") != `W/"2"` {
			t.Errorf("paid = %s %v", paid.body, paid.header)
		}
		shipped := a.call(http.MethodPost, "/api/v1/orders/"+orderID+"/ship", "")
		expect(t, shipped, http.StatusOK)
		p := expectProblem(t, a.call(http.MethodPost, "/api/v1/orders/"+orderID+"/cancel", ""), http.StatusConflict, "illegal-transition")
		if !strings.Contains(p["detail"].(string), "shipped") {
			t.Errorf("detail = %v", p["detail"])
		}
	})
	t.Run("CancelReleasesStock", func(t *testing.T) {
		r := a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, tea, 4))
		expect(t, r, http.StatusCreated)
		if stockOf(t, a, tea) != 0 {
			t.Fatalf("tea stock = %v, want 0", stockOf(t, a, tea))
		}
		cancelled := a.call(http.MethodPost, "/api/v1/orders/"+r.json(t)["id"].(string)+"/cancel", "")
		expect(t, cancelled, http.StatusOK)
		if cancelled.json(t)["status"] != "cancelled" || stockOf(t, a, tea) != 4 {
			t.Errorf("cancelled = %s, tea stock %v", cancelled.body, stockOf(t, a, tea))
		}
	})
	t.Run("CustomerOrdersNewestFirst", func(t *testing.T) {
		r := a.call(http.MethodGet, "/api/v1/customers/"+customer+"/orders", "")
		expect(t, r, http.StatusOK)
		var got app.CustomerOrders
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 2 || got.Items[1].ID != orderID || got.Items[1].ItemCount != 3 || got.Items[1].Status != "shipped" {
			t.Errorf("summaries = %s", r.body)
		}
	})
}

func TestAPIIdempotency(t *testing.T) {
	a := newAPI(t)
	customer := a.registerCustomer("idem@example.com")["id"].(string)
	mug := a.createProduct("MUG", 1250, 10, "EUR")["id"].(string)
	body := orderBody(customer, mug, 1)

	first := a.call(http.MethodPost, "/api/v1/orders", body, "Idempotency-Key", "key-1")
	expect(t, first, http.StatusCreated)
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("first request marked replayed")
	}
	again := a.call(http.MethodPost, "/api/v1/orders", body, "Idempotency-Key", "key-1")
	expect(t, again, http.StatusCreated)
	if again.header.Get("Idempotent-Replayed") != "true" || again.json(t)["id"] != first.json(t)["id"] {
		t.Errorf("replay = %s %v; first %s", again.body, again.header, first.body)
	}
	if again.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay Location %q, first %q", again.header.Get("Location"), first.header.Get("Location"))
	}
	if stockOf(t, a, mug) != 9 {
		t.Errorf("a replay reserved stock again: %v", stockOf(t, a, mug))
	}
	expectProblem(t, a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, mug, 2), "Idempotency-Key", "key-1"), http.StatusUnprocessableEntity, "idempotency-key-reused")

	t.Run("Concurrent", func(t *testing.T) {
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		ids := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// t.Fatal must not run off the test goroutine: plain calls here.
				req, _ := http.NewRequest(http.MethodPost, a.url+"/api/v1/orders", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "key-2")
				req.Header.Set("Authorization", "Bearer "+a.admin)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				defer res.Body.Close()
				statuses[i] = res.StatusCode
				var o app.Order
				if json.NewDecoder(res.Body).Decode(&o) == nil {
					ids[i] = o.ID
				}
			}()
		}
		wg.Wait()
		orderIDs := map[string]bool{}
		for i, s := range statuses {
			switch s {
			case http.StatusCreated:
				orderIDs[ids[i]] = true
			case http.StatusConflict: // idempotency-in-flight
			default:
				t.Errorf("status %d", s)
			}
		}
		if len(orderIDs) != 1 {
			t.Errorf("one key placed %d orders", len(orderIDs))
		}
	})
}

func TestAPIReadiness(t *testing.T) {
	a := newAPI(t)
	expect(t, a.call(http.MethodGet, "/readyz", ""), http.StatusOK)
	a.pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if r := a.call(http.MethodGet, "/readyz", ""); r.status == http.StatusServiceUnavailable {
			expectProblem(t, r, http.StatusServiceUnavailable, "unavailable")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("readyz kept answering 200 with the pool closed")
}
