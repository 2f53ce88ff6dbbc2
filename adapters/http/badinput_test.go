package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestBadInputChangesNothing sends bad input to every mutating route and
// checks each answer is a 4xx problem and the database holds exactly what it
// held before: not one event, row or idempotency key more.
func TestBadInputChangesNothing(t *testing.T) {
	a := newAPI(t)
	product := a.createProduct("BAD-1", 500, 10, "EUR")["id"].(string)
	customer := a.registerCustomer("bad@example.com")["id"].(string)
	placed := a.call(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 1))
	expect(t, placed, http.StatusCreated)
	order := placed.json(t)["id"].(string)
	const unknown = "0190a000-0000-7000-8000-000000000000"
	huge := `{"sku":"` + strings.Repeat("x", 2<<20) + `"}`

	type badCase struct {
		name, method, path, body, contentType string
		status                                int
		kind                                  string
	}
	cases := []badCase{
		{"create product: malformed JSON", "POST", "/api/v1/products", `{"sku":`, "", 400, "malformed-json"},
		{"create product: wrong types", "POST", "/api/v1/products", `{"sku":1,"name":true,"priceCents":"12","currency":3}`, "", 400, "validation"},
		{"create product: negative price", "POST", "/api/v1/products", `{"sku":"N-1","name":"n","priceCents":-1,"currency":"EUR"}`, "", 400, "validation"},
		{"create product: price over 10^12", "POST", "/api/v1/products", `{"sku":"N-2","name":"n","priceCents":1000000000001,"currency":"EUR"}`, "", 400, "validation"},
		{"create product: fake currency", "POST", "/api/v1/products", `{"sku":"N-3","name":"n","priceCents":1,"currency":"XYZ"}`, "", 400, "validation"},
		{"create product: negative stock", "POST", "/api/v1/products", `{"sku":"N-4","name":"n","priceCents":1,"currency":"EUR","initialStock":-5}`, "", 400, "validation"},
		{"create product: wrong content type", "POST", "/api/v1/products", `{"sku":"N-5","name":"n","priceCents":1,"currency":"EUR"}`, "text/plain", 415, "unsupported-media-type"},
		{"create product: body over 1 MiB", "POST", "/api/v1/products", huge, "", 413, "payload-too-large"},
		{"create product: duplicate SKU", "POST", "/api/v1/products", `{"sku":"bad-1","name":"n","priceCents":1,"currency":"EUR"}`, "", 409, "duplicate-sku"},
		{"change details: malformed id", "PATCH", "/api/v1/products/not-a-uuid", `{"name":"x"}`, "", 400, "validation"},
		{"change details: unknown id", "PATCH", "/api/v1/products/" + unknown, `{"name":"x"}`, "", 404, "not-found"},
		{"change details: null name", "PATCH", "/api/v1/products/" + product, `{"name":null}`, "", 400, "validation"},
		{"change price: negative", "PUT", "/api/v1/products/" + product + "/price", `{"priceCents":-10}`, "", 400, "validation"},
		{"change price: fractional", "PUT", "/api/v1/products/" + product + "/price", `{"priceCents":1.5}`, "", 400, "validation"},
		{"change price: unknown id", "PUT", "/api/v1/products/" + unknown + "/price", `{"priceCents":10}`, "", 404, "not-found"},
		{"restock: zero", "POST", "/api/v1/products/" + product + "/stock", `{"quantity":0}`, "", 400, "validation"},
		{"restock: negative", "POST", "/api/v1/products/" + product + "/stock", `{"quantity":-3}`, "", 400, "validation"},
		{"restock: overflowing", "POST", "/api/v1/products/" + product + "/stock", `{"quantity":9223372036854775807}`, "", 400, "validation"},
		{"restock: past int64", "POST", "/api/v1/products/" + product + "/stock", `{"quantity":92233720368547758070}`, "", 400, "validation"},
		{"register: bad e-mail", "POST", "/api/v1/customers", `{"email":"not an address","name":"x"}`, "", 400, "validation"},
		{"register: missing name", "POST", "/api/v1/customers", `{"email":"new@example.com"}`, "", 400, "validation"},
		{"register: duplicate e-mail", "POST", "/api/v1/customers", `{"email":"BAD@example.com","name":"x"}`, "", 409, "duplicate-email"},
		{"update customer: malformed id", "PATCH", "/api/v1/customers/123", `{"name":"x"}`, "", 400, "validation"},
		{"update customer: bad e-mail", "PATCH", "/api/v1/customers/" + customer, `{"email":"@"}`, "", 400, "validation"},
		{"place order: no lines", "POST", "/api/v1/orders", `{"customerId":"` + customer + `","lines":[]}`, "", 400, "validation"},
		{"place order: zero quantity", "POST", "/api/v1/orders", orderBody(customer, product, 0), "", 400, "validation"},
		{"place order: negative quantity", "POST", "/api/v1/orders", orderBody(customer, product, -2), "", 400, "validation"},
		{"place order: quantity over 10,000", "POST", "/api/v1/orders", orderBody(customer, product, 10001), "", 400, "validation"},
		{"place order: same product twice", "POST", "/api/v1/orders", orderBody(customer, product, 1, product, 1), "", 400, "validation"},
		{"place order: malformed product id", "POST", "/api/v1/orders", `{"customerId":"` + customer + `","lines":[{"productId":"x","quantity":1}]}`, "", 400, "validation"},
		{"place order: unknown product", "POST", "/api/v1/orders", orderBody(customer, unknown, 1), "", 404, "not-found"},
		{"place order: unknown customer", "POST", "/api/v1/orders", orderBody(unknown, product, 1), "", 404, "not-found"},
		{"place order: more than stock", "POST", "/api/v1/orders", orderBody(customer, product, 10), "", 409, "insufficient-stock"},
		{"place order: wrong content type", "POST", "/api/v1/orders", orderBody(customer, product, 1), "application/xml", 415, "unsupported-media-type"},
		{"ship: not paid", "POST", "/api/v1/orders/" + order + "/ship", "", "", 409, "illegal-transition"},
		{"pay: unknown order", "POST", "/api/v1/orders/" + unknown + "/pay", "", "", 404, "not-found"},
		{"cancel: malformed id", "POST", "/api/v1/orders/nope/cancel", "", "", 400, "validation"},
	}

	before := databaseState(t, a)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var header []string
			if c.contentType != "" {
				header = []string{"Content-Type", c.contentType}
			}
			r := a.call(c.method, c.path, c.body, header...)
			expectProblem(t, r, c.status, c.kind)
		})
	}
	if after := databaseState(t, a); after != before {
		t.Errorf("bad input changed the database:\nbefore %s\nafter  %s", before, after)
	}
}

// databaseState summarises everything a command can write.
func databaseState(t *testing.T, a *api) string {
	t.Helper()
	var state string
	err := a.pool.QueryRow(context.Background(), `
		SELECT concat_ws(' | ',
		  (SELECT count(*) || ' events, last ' || coalesce(max(global_position), 0) FROM events),
		  (SELECT coalesce(string_agg(id || ':' || version || ':' || stock_level || ':' || price_cents || ':' || name, ',' ORDER BY id), '') FROM products),
		  (SELECT coalesce(string_agg(id || ':' || version || ':' || email || ':' || name, ',' ORDER BY id), '') FROM customers),
		  (SELECT coalesce(string_agg(id || ':' || version || ':' || status, ',' ORDER BY id), '') FROM orders),
		  (SELECT count(*) || ' lines' FROM order_lines),
		  (SELECT count(*) || ' idempotency keys' FROM idempotency_keys),
		  (SELECT 'catalog ' || version FROM catalog_version))`).Scan(&state)
	if err != nil {
		t.Fatal(err)
	}
	return state
}
