package http

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/wire"
)

// cannedServer serves fixed views whose timestamps are not in UTC, over a
// store that is down: enough to check how answers are written.
func cannedServer(t *testing.T) (testServer, cannedReads) {
	t.Helper()
	zone := time.FixedZone("CEST", 2*60*60)
	at := time.Date(2025, 6, 1, 14, 30, 0, 0, zone)
	stock := int64(7)
	reads := cannedReads{
		product: app.Product{ID: someID, SKU: "Mug-1", Name: "Mug", PriceCents: 1250, Currency: "EUR", StockLevel: &stock, Version: 3, CreatedAt: at, UpdatedAt: at},
		page: app.ProductPage{Items: []app.ProductListItem{
			{ID: someID, SKU: "Mug-1", Name: "Mug", PriceCents: 1250, Currency: "EUR", Version: 3, CreatedAt: at, UpdatedAt: at},
		}, TotalCount: 1},
		customer: app.Customer{ID: "0190b5f2-2222-7a3b-9d4e-5f6a7b8c9d0e", Email: "ada@example.com", Name: "Ada", Version: 1, CreatedAt: at, UpdatedAt: at},
		order:    app.Order{ID: "0190b5f2-3333-7a3b-9d4e-5f6a7b8c9d0e", CustomerID: "0190b5f2-2222-7a3b-9d4e-5f6a7b8c9d0e", Status: "placed", Currency: "EUR", Version: 1, PlacedAt: at, UpdatedAt: at},
	}
	application, err := wire.New(failingStore{}, reads, nil)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	return newTestServer(t, application, nil), reads
}

func TestGetResponses(t *testing.T) {
	s, reads := cannedServer(t)
	tests := []struct {
		name, path string
		xCache     app.CacheStatus
		versionTag bool
	}{
		{"Product", "/api/v1/products/" + reads.product.ID, app.CacheMiss, true},
		{"ProductUpperCaseID", "/api/v1/products/" + strings.ToUpper(reads.product.ID), app.CacheMiss, true},
		{"ProductBySKU", "/api/v1/products/by-sku/mug-1", app.CacheMiss, true},
		{"List", "/api/v1/products?page=1&pageSize=5&search=mu", app.CacheBypass, false},
		{"Customer", "/api/v1/customers/" + reads.customer.ID, app.CacheMiss, true},
		{"CustomerOrders", "/api/v1/customers/" + reads.customer.ID + "/orders", app.CacheMiss, false},
		{"Order", "/api/v1/orders/" + reads.order.ID, app.CacheBypass, true},
		{"Public", "/public/products", app.CacheMiss, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := s.do(t, request{method: http.MethodGet, path: tt.path})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := rec.Header().Get(headerXCache); got != string(tt.xCache) {
				t.Errorf("X-Cache = %q, want %q", got, tt.xCache)
			}
			etag := rec.Header().Get(headerETag)
			if tt.versionTag != strings.HasPrefix(etag, `W/"`) || !strings.HasSuffix(etag, `"`) {
				t.Errorf("ETag = %q; want a version tag: %v", etag, tt.versionTag)
			}
			body := rec.Body.String()
			if strings.Contains(body, "+02:00") || strings.Contains(body, `"items":null`) || strings.Contains(body, `"lines":null`) {
				t.Errorf("body %s: want UTC timestamps and [] for empty arrays", body)
			}
			if strings.Contains(body, "At\"") && !strings.Contains(body, "T12:30:00Z") {
				t.Errorf("body %s: want timestamps in UTC", body)
			}

			// The same tag again: 304 with the same validators and no body.
			again := s.do(t, request{method: http.MethodGet, path: tt.path, header: map[string]string{headerIfNoneMatch: `"other", ` + etag}})
			if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
				t.Fatalf("conditional GET = %d %q, want 304 and no body", again.Code, again.Body)
			}
			if again.Header().Get(headerETag) != etag || again.Header().Get(headerXCache) != string(tt.xCache) {
				t.Errorf("304 headers ETag %q X-Cache %q, want %q %q", again.Header().Get(headerETag), again.Header().Get(headerXCache), etag, tt.xCache)
			}
		})
	}
}

func TestProductRepresentation(t *testing.T) {
	s, reads := cannedServer(t)
	rec := s.do(t, request{method: http.MethodGet, path: "/api/v1/products/" + reads.product.ID})
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "sku", "name", "description", "priceCents", "currency", "stockLevel", "version", "createdAt", "updatedAt"} {
		if _, ok := got[key]; !ok {
			t.Errorf("product lacks %q: %s", key, rec.Body)
		}
	}
	if got["createdAt"] != "2025-06-01T12:30:00Z" || got["sku"] != "Mug-1" {
		t.Errorf("createdAt %v sku %v", got["createdAt"], got["sku"])
	}
	if rec.Header().Get(headerETag) != `W/"3"` {
		t.Errorf("ETag = %q, want W/\"3\"", rec.Header().Get(headerETag))
	}
}

func TestPublicCatalogue(t *testing.T) {
	s, _ := cannedServer(t)
	rec := s.do(t, request{method: http.MethodGet, path: "/public/products"})
	if got := rec.Header().Get(headerCacheControl); got != publicCatalogueMaxAge {
		t.Errorf("Cache-Control = %q, want %q", got, publicCatalogueMaxAge)
	}
	var page app.ProductPage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatal(err)
	}
	if page.Page != 1 || page.PageSize != app.DefaultPageSize || len(page.Items) != 1 || page.TotalCount != 1 {
		t.Errorf("catalogue = %+v, want page 1 of the default size", page)
	}
	if want := bodyETag(rec.Body.Bytes()); rec.Header().Get(headerETag) != want {
		t.Errorf("ETag = %q, want the body's hash %q", rec.Header().Get(headerETag), want)
	}
	again := s.do(t, request{method: http.MethodGet, path: "/public/products", header: map[string]string{headerIfNoneMatch: rec.Header().Get(headerETag)}})
	if again.Code != http.StatusNotModified || again.Header().Get(headerCacheControl) != publicCatalogueMaxAge {
		t.Errorf("conditional GET = %d, Cache-Control %q", again.Code, again.Header().Get(headerCacheControl))
	}
}

func TestGetUnknownIsNotFound(t *testing.T) {
	s, _ := cannedServer(t)
	p := readProblem(t, s.do(t, request{method: http.MethodGet, path: "/api/v1/customers/" + someID + "/orders"}), http.StatusNotFound, kindNotFound)
	if !strings.Contains(p.Detail, "customer "+someID) {
		t.Errorf("detail %q, want it to name the customer", p.Detail)
	}
}

// A command whose store is down answers 503 unavailable, after decoding.
func TestCommandWithStoreDown(t *testing.T) {
	s, _ := cannedServer(t)
	rec := s.do(t, request{method: http.MethodPost, path: productsPath, body: `{"sku":"Mug-2","name":"Mug","priceCents":100,"currency":"EUR"}`})
	readProblem(t, rec, http.StatusServiceUnavailable, kindUnavailable)
}

func TestETagMatches(t *testing.T) {
	tests := []struct {
		header, etag string
		want         bool
	}{
		{"", `"a"`, false},
		{`"a"`, `"a"`, true},
		{`W/"a"`, `"a"`, true},
		{`"a"`, `W/"a"`, true},
		{`"b", W/"a"`, `W/"a"`, true},
		{`*`, `"a"`, true},
		{`"ab"`, `"a"`, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.header, tt.etag); got != tt.want {
			t.Errorf("etagMatches(%q, %q) = %v, want %v", tt.header, tt.etag, got, tt.want)
		}
	}
}
