package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv"
)

// stockReads is the read model with its stock reads counted: the one
// PostgreSQL query per product GET that ORDERFLOW_STOCK_TTL saves.
type stockReads struct {
	app.ReadModel
	n atomic.Int64
}

func (r *stockReads) ProductStock(ctx context.Context, id string) (app.StockLevel, error) {
	r.n.Add(1)
	return r.ReadModel.ProductStock(ctx, id)
}

// newStockAPI is the cached API with the given stock TTL, counting its
// stock reads.
func newStockAPI(t *testing.T, ttl time.Duration, opts cachedAPIOptions) (*cachedAPI, *stockReads) {
	t.Helper()
	counted := &stockReads{}
	opts.stockTTL = ttl
	opts.reads = func(m app.ReadModel) app.ReadModel {
		counted.ReadModel = m
		return counted
	}
	return newCachedAPI(t, opts), counted
}

// productRead is what a product GET answered.
type productRead struct {
	status  int
	xCache  string
	etag    string
	stock   *int64
	version int64
}

func (a *cachedAPI) readProduct(path string) (productRead, error) {
	r, err := a.do(http.MethodGet, path, "")
	if err != nil {
		return productRead{}, err
	}
	out := productRead{status: r.status, xCache: r.header.Get("X-Cache"), etag: r.header.Get("ETag")}
	if r.status != http.StatusOK {
		return out, fmt.Errorf("GET %s: %d %s", path, r.status, r.body)
	}
	var p app.Product
	if err := json.Unmarshal(r.body, &p); err != nil {
		return out, fmt.Errorf("GET %s: %w", path, err)
	}
	out.stock, out.version = p.StockLevel, p.Version
	return out, nil
}

// mustReadProduct is readProduct that fails the test, and wants a stock level.
func (a *cachedAPI) mustReadProduct(path string) productRead {
	a.t.Helper()
	p, err := a.readProduct(path)
	if err != nil {
		a.t.Fatal(err)
	}
	if p.stock == nil {
		a.t.Fatalf("GET %s: no stock level (X-Cache %s)", path, p.xCache)
	}
	return p
}

// burst reads path n times at once and returns what each read answered.
func (a *cachedAPI) burst(path string, n int) []productRead {
	a.t.Helper()
	out := make([]productRead, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i], errs[i] = a.readProduct(path)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			a.t.Fatalf("burst of %d reads: %v", n, err)
		}
	}
	return out
}

// stockEntry reads the product's stock entry as Redis holds it.
func (a *cachedAPI) stockEntry(id string) cache.Entry {
	a.t.Helper()
	e, err := a.cache.Entry(context.Background(), a.cache.Keys().Key(a.cache.Generation(), cache.StockKey(id)))
	if err != nil {
		a.t.Fatal(err)
	}
	return e
}

// With a stock TTL, a burst of concurrent reads of one product costs one
// stock query per TTL window: the first burst one, a second burst in the
// same window none, a burst after the entry expired one more. Every read
// answers the same level and version.
func TestStockTTLBurstCostsOneStockQueryPerWindow(t *testing.T) {
	const ttl = 5 * time.Second
	a, stock := newStockAPI(t, ttl, cachedAPIOptions{})
	id := a.createProduct("STOCKTTL-1", 900, 7, "EUR")["id"].(string)
	for _, path := range []string{"/api/v1/products/" + id, "/api/v1/products/by-sku/stockttl-1"} {
		a.warm(path) // the details; the stock entry too
	}
	// Start the first burst on a cold stock entry (none, or the creation's
	// tombstone).
	testenv.WaitFor(t, ttl+pollLimit, "no stock value", func() (bool, string) {
		e := a.stockEntry(id)
		return !e.Found || e.Tombstone, fmt.Sprintf("%+v", e)
	})

	const n = 64
	check := func(reads []productRead) {
		t.Helper()
		for _, r := range reads {
			if r.stock == nil || *r.stock != 7 || r.version != 1 {
				t.Fatalf("a read answered stock %v at version %d, want 7 at version 1", r.stock, r.version)
			}
		}
	}
	before := stock.n.Load()
	check(a.burst("/api/v1/products/"+id, n/2))
	check(a.burst("/api/v1/products/by-sku/STOCKTTL-1", n/2))
	if got := stock.n.Load() - before; got != 1 {
		t.Errorf("a burst of %d reads in one window made %d stock queries, want 1", n, got)
	}
	entry := a.stockEntry(id)
	if !entry.Found || entry.Tombstone || entry.Version != 1 {
		t.Fatalf("stock entry after the burst: %+v, want a value at version 1", entry)
	}
	check(a.burst("/api/v1/products/"+id, n))
	if again := a.stockEntry(id); again.WrittenAt != entry.WrittenAt {
		t.Fatalf("the stock entry was rewritten during the second burst (written %s, then %s): the bursts took longer than the TTL", entry.WrittenAt, again.WrittenAt)
	}
	if got := stock.n.Load() - before; got != 1 {
		t.Errorf("two bursts of %d reads in one window made %d stock queries, want 1", n, got)
	}

	// The next window: one more.
	testenv.WaitFor(t, ttl+pollLimit, "the stock entry expired", func() (bool, string) {
		e := a.stockEntry(id)
		return !e.Found, fmt.Sprintf("%+v", e)
	})
	if left := time.Since(entry.WrittenAt); left < ttl*9/10-100*time.Millisecond {
		t.Errorf("the stock entry expired %s after it was written, want about %s", left, ttl)
	}
	check(a.burst("/api/v1/products/"+id, n))
	if got := stock.n.Load() - before; got != 2 {
		t.Errorf("bursts in two windows made %d stock queries, want 2", got)
	}
}

// With no stock TTL (the default) every read reads stock live, while the
// details are still served from the cache.
func TestStockTTLZeroReadsLive(t *testing.T) {
	a, stock := newStockAPI(t, 0, cachedAPIOptions{})
	id := a.createProduct("STOCKLIVE-1", 900, 7, "EUR")["id"].(string)
	path := "/api/v1/products/" + id
	a.warm(path)
	before := stock.n.Load()
	const n = 32
	for _, r := range a.burst(path, n) {
		if r.xCache != string(app.CacheHit) || r.stock == nil || *r.stock != 7 {
			t.Fatalf("read: X-Cache %s, stock %v; want HIT with stock 7", r.xCache, r.stock)
		}
	}
	if got := stock.n.Load() - before; got != n {
		t.Errorf("%d reads made %d stock queries, want %d (one each)", n, got, n)
	}
	if e := a.stockEntry(id); e.Found {
		t.Errorf("a stock entry exists with stock read live: %+v", e)
	}
}

// With a stock TTL, what a command did to stock or version is visible on
// the next read: the command tombstoned the stock entry before it answered
// (in Redis, so for every instance). A restock, an order, a cancellation
// and a price change (which moves only the version) each show at once, with
// a weak ETag of the new version.
func TestStockTTLEvictedByEveryProductWrite(t *testing.T) {
	a, stock := newStockAPI(t, cache.MaxStockTTL, cachedAPIOptions{})
	id := a.createProduct("STOCKEVICT-1", 900, 5, "EUR")["id"].(string)
	customer := a.registerCustomer("stockttl@example.com")["id"].(string)
	path := "/api/v1/products/" + id

	want := func(when string, level, version int64) {
		t.Helper()
		p := a.mustReadProduct(path)
		if *p.stock != level || p.version != version || p.etag != fmt.Sprintf(`W/"%d"`, version) {
			t.Fatalf("%s: stock %d at version %d, ETag %s; want %d at version %d", when, *p.stock, p.version, p.etag, level, version)
		}
		before := stock.n.Load()
		if p := a.mustReadProduct(path); *p.stock != level || p.version != version {
			t.Fatalf("%s, read again: stock %d at version %d", when, *p.stock, p.version)
		}
		if got := stock.n.Load() - before; got != 0 {
			t.Fatalf("%s: a second read made %d stock queries, want 0 (cached)", when, got)
		}
	}
	want("created", 5, 1)

	expect(t, a.must(http.MethodPost, path+"/stock", `{"quantity":3}`), http.StatusOK)
	want("after a restock", 8, 2)
	if e := a.stockEntry(id); !e.Found || e.Version != 2 {
		t.Errorf("stock entry %+v, want it at version 2", e)
	}

	placed := a.must(http.MethodPost, "/api/v1/orders", orderBody(customer, id, 2))
	expect(t, placed, http.StatusCreated)
	want("after an order", 6, 3)

	orderID, _ := placed.json(t)["id"].(string)
	expect(t, a.must(http.MethodPost, "/api/v1/orders/"+orderID+"/cancel", ""), http.StatusOK)
	want("after a cancellation", 8, 4)

	expect(t, a.must(http.MethodPut, path+"/price", `{"priceCents":990}`), http.StatusOK)
	want("after a price change", 8, 5)
}

// With a stock TTL, concurrent orders still decide on the live row: they
// sell exactly the stock there is, never more, while reads of the product
// keep hitting its stock entry.
func TestStockTTLNeverOversells(t *testing.T) {
	a, _ := newStockAPI(t, cache.MaxStockTTL, cachedAPIOptions{})
	const stock, orders = 10, 40
	id := a.createProduct("STOCKSELL-1", 900, stock, "EUR")["id"].(string)
	customer := a.registerCustomer("stocksell@example.com")["id"].(string)
	path := "/api/v1/products/" + id
	a.mustReadProduct(path) // fills the stock entry

	var (
		wg              sync.WaitGroup
		created, refuse atomic.Int64
		mu              sync.Mutex
		problems        []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	start := make(chan struct{})
	for range orders {
		wg.Go(func() {
			<-start
			r, err := a.do(http.MethodPost, "/api/v1/orders", orderBody(customer, id, 1))
			switch {
			case err != nil:
				fail("%v", err)
			case r.status == http.StatusCreated:
				created.Add(1)
			case r.status == http.StatusConflict && strings.Contains(string(r.body), "insufficient-stock"):
				refuse.Add(1)
			default:
				fail("order: %d %s", r.status, r.body)
			}
		})
		wg.Go(func() {
			<-start
			p, err := a.readProduct(path)
			switch {
			case err != nil:
				fail("%v", err)
			case p.stock == nil || *p.stock < 0 || *p.stock > stock:
				fail("read stock %v, want 0 to %d", p.stock, stock)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, p := range problems {
		t.Error(p)
	}
	if created.Load() != stock || refuse.Load() != orders-stock {
		t.Errorf("%d orders placed and %d refused for stock %d, want %d and %d", created.Load(), refuse.Load(), stock, stock, orders-stock)
	}
	var level int64
	if err := a.pool.QueryRow(context.Background(), `SELECT stock_level FROM products WHERE id = $1`, id).Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != 0 {
		t.Errorf("stock_level %d in PostgreSQL, want 0", level)
	}
	if p := a.mustReadProduct(path); *p.stock != 0 {
		t.Errorf("read after the orders: stock %d, want 0", *p.stock)
	}
}

// A stock entry is never served stale: with PostgreSQL down, a tombstoned
// stock entry's old level is not answered; the cached details are, marked
// STALE, without stock.
func TestStockTTLNeverServesStaleStock(t *testing.T) {
	a, _ := newStockAPI(t, cache.MaxStockTTL, cachedAPIOptions{proxyPostgres: true})
	id := a.createProduct("STOCKSTALE-1", 900, 5, "EUR")["id"].(string)
	path := "/api/v1/products/" + id
	a.warm(path)
	expect(t, a.must(http.MethodPost, path+"/stock", `{"quantity":3}`), http.StatusOK)
	if e := a.stockEntry(id); !e.Found || !e.Tombstone || len(e.Data) == 0 {
		t.Fatalf("stock entry after the restock: %+v, want a tombstone keeping the old level", e)
	}
	a.pgProxy.Cut()
	p, err := a.readProduct(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.xCache != string(app.CacheStale) || p.stock != nil {
		t.Errorf("with PostgreSQL down: X-Cache %s, stock %v; want STALE without stock", p.xCache, p.stock)
	}
}
