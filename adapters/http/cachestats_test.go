package http_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// familyCounts is one family of GET /api/v1/admin/cache/stats.
type familyCounts struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	Stale    int64   `json:"stale"`
	Loads    int64   `json:"loads"`
	HitRatio float64 `json:"hitRatio"`
}

// cacheStatsBody is the body of GET /api/v1/admin/cache/stats.
type cacheStatsBody struct {
	Families map[cache.Family]familyCounts `json:"families"`
	Redis    *struct {
		KeyspaceHits   int64   `json:"keyspaceHits"`
		KeyspaceMisses int64   `json:"keyspaceMisses"`
		HitRatio       float64 `json:"hitRatio"`
		Error          string  `json:"error"`
	} `json:"redis"`
}

// TestCacheStatsCountWhatWasServed: after a known sequence of misses, hits
// and stale serves on every family, the per-family counts of the stats
// endpoint are exactly those reads, and its Redis keyspace figures are
// Redis's own and move with them.
func TestCacheStatsCountWhatWasServed(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{proxyPostgres: true})
	redisInfo := redistest.NewClient(t, orderflowredis.PoolOptions{})
	ctx := context.Background()

	product := a.createProduct("STATS-1", 1250, 9, "EUR")["id"].(string)
	changed := a.createProduct("STATS-2", 500, 2, "EUR")["id"].(string)
	customer := a.registerCustomer("stats@example.com")["id"].(string)
	expect(t, a.must(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 1)), http.StatusCreated)

	// Redis's counters, read around each stats request: the figures it
	// reports must lie between them.
	keyspace := func() (hits, misses int64) {
		t.Helper()
		info, err := redisInfo.Info(ctx, "stats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(info) {
			name, value, _ := strings.Cut(strings.TrimSpace(line), ":")
			n, _ := strconv.ParseInt(value, 10, 64)
			switch name {
			case "keyspace_hits":
				hits = n
			case "keyspace_misses":
				misses = n
			}
		}
		return hits, misses
	}
	want := map[cache.Family]*familyCounts{}
	for _, f := range cache.Families() {
		want[f] = &familyCounts{}
	}
	// stats reads the endpoint and checks every family against want.
	stats := func(when string) cacheStatsBody {
		t.Helper()
		hitsBefore, missesBefore := keyspace()
		r := a.must(http.MethodGet, "/api/v1/admin/cache/stats", "")
		hitsAfter, missesAfter := keyspace()
		expect(t, r, http.StatusOK)
		got := decode[cacheStatsBody](t, r)
		if len(got.Families) != len(want) {
			t.Errorf("%s: families %v, want %d", when, got.Families, len(want))
		}
		for f, w := range want {
			w.HitRatio = 0
			if total := w.Hits + w.Misses + w.Stale; total > 0 {
				w.HitRatio = float64(w.Hits) / float64(total)
			}
			if g, ok := got.Families[f]; !ok || g != *w {
				t.Errorf("%s: family %s = %+v, want %+v", when, f, g, *w)
			}
		}
		rs := got.Redis
		if rs == nil || rs.Error != "" {
			t.Fatalf("%s: redis = %+v, want Redis's keyspace figures; body %s", when, rs, r.body)
		}
		if rs.KeyspaceHits < hitsBefore || rs.KeyspaceHits > hitsAfter || rs.KeyspaceMisses < missesBefore || rs.KeyspaceMisses > missesAfter {
			t.Errorf("%s: keyspace hits %d, misses %d; Redis said hits %d..%d, misses %d..%d around the request",
				when, rs.KeyspaceHits, rs.KeyspaceMisses, hitsBefore, hitsAfter, missesBefore, missesAfter)
		}
		if ratio := float64(rs.KeyspaceHits) / float64(rs.KeyspaceHits+rs.KeyspaceMisses); rs.HitRatio != ratio {
			t.Errorf("%s: keyspace hit ratio %v, want %v", when, rs.HitRatio, ratio)
		}
		return got
	}
	// read is one GET that must be served as status, counted on family.
	read := func(path string, family cache.Family, status app.CacheStatus) {
		t.Helper()
		a.get(path, status)
		w := want[family]
		switch status {
		case app.CacheHit:
			w.Hits++
		case app.CacheMiss:
			w.Misses++
			w.Loads++
		case app.CacheStale:
			// The load was tried, and failed.
			w.Stale++
			w.Loads++
		}
	}
	paths := map[cache.Family]string{
		cache.FamilyProduct:        "/api/v1/products/" + product,
		cache.FamilyProductBySKU:   "/api/v1/products/by-sku/STATS-1",
		cache.FamilyProductList:    "/api/v1/products",
		cache.FamilyCustomer:       "/api/v1/customers/" + customer,
		cache.FamilyCustomerOrders: "/api/v1/customers/" + customer + "/orders",
	}
	changedPaths := map[cache.Family]string{
		cache.FamilyProduct:      "/api/v1/products/" + changed,
		cache.FamilyProductBySKU: "/api/v1/products/by-sku/stats-2",
	}

	// Nothing was read yet: commands count nothing.
	start := stats("before any read")

	for f, p := range paths {
		read(p, f, app.CacheMiss)
	}
	for f, p := range changedPaths {
		read(p, f, app.CacheMiss)
	}
	// A missed public catalogue is built from the page-one list, cached
	// by now: an output miss and a list hit.
	read("/public/products", cache.FamilyOutput, app.CacheMiss)
	want[cache.FamilyOutput].Loads-- // the handler builds it; nothing is loaded
	want[cache.FamilyProductList].Hits++
	missed := stats("after the misses")
	if missed.Redis.KeyspaceMisses <= start.Redis.KeyspaceMisses {
		t.Errorf("keyspace misses %d after the first reads of every key, %d before", missed.Redis.KeyspaceMisses, start.Redis.KeyspaceMisses)
	}

	hits := 0
	for range 3 {
		for f, p := range paths {
			read(p, f, app.CacheHit)
			hits++
		}
		read("/public/products", cache.FamilyOutput, app.CacheHit)
		hits++
	}
	hit := stats("after the hits")
	// Every hit read at least its entry in Redis.
	if grown := hit.Redis.KeyspaceHits - missed.Redis.KeyspaceHits; grown < int64(hits) {
		t.Errorf("keyspace hits grew by %d over %d cache hits", grown, hits)
	}

	// Changes tombstone the entries, which keep the values they replaced;
	// with PostgreSQL down those are served stale.
	expect(t, a.must(http.MethodPut, "/api/v1/products/"+changed+"/price", `{"priceCents":555}`), http.StatusOK)
	expect(t, a.must(http.MethodPatch, "/api/v1/customers/"+customer, `{"name":"Renamed"}`), http.StatusOK)
	expect(t, a.must(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 1)), http.StatusCreated)
	a.pgProxy.Cut()
	for f, p := range changedPaths {
		read(p, f, app.CacheStale)
	}
	for _, f := range []cache.Family{cache.FamilyProductList, cache.FamilyCustomer, cache.FamilyCustomerOrders} {
		read(paths[f], f, app.CacheStale)
	}
	stats("after the stale reads")
}
