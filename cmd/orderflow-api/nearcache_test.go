package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// TestMaxStaleOverHTTP: with the near cache on, a GET carrying
// Cache-Control: max-stale=N is answered from it and says so (X-Cache
// HIT-L1, Age within N); a default GET, or one whose max-stale is not a
// number, is a plain HIT.
func TestMaxStaleOverHTTP(t *testing.T) {
	d := testenv.New(t, testenv.Options{Redis: true})
	api := startNearCacheAPI(t, d)
	get := func(cacheControl string) (xCache, age string) {
		t.Helper()
		res, _ := getWithCacheControl(t, api, "/api/v1/products", cacheControl)
		return res.Get("X-Cache"), res.Get("Age")
	}
	get("") // loads
	if x, _ := get(""); x != "HIT" {
		t.Fatalf("second default GET: X-Cache %s, want HIT", x)
	}
	for _, tc := range []struct {
		cacheControl, xCache string
		age                  bool
	}{
		{"max-stale=60", "HIT-L1", true},
		{"no-cache, max-stale=\"30\"", "HIT-L1", true},
		{"max-stale=abc", "HIT", false},
		{"max-stale", "HIT", false},
		{"max-age=0", "HIT", false},
	} {
		x, age := get(tc.cacheControl)
		if x != tc.xCache || (age != "") != tc.age {
			t.Errorf("Cache-Control %q: X-Cache %s, Age %q; want %s with Age %t", tc.cacheControl, x, age, tc.xCache, tc.age)
		}
		if n, err := strconv.Atoi(age); tc.age && (err != nil || n < 0 || n > 30) {
			t.Errorf("Cache-Control %q: Age %q, want whole seconds within max-stale", tc.cacheControl, age)
		}
	}
}

// TestMaxStaleReadNeverFillsTheOutputCache: a read that accepts staleness
// may be answered from a stale near-cache copy, but what it builds is never
// kept for others. Here the public catalogue is rebuilt for a max-stale
// request while the API's copy of page one is stale (the price changed
// through a process whose writes this API does not hear); a default read
// of the catalogue after it must still show the new price.
func TestMaxStaleReadNeverFillsTheOutputCache(t *testing.T) {
	d := testenv.New(t, testenv.Options{Cache: true})
	api := startNearCacheAPI(t, d)
	get := func(path, cacheControl string) string {
		t.Helper()
		_, body := getWithCacheControl(t, api, path, cacheControl)
		return body
	}
	ctx := app.WithPrincipal(context.Background(), app.Principal{Subject: "test", Role: app.RoleAdmin})
	p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "STALE-1", Name: "Mug", PriceCents: 100, Currency: "EUR", InitialStock: 1})
	if err != nil {
		t.Fatal(err)
	}
	get("/api/v1/products", "") // loads page one into Redis
	get("/api/v1/products", "") // and, read back, into the API's near cache
	// This test's own cache has no backplane: Redis entries and the tag are
	// evicted, the API's near-cache copy of page one is not told.
	if _, err := d.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p.ID, PriceCents: 250}); err != nil {
		t.Fatal(err)
	}
	get("/public/products", "max-stale=600")
	if body := get("/public/products", ""); !strings.Contains(body, `"priceCents":250`) {
		t.Fatalf("a default read of the public catalogue after the price change: %s, want priceCents 250", body)
	}
}

// startNearCacheAPI starts an API with the near cache over d's database and Redis.
func startNearCacheAPI(t *testing.T, d *testenv.Env) *process.Process {
	t.Helper()
	return startAPI(t,
		"ORDERFLOW_DATABASE_URL="+d.DSN,
		"ORDERFLOW_REDIS_URL="+d.RedisURL,
		"ORDERFLOW_KEY_PREFIX="+d.Keys.Prefix,
		"ORDERFLOW_MIGRATE_ON_START=false",
		"ORDERFLOW_NEAR_CACHE=true",
	)
}

// getWithCacheControl GETs path anonymously, with a Cache-Control header
// unless it is "", and fails t unless the answer is 200.
func getWithCacheControl(t *testing.T, api *process.Process, path, cacheControl string) (http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, api.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cacheControl != "" {
		req.Header.Set("Cache-Control", cacheControl)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s (%q) = %d, %v", path, cacheControl, res.StatusCode, err)
	}
	return res.Header, string(body)
}
