package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/faultproxy"
)

// The API with its real cache: PostgreSQL and Redis of the test instance,
// each test with its own database and key prefix, optionally reached
// through a faultproxy that a test cuts to take the dependency away.

// pollLimit bounds every wait for a condition.
const pollLimit = 20 * time.Second

type cachedAPIOptions struct {
	// proxyPostgres and proxyRedis route the API's connections through a
	// faultproxy each, for the test to cut.
	proxyPostgres, proxyRedis bool
	// redisTimeout bounds one Redis call (0: go-redis defaults), as
	// ORDERFLOW_REDIS_TIMEOUT does.
	redisTimeout time.Duration
	// breakerOpenFor is how long the breaker stays open (0: the default).
	breakerOpenFor time.Duration
	// stockTTL is the cache's stock TTL (0: stock read live).
	stockTTL time.Duration
	// reads, when set, wraps the read model the queries use.
	reads func(app.ReadModel) app.ReadModel
}

// cachedAPI is a running API whose reads go through the Redis cache.
type cachedAPI struct {
	*api
	cache  *cache.Cache
	client *http.Client
	// pgProxy and redisProxy are set when the options asked for them.
	pgProxy, redisProxy *faultproxy.Proxy
}

func newCachedAPI(t *testing.T, opts cachedAPIOptions) *cachedAPI {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	var pgProxy *faultproxy.Proxy
	if opts.proxyPostgres {
		pgProxy = faultproxy.Start(t, net.JoinHostPort(poolCfg.ConnConfig.Host, strconv.Itoa(int(poolCfg.ConnConfig.Port))))
		host, port := splitHostPort(t, pgProxy.Addr())
		poolCfg.ConnConfig.Host, poolCfg.ConnConfig.Port = host, port
		poolCfg.ConnConfig.ConnectTimeout = 2 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close) // before the database is dropped

	_, prefix := redistest.New(t) // deletes the prefix's keys on cleanup
	redisOpts, err := redis.ParseURL(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	var redisProxy *faultproxy.Proxy
	if opts.proxyRedis {
		redisProxy = faultproxy.Start(t, redisOpts.Addr)
		redisOpts.Addr = redisProxy.Addr()
	}
	if opts.redisTimeout > 0 {
		// As cmd/orderflow-api configures its client.
		redisOpts.DialTimeout = opts.redisTimeout
		redisOpts.ReadTimeout = opts.redisTimeout
		redisOpts.WriteTimeout = opts.redisTimeout
		redisOpts.PoolTimeout = opts.redisTimeout
		redisOpts.MaxRetries = -1
	}
	apiRedis := redis.NewClient(redisOpts)
	t.Cleanup(func() { _ = apiRedis.Close() })

	cacheStore := orderflowredis.NewCacheStore(apiRedis, orderflowredis.BreakerConfig{OpenFor: opts.breakerOpenFor})
	cache, err := cache.New(cacheStore, cache.Config{Keys: cache.Keyspace{Prefix: prefix}, StockTTL: opts.stockTTL})
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewStore(pool)
	var reads app.ReadModel = store
	if opts.reads != nil {
		reads = opts.reads(store)
	}
	application, err := wire.New(store, reads, cache)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	keys := testKeys(t)
	server, err := orderflowhttp.NewServer(orderflowhttp.Config{
		App:        application,
		Registerer: reg,
		Gatherer:   reg,
		Cache:      cache,
		Ready:      store.Ping,
		Tokens:     keys,
		// As cmd/orderflow-api wires it.
		Degraded: func(ctx context.Context) []string {
			if err := apiRedis.Ping(ctx).Err(); err != nil {
				return []string{"redis"}
			}
			return nil
		},
		RedisStats: redisStats(cacheStore),
		Console:    newTestConsole(t, apiRedis, prefix, cache),
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(server.Handler())
	t.Cleanup(ts.Close)
	return &cachedAPI{
		api:        &api{t: t, url: ts.URL, pool: pool, keys: keys, admin: mint(t, keys, app.RoleAdmin, testAdmin, time.Hour)},
		cache:      cache,
		client:     &http.Client{Timeout: 30 * time.Second},
		pgProxy:    pgProxy,
		redisProxy: redisProxy,
	}
}

// with returns the same API for a subtest: failures go to t.
func (a *cachedAPI) with(t *testing.T) *cachedAPI {
	c, inner := *a, *a.api
	inner.t = t
	c.api = &inner
	return &c
}

func splitHostPort(t *testing.T, addr string) (string, uint16) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	return host, uint16(n)
}

// do sends one request; it returns an error instead of failing the test, so
// helper goroutines can use it too.
func (a *cachedAPI) do(method, path, body string, header ...string) (response, error) {
	header = withAdmin(method, path, a.admin, header)
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.url+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := a.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}, nil
}

// must is do for the test goroutine.
func (a *cachedAPI) must(method, path, body string, header ...string) response {
	a.t.Helper()
	r, err := a.do(method, path, body, header...)
	if err != nil {
		a.t.Fatal(err)
	}
	return r
}

// get is a GET that must answer 200 with an X-Cache header from allowed.
func (a *cachedAPI) get(path string, allowed ...app.CacheStatus) response {
	a.t.Helper()
	r := a.must(http.MethodGet, path, "")
	expect(a.t, r, http.StatusOK)
	if xc := app.CacheStatus(r.header.Get("X-Cache")); !slices.Contains(allowed, xc) {
		a.t.Fatalf("GET %s: X-Cache %q, want one of %v", path, xc, allowed)
	}
	return r
}

// warm reads path until it is served from the cache (at the latest the
// second read, unless a Redis call timed out), failing when it never is.
func (a *cachedAPI) warm(path string) {
	a.t.Helper()
	testenv.WaitFor(a.t, pollLimit, "GET "+path+" served from the cache", func() (bool, string) {
		r := a.get(path, app.CacheHit, app.CacheMiss)
		return r.header.Get("X-Cache") == string(app.CacheHit), r.header.Get("X-Cache")
	})
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

// itemByID finds a product in a page.
func itemByID(page app.ProductPage, id string) (app.ProductListItem, bool) {
	for _, it := range page.Items {
		if it.ID == id {
			return it, true
		}
	}
	return app.ProductListItem{}, false
}

// TestReadYourWritesThroughTheCache: after a command answered, every read
// of what it changed sees the change, though the reads were cached before
// and other clients keep refilling the cache meanwhile.
func TestReadYourWritesThroughTheCache(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})

	t.Run("PriceChanges", func(t *testing.T) {
		a := a.with(t)
		for _, sku := range []string{"RYW-A", "RYW-C"} {
			a.createProduct(sku, 500, 1, "EUR")
		}
		target := a.createProduct("RYW-B", 1000, 7, "EUR")["id"].(string)
		paths := []string{
			"/api/v1/products/" + target,
			"/api/v1/products/by-sku/ryw-b",
			"/api/v1/products",
			"/public/products",
		}
		for _, p := range paths {
			a.warm(p)
		}

		// Other clients read the same keys all along, so that fills race
		// with the evictions.
		stop := make(chan struct{})
		var background sync.WaitGroup
		var bgReads atomic.Int64
		bgErrs := make(chan error, 1)
		for i := range 2 {
			background.Add(1)
			go func() {
				defer background.Done()
				for n := i; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					r, err := a.do(http.MethodGet, paths[n%len(paths)], "")
					if err == nil && r.status != http.StatusOK {
						err = fmt.Errorf("GET %s: %d %s", paths[n%len(paths)], r.status, r.body)
					}
					if err != nil {
						select {
						case bgErrs <- err:
						default:
						}
						return
					}
					bgReads.Add(1)
				}
			}()
		}
		stopBackground := sync.OnceFunc(func() { close(stop); background.Wait() })
		t.Cleanup(stopBackground)

		const changes = 200
		stale, hits := 0, 0
		for i := 1; i <= changes; i++ {
			price := int64(1000 + i)
			expect(t, a.must(http.MethodPut, "/api/v1/products/"+target+"/price", fmt.Sprintf(`{"priceCents":%d}`, price)), http.StatusOK)
			// Twice each: the first read refills the cache, the second may hit it.
			for round := range 2 {
				for _, p := range paths {
					r := a.get(p, app.CacheHit, app.CacheMiss)
					if r.header.Get("X-Cache") == string(app.CacheHit) {
						hits++
					}
					var got int64 = -1
					if strings.Contains(p, "/products/") {
						got = decode[app.Product](t, r).PriceCents
					} else if it, ok := itemByID(decode[app.ProductPage](t, r), target); ok {
						got = it.PriceCents
					}
					if got != price {
						stale++
						t.Errorf("change %d, read %d of %s: priceCents %d, want %d (X-Cache %s)", i, round, p, got, price, r.header.Get("X-Cache"))
					}
				}
			}
			if t.Failed() && stale > 10 {
				t.FailNow()
			}
		}
		stopBackground()
		select {
		case err := <-bgErrs:
			t.Errorf("background reader: %v", err)
		default:
		}
		if stale > 0 {
			t.Errorf("%d stale answers after %d price changes", stale, changes)
		}
		if hits == 0 {
			t.Errorf("no read after a price change was a cache hit")
		}
		t.Logf("%d price changes, %d hits among the checked reads, %d background reads", changes, hits, bgReads.Load())
	})

	t.Run("OrderCancellations", func(t *testing.T) {
		a := a.with(t)
		customer := a.registerCustomer("ryw@example.com")["id"].(string)
		product := a.createProduct("RYW-ORD", 300, 1000, "EUR")["id"].(string)
		summaries := "/api/v1/customers/" + customer + "/orders"
		a.warm(summaries)

		const n = 25
		var orders []string
		for i := range n {
			placed := a.must(http.MethodPost, "/api/v1/orders", orderBody(customer, product, i+1))
			expect(t, placed, http.StatusCreated)
			id := placed.json(t)["id"].(string)
			orders = append(orders, id)
			got := decode[app.CustomerOrders](t, a.get(summaries, app.CacheHit, app.CacheMiss))
			if len(got.Items) != i+1 || got.Items[0].ID != id || got.Items[0].Status != "placed" {
				t.Fatalf("summaries right after placing order %d: %+v; want %d orders, %s first", i, got.Items, i+1, id)
			}
		}
		a.warm(summaries)

		hits := 0
		for i, id := range orders {
			r := a.must(http.MethodPost, "/api/v1/orders/"+id+"/cancel", "")
			expect(t, r, http.StatusOK)
			for round := range 2 {
				s := a.get(summaries, app.CacheHit, app.CacheMiss)
				if s.header.Get("X-Cache") == string(app.CacheHit) {
					hits++
				}
				got := decode[app.CustomerOrders](t, s)
				cancelled := 0
				for _, o := range got.Items {
					if o.Status == "cancelled" {
						cancelled++
					}
					if o.ID == id && o.Status != "cancelled" {
						t.Errorf("read %d right after cancelling order %d: status %q, want cancelled (X-Cache %s)", round, i, o.Status, s.header.Get("X-Cache"))
					}
				}
				if cancelled != i+1 {
					t.Errorf("read %d after cancelling %d orders: %d cancelled in %s", round, i+1, cancelled, s.body)
				}
			}
		}
		if hits == 0 {
			t.Errorf("no summaries read after a cancellation was a cache hit")
		}
		// Cancelling released every reservation; stock is read live.
		if level := decode[app.Product](t, a.get("/api/v1/products/"+product, app.CacheHit, app.CacheMiss)).StockLevel; level == nil || *level != 1000 {
			t.Errorf("stock after cancelling everything = %v, want 1000", level)
		}
	})

	t.Run("CustomerUpdates", func(t *testing.T) {
		a := a.with(t)
		id := a.registerCustomer("profile@example.com")["id"].(string)
		a.warm("/api/v1/customers/" + id)
		for i := range 30 {
			name := fmt.Sprintf("Name %d", i)
			expect(t, a.must(http.MethodPatch, "/api/v1/customers/"+id, fmt.Sprintf(`{"name":%q}`, name)), http.StatusOK)
			for round := range 2 {
				got := decode[app.Customer](t, a.get("/api/v1/customers/"+id, app.CacheHit, app.CacheMiss))
				if got.Name != name || got.Version != int64(i+2) {
					t.Fatalf("read %d after update %d: %+v, want name %q at version %d", round, i, got, name, i+2)
				}
			}
		}
	})
}

// TestRedisDownServesFromPostgres: with Redis unreachable every read still
// answers, correctly, from PostgreSQL; readiness says degraded; once Redis
// is back the cache is used again.
func TestRedisDownServesFromPostgres(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{proxyRedis: true, redisTimeout: 150 * time.Millisecond, breakerOpenFor: 200 * time.Millisecond})
	product := a.createProduct("DOWN-1", 1250, 9, "EUR")["id"].(string)
	a.createProduct("DOWN-2", 700, 3, "EUR")
	customer := a.registerCustomer("down@example.com")["id"].(string)
	order := a.must(http.MethodPost, "/api/v1/orders", orderBody(customer, product, 2))
	expect(t, order, http.StatusCreated)
	orderID := order.json(t)["id"].(string)

	paths := map[string]string{
		"product":   "/api/v1/products/" + product,
		"bySKU":     "/api/v1/products/by-sku/DOWN-1",
		"list":      "/api/v1/products",
		"customer":  "/api/v1/customers/" + customer,
		"summaries": "/api/v1/customers/" + customer + "/orders",
		"public":    "/public/products",
	}
	for _, p := range paths {
		a.warm(p)
	}
	eventuallyReady(t, a)

	// check reads every path and checks the data, whichever way it was served.
	check := func(allowed ...app.CacheStatus) {
		t.Helper()
		p := decode[app.Product](t, a.get(paths["product"], allowed...))
		if p.ID != product || p.PriceCents != 1250 || p.StockLevel == nil || *p.StockLevel != 7 {
			t.Errorf("product = %+v, want price 1250 and stock 7", p)
		}
		if p := decode[app.Product](t, a.get(paths["bySKU"], allowed...)); p.ID != product {
			t.Errorf("by SKU = %+v", p)
		}
		for _, name := range []string{"list", "public"} {
			page := decode[app.ProductPage](t, a.get(paths[name], allowed...))
			if it, ok := itemByID(page, product); page.TotalCount != 2 || !ok || it.PriceCents != 1250 {
				t.Errorf("%s = %+v", name, page)
			}
		}
		if c := decode[app.Customer](t, a.get(paths["customer"], allowed...)); c.ID != customer || c.Email != "down@example.com" {
			t.Errorf("customer = %+v", c)
		}
		if s := decode[app.CustomerOrders](t, a.get(paths["summaries"], allowed...)); len(s.Items) != 1 || s.Items[0].ID != orderID || s.Items[0].Status != "placed" {
			t.Errorf("summaries = %+v", s)
		}
	}

	a.redisProxy.Cut()
	// Several rounds: the first ones wait out the Redis timeout until the
	// breaker opens, the later ones find it open (and half-open probes fail).
	for range 5 {
		check(app.CacheMiss)
	}
	expectReady(t, a, "degraded")

	a.redisProxy.Restore()
	testenv.WaitFor(t, pollLimit, "reads served from Redis again", func() (bool, string) {
		r := a.must(http.MethodGet, paths["product"], "")
		return r.status == http.StatusOK && r.header.Get("X-Cache") == string(app.CacheHit), fmt.Sprintf("%d %s", r.status, r.header.Get("X-Cache"))
	})
	for name, p := range paths {
		testenv.WaitFor(t, pollLimit, name+" served from Redis again", func() (bool, string) {
			r := a.must(http.MethodGet, p, "")
			return r.status == http.StatusOK && r.header.Get("X-Cache") == string(app.CacheHit), fmt.Sprintf("%d %s", r.status, r.header.Get("X-Cache"))
		})
	}
	check(app.CacheHit, app.CacheMiss)
	eventuallyReady(t, a)
}

// eventuallyReady waits for /readyz to answer 200 "ok": the readiness ping
// of Redis may time out on a busy machine.
func eventuallyReady(t *testing.T, a *cachedAPI) {
	t.Helper()
	testenv.WaitFor(t, pollLimit, "readiness ok", func() (bool, string) {
		r := a.must(http.MethodGet, "/readyz", "")
		return r.status == http.StatusOK && r.json(t)["status"] == "ok", string(r.body)
	})
}

// expectReady fails unless /readyz answers 200 with this status.
func expectReady(t *testing.T, a *cachedAPI, status string) {
	t.Helper()
	r := a.must(http.MethodGet, "/readyz", "")
	expect(t, r, http.StatusOK)
	got := r.json(t)
	if got["status"] != status {
		t.Fatalf("readyz = %s, want status %q", r.body, status)
	}
	if status == "degraded" && !strings.Contains(string(r.body), `"redis"`) {
		t.Errorf("readyz = %s, want redis named", r.body)
	}
}

// TestPostgresDownServesCachedReads: with PostgreSQL unreachable, what is
// cached keeps answering (product details marked stale, without stock),
// what is not is 503; once PostgreSQL is back stock is live again.
func TestPostgresDownServesCachedReads(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{proxyPostgres: true})
	warm := a.createProduct("PG-WARM", 1250, 9, "EUR")["id"].(string)
	cold := a.createProduct("PG-COLD", 800, 4, "EUR")["id"].(string)
	changed := a.createProduct("PG-CHANGED", 500, 2, "EUR")["id"].(string)
	customer := a.registerCustomer("pgdown@example.com")["id"].(string)

	for _, p := range []string{"/api/v1/products/" + warm, "/api/v1/products/" + changed, "/api/v1/customers/" + customer} {
		a.warm(p)
	}
	// The price change tombstones the details it replaced, which keep the
	// old value for serving stale. Lists are warmed after it.
	expect(t, a.must(http.MethodPut, "/api/v1/products/"+changed+"/price", `{"priceCents":555}`), http.StatusOK)
	a.warm("/api/v1/products")
	a.warm("/public/products")

	a.pgProxy.Cut()

	r := a.get("/api/v1/products/"+warm, app.CacheStale)
	if p := decode[app.Product](t, r); p.ID != warm || p.PriceCents != 1250 || p.Name != "Product PG-WARM" || p.StockLevel != nil {
		t.Errorf("warm product with PostgreSQL down = %s, want its details with stockLevel null", r.body)
	}
	if !bytes.Contains(r.body, []byte(`"stockLevel":null`)) {
		t.Errorf("stockLevel is not null: %s", r.body)
	}
	// The tombstoned details: the last value cached, marked stale.
	if p := decode[app.Product](t, a.get("/api/v1/products/"+changed, app.CacheStale)); p.ID != changed || p.StockLevel != nil {
		t.Errorf("tombstoned product with PostgreSQL down = %+v", p)
	}
	if c := decode[app.Customer](t, a.get("/api/v1/customers/"+customer, app.CacheHit)); c.Email != "pgdown@example.com" {
		t.Errorf("customer with PostgreSQL down = %+v", c)
	}
	for _, p := range []string{"/api/v1/products", "/public/products"} {
		page := decode[app.ProductPage](t, a.get(p, app.CacheHit))
		if it, ok := itemByID(page, changed); page.TotalCount != 3 || !ok || it.PriceCents != 555 {
			t.Errorf("%s with PostgreSQL down = %+v", p, page)
		}
	}
	expectProblem(t, a.must(http.MethodGet, "/api/v1/products/"+cold, ""), http.StatusServiceUnavailable, "unavailable")
	expectProblem(t, a.must(http.MethodGet, "/readyz", ""), http.StatusServiceUnavailable, "unavailable")

	a.pgProxy.Restore()
	testenv.WaitFor(t, pollLimit, "live stock again", func() (bool, string) {
		r := a.must(http.MethodGet, "/api/v1/products/"+warm, "")
		if r.status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.status, r.body)
		}
		p := decode[app.Product](t, r)
		return p.StockLevel != nil && *p.StockLevel == 9 && r.header.Get("X-Cache") == string(app.CacheHit), fmt.Sprintf("%s %s", r.header.Get("X-Cache"), r.body)
	})
	if p := decode[app.Product](t, a.get("/api/v1/products/"+cold, app.CacheMiss, app.CacheHit)); p.StockLevel == nil || *p.StockLevel != 4 {
		t.Errorf("cold product after restore = %+v", p)
	}
	if p := decode[app.Product](t, a.get("/api/v1/products/"+changed, app.CacheMiss, app.CacheHit)); p.PriceCents != 555 || p.StockLevel == nil {
		t.Errorf("changed product after restore = %+v, want the new price with stock", p)
	}
	eventuallyReady(t, a)
}

// TestPublicCatalogueOutputCache: the public catalogue is answered from the
// output cache with a stable ETag and 304s, never from or into it for a
// request with credentials, and never stale after a product change.
func TestPublicCatalogueOutputCache(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	first := a.createProduct("PUB-1", 100, 1, "EUR")["id"].(string)
	a.createProduct("PUB-2", 200, 1, "EUR")
	const path = "/public/products"
	ctx := context.Background()
	bumpTag := func() {
		t.Helper()
		a.cache.Invalidate(ctx, []cache.Invalidation{{Tag: cache.ProductsTag}})
	}

	miss := a.get(path, app.CacheMiss)
	hit := a.get(path, app.CacheHit)
	etag := hit.header.Get("ETag")
	if etag == "" || etag != miss.header.Get("ETag") || !bytes.Equal(hit.body, miss.body) {
		t.Fatalf("hit ETag %q body %s; miss ETag %q body %s", etag, hit.body, miss.header.Get("ETag"), miss.body)
	}
	if cc := hit.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control = %q", cc)
	}

	t.Run("NotModifiedOnHit", func(t *testing.T) {
		r := a.must(http.MethodGet, path, "", "If-None-Match", etag)
		expect(t, r, http.StatusNotModified)
		if r.header.Get("X-Cache") != string(app.CacheHit) || r.header.Get("ETag") != etag || len(r.body) != 0 {
			t.Errorf("304 on a hit: X-Cache %q ETag %q body %q", r.header.Get("X-Cache"), r.header.Get("ETag"), r.body)
		}
	})
	t.Run("NotModifiedOnMiss", func(t *testing.T) {
		bumpTag() // evicts the stored answer; the catalogue itself is unchanged
		r := a.must(http.MethodGet, path, "", "If-None-Match", etag)
		expect(t, r, http.StatusNotModified)
		if r.header.Get("X-Cache") != string(app.CacheMiss) || r.header.Get("ETag") != etag {
			t.Errorf("304 on a miss: X-Cache %q ETag %q", r.header.Get("X-Cache"), r.header.Get("ETag"))
		}
		// The miss stored the whole answer, not the 304.
		again := a.get(path, app.CacheHit)
		if !bytes.Equal(again.body, hit.body) || again.header.Get("ETag") != etag {
			t.Errorf("after a 304 miss the stored answer is ETag %q body %s", again.header.Get("ETag"), again.body)
		}
	})
	t.Run("CredentialsBypass", func(t *testing.T) {
		// Plant a recognisable answer in the output cache.
		bumpTag()
		key := cache.OutputKey(cache.ProductsTag, http.MethodGet, path)
		_, tagVersion, stored, err := a.cache.Output(ctx, key, cache.ProductsTag)
		if err != nil || stored {
			t.Fatalf("output after a tag bump: stored %v, %v", stored, err)
		}
		planted := cache.Response{Status: http.StatusOK, ContentType: "application/json", ETag: `"planted"`, Body: []byte(`{"planted":true}`)}
		if err := a.cache.StoreOutput(ctx, key, tagVersion, planted); err != nil {
			t.Fatal(err)
		}
		if r := a.get(path, app.CacheHit); string(r.body) != string(planted.Body) {
			t.Fatalf("anonymous read = %s, want the planted answer", r.body)
		}

		credentials := "Bearer " + mint(t, a.keys, app.RoleCustomer, "00000000-0000-4000-8000-000000000001", time.Hour)
		withToken := a.must(http.MethodGet, path, "", "Authorization", credentials)
		expect(t, withToken, http.StatusOK)
		if string(withToken.body) == string(planted.Body) || withToken.header.Get("ETag") == planted.ETag {
			t.Errorf("a request with credentials was answered from the output cache: %s", withToken.body)
		}
		if page := decode[app.ProductPage](t, withToken); page.TotalCount != 2 {
			t.Errorf("catalogue with credentials = %s", withToken.body)
		}
		if r := a.get(path, app.CacheHit); string(r.body) != string(planted.Body) {
			t.Errorf("a request with credentials replaced the stored answer: anonymous read = %s", r.body)
		}

		// With nothing stored, a request with credentials stores nothing.
		bumpTag()
		expect(t, a.must(http.MethodGet, path, "", "Authorization", credentials), http.StatusOK)
		if r := a.get(path, app.CacheHit, app.CacheMiss); r.header.Get("X-Cache") != string(app.CacheMiss) {
			t.Errorf("after a request with credentials the next anonymous read is %s, want MISS (nothing stored)", r.header.Get("X-Cache"))
		}
		a.get(path, app.CacheHit)
	})
	t.Run("NeverStaleAfterChange", func(t *testing.T) {
		old := a.get(path, app.CacheHit, app.CacheMiss)
		for i := range 30 {
			name := fmt.Sprintf("Renamed %d", i)
			expect(t, a.must(http.MethodPatch, "/api/v1/products/"+first, fmt.Sprintf(`{"name":%q}`, name)), http.StatusOK)
			// A client holding the previous answer gets the new one, not a 304.
			r := a.must(http.MethodGet, path, "", "If-None-Match", old.header.Get("ETag"))
			expect(t, r, http.StatusOK)
			it, ok := itemByID(decode[app.ProductPage](t, r), first)
			if !ok || it.Name != name {
				t.Fatalf("change %d: public catalogue shows %+v (X-Cache %s), want name %q", i, it, r.header.Get("X-Cache"), name)
			}
			if r.header.Get("ETag") == old.header.Get("ETag") {
				t.Fatalf("change %d: the ETag did not change", i)
			}
			again := a.get(path, app.CacheHit)
			if !bytes.Equal(again.body, r.body) {
				t.Fatalf("change %d: the stored answer differs from the one just built", i)
			}
			old = r
		}
		created := a.createProduct("PUB-3", 300, 1, "EUR")["id"].(string)
		page := decode[app.ProductPage](t, a.get(path, app.CacheMiss))
		if _, ok := itemByID(page, created); !ok || page.TotalCount != 3 {
			t.Errorf("after a creation the public catalogue = %+v", page)
		}
	})
}

// TestListVersionIsTheLastCatalogueChange: list items carry the version of
// the product's last catalogue change (README, app.ProductListItem), so a
// restock leaves a cached list exact, while the product itself answers its
// live aggregate version; a price change moves both.
func TestListVersionIsTheLastCatalogueChange(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	id := a.createProduct("LISTVER-1", 100, 1, "EUR")["id"].(string)
	for _, p := range []string{"/api/v1/products", "/public/products"} {
		a.warm(p)
	}
	restocked := a.must(http.MethodPost, "/api/v1/products/"+id+"/stock", `{"quantity":5}`)
	expect(t, restocked, http.StatusOK)
	live := decode[app.Product](t, restocked).Version
	if got := decode[app.Product](t, a.get("/api/v1/products/"+id, app.CacheHit, app.CacheMiss)).Version; got != live || live != 2 {
		t.Fatalf("product version after restock = %d (answer said %d), want 2", got, live)
	}
	for _, p := range []string{"/api/v1/products", "/public/products"} {
		r := a.get(p, app.CacheHit)
		if it, ok := itemByID(decode[app.ProductPage](t, r), id); !ok || it.Version != 1 {
			t.Errorf("GET %s after the restock shows version %d, want 1 (the creation, the last catalogue change)", p, it.Version)
		}
	}
	priced := a.must(http.MethodPut, "/api/v1/products/"+id+"/price", `{"priceCents":150}`)
	expect(t, priced, http.StatusOK)
	want := decode[app.Product](t, priced).Version
	for _, p := range []string{"/api/v1/products", "/public/products"} {
		r := a.get(p, app.CacheHit, app.CacheMiss)
		if it, ok := itemByID(decode[app.ProductPage](t, r), id); !ok || it.Version != want || it.PriceCents != 150 {
			t.Errorf("GET %s after the price change shows version %d price %d, want %d and 150", p, it.Version, it.PriceCents, want)
		}
	}
}
