package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/faultproxy"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// TestNoStaleReadUnderConcurrentWriters: writers change prices, a profile
// and orders through two API processes while readers read every cached
// family through both. A read sent after a write was acknowledged must
// never show state older than that write: each reader takes what has been
// acknowledged so far before it sends, and compares the answer with it.
//
// It runs once as shipped and once with the near cache on in both APIs,
// where a read may answer from the in-process copy only after Redis
// confirmed its version; that run also checks the near cache answered some.
func TestNoStaleReadUnderConcurrentWriters(t *testing.T) {
	t.Run("Redis", func(t *testing.T) { staleReadsUnderConcurrentWriters(t, false) })
	t.Run("NearCache", func(t *testing.T) { staleReadsUnderConcurrentWriters(t, true) })
}

func staleReadsUnderConcurrentWriters(t *testing.T, near bool) {
	d := testenv.New(t, testenv.Options{Redis: true})
	dsn, prefix := d.DSN, d.Keys.Prefix
	start := func() *process.Process {
		return startAPI(t,
			"ORDERFLOW_DATABASE_URL="+dsn,
			"ORDERFLOW_REDIS_URL="+jitteredRedisURL(t),
			"ORDERFLOW_KEY_PREFIX="+prefix,
			"ORDERFLOW_MIGRATE_ON_START=false", // pgtest migrated it
			fmt.Sprintf("ORDERFLOW_NEAR_CACHE=%t", near),
		)
	}
	procs := []*process.Process{start(), start()}
	w := &staleWorld{t: t, procs: procs, token: adminToken(t), client: &http.Client{
		Timeout:   waitLimit,
		Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64},
	}}
	t.Cleanup(w.client.CloseIdleConnections)

	// Every product fits on page one, so each price change shows there.
	const hotProducts, priceWriters = 16, 8
	for i := range hotProducts {
		w.products = append(w.products, w.createProduct(fmt.Sprintf("HOT-%02d", i), 1000))
	}
	orderProduct := w.createProduct("ORDERED", 1_000_000)
	const customers = 2
	for i := range customers {
		w.customers = append(w.customers, w.registerCustomer(i))
	}

	const runFor = 8 * time.Second
	stop := time.Now().Add(runFor)
	var wg sync.WaitGroup
	for wi := range priceWriters {
		wg.Go(func() {
			// One writer per product: its prices only rise, so "older" is
			// "cheaper" on every family that shows the price.
			var mine []*staleProduct
			for i, p := range w.products {
				if i%priceWriters == wi {
					mine = append(mine, p)
				}
			}
			// Each writer reads what it changed right after the answer:
			// the reads most likely to meet a load that began before the write.
			for i := 0; time.Now().Before(stop); i++ {
				p := mine[rand.IntN(len(mine))]
				price := p.acked.Load() + 1
				w.mustSend(http.MethodPut, "/api/v1/products/"+p.id+"/price", fmt.Sprintf(`{"priceCents":%d}`, price), http.StatusOK, nil)
				p.acked.Store(price)
				switch i % 4 {
				case 0:
					w.readProduct(p)
				case 1:
					w.readProductBySKU(p)
				case 2:
					w.readPageOne()
				case 3:
					w.readPublicCatalogue()
				}
			}
		})
	}
	wg.Go(func() {
		c := w.customers[0]
		for n := 1; time.Now().Before(stop); n++ {
			var got app.Customer
			w.mustSend(http.MethodPatch, "/api/v1/customers/"+c.id, fmt.Sprintf(`{"name":"Renamed %d"}`, n), http.StatusOK, &got)
			c.ackedVersion.Store(got.Version)
			w.readProfile()
		}
	})
	for _, c := range w.customers {
		wg.Go(func() {
			// Paced: a customer's summaries list its newest 100 orders, and
			// every order placed here must stay in the list to be checked.
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			var open []string
			for time.Now().Before(stop) {
				<-tick.C
				if len(open) > 0 && rand.IntN(2) == 0 {
					id := open[0]
					open = open[1:]
					w.mustSend(http.MethodPost, "/api/v1/orders/"+id+"/pay", "", http.StatusOK, nil)
					c.ackOrder(id, "paid")
					w.readOrderSummaries(c)
					continue
				}
				var o app.Order
				w.mustSend(http.MethodPost, "/api/v1/orders",
					fmt.Sprintf(`{"customerId":%q,"lines":[{"productId":%q,"quantity":1}]}`, c.id, orderProduct.id), http.StatusCreated, &o)
				c.ackOrder(o.ID, "placed")
				open = append(open, o.ID)
				w.readOrderSummaries(c)
			}
		})
	}
	anyProduct := func() *staleProduct { return w.products[rand.IntN(len(w.products))] }
	anyCustomer := func() *staleCustomer { return w.customers[rand.IntN(len(w.customers))] }
	families := []func(){
		func() { w.readProduct(anyProduct()) },
		func() { w.readProductBySKU(anyProduct()) },
		w.readPageOne,
		w.readPublicCatalogue,
		w.readProfile,
		func() { w.readOrderSummaries(anyCustomer()) },
	}
	for r := range 48 {
		wg.Go(func() {
			for i := r; time.Now().Before(stop); i++ {
				families[i%len(families)]()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("reads per family: %v; stale: %v", w.reads, w.staleCount)
	for _, name := range []string{"product", "product-by-sku", "page-one", "public-catalogue", "profile", "order-summaries"} {
		if w.reads[name] == 0 {
			t.Errorf("no %s read was made", name)
		}
	}
	if len(w.stale) > 0 {
		t.Errorf("%d stale reads (per family %v), the first ones:\n%s", len(w.stale), w.staleCount,
			strings.Join(w.stale[:min(len(w.stale), 10)], "\n"))
	}
	if near {
		hits := mustMetricSum(t, procs, "orderflow_cache_near_hits_total", "")
		t.Logf("near cache hits over both APIs: %.0f", hits)
		if hits == 0 {
			t.Error("the near cache answered no read: the run proved nothing about it")
		}
	}
}

// jitteredRedisURL is the test Redis behind a proxy that delays each
// reply by up to 3 ms: a reply to one request can then arrive after the
// reply to a later one, as on a busy machine, so a read meets a load that
// began before a write far more often than on an idle loopback. A cluster's
// clients follow the nodes' own addresses, so there the test reads Redis
// directly (and the single-node pass is the sharper one).
func jitteredRedisURL(t *testing.T) string {
	t.Helper()
	raw := redistest.URL(t)
	if redistest.Cluster(t) {
		return raw
	}
	target, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, target.Host)
	proxy.Jitter(10 * time.Millisecond)
	target.Host = proxy.Addr()
	return target.String()
}

// staleWorld is what the stale-read test's writers have had acknowledged.
type staleWorld struct {
	t         *testing.T
	procs     []*process.Process
	token     string
	client    *http.Client
	products  []*staleProduct
	customers []*staleCustomer

	mu         sync.Mutex
	reads      map[string]int
	staleCount map[string]int
	stale      []string
}

type staleProduct struct {
	id, sku string
	// acked is the price of the last acknowledged price change.
	acked atomic.Int64
}

type staleCustomer struct {
	id           string
	ackedVersion atomic.Int64
	mu           sync.Mutex
	// orders maps every acknowledged order to its acknowledged status.
	orders map[string]string
}

func (c *staleCustomer) ackOrder(id, status string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.orders[id] = status
}

func (c *staleCustomer) ackedOrders() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.orders)
}

// send makes one request through a random process and decodes a 2xx body into out.
func (w *staleWorld) send(method, path, body string, auth bool, out any) (int, http.Header, error) {
	url := w.procs[rand.IntN(len(w.procs))].URL() + path
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	res, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, res.Header, err
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, res.Header, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return res.StatusCode, res.Header, fmt.Errorf("%s %s: %w in %s", method, path, err, data)
		}
	}
	return res.StatusCode, res.Header, nil
}

func (w *staleWorld) mustSend(method, path, body string, want int, out any) {
	status, _, err := w.send(method, path, body, true, out)
	if err == nil && status != want {
		err = fmt.Errorf("%s %s: %d, want %d", method, path, status, want)
	}
	if err != nil {
		w.t.Error(err)
		runtime.Goexit() // t.FailNow for any goroutine
	}
}

// read makes one GET and records it under family; it reports false when
// the read failed (already reported).
func (w *staleWorld) read(family, path string, auth bool, out any) (xCache string, ok bool) {
	_, h, err := w.send(http.MethodGet, path, "", auth, out)
	if err != nil {
		w.t.Error(err)
		return "", false
	}
	w.mu.Lock()
	if w.reads == nil {
		w.reads, w.staleCount = map[string]int{}, map[string]int{}
	}
	w.reads[family]++
	w.mu.Unlock()
	return h.Get("X-Cache"), true
}

func (w *staleWorld) staleRead(family, xCache, format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.staleCount[family]++
	w.stale = append(w.stale, fmt.Sprintf("%s (X-Cache %s): ", family, xCache)+fmt.Sprintf(format, args...))
}

func (w *staleWorld) readProduct(p *staleProduct) {
	want := p.acked.Load()
	var got app.Product
	if x, ok := w.read("product", "/api/v1/products/"+p.id, false, &got); ok && got.PriceCents < want {
		w.staleRead("product", x, "%s price %d, acknowledged %d before the read", p.sku, got.PriceCents, want)
	}
}

func (w *staleWorld) readProductBySKU(p *staleProduct) {
	want := p.acked.Load()
	var got app.Product
	if x, ok := w.read("product-by-sku", "/api/v1/products/by-sku/"+strings.ToLower(p.sku), false, &got); ok && got.PriceCents < want {
		w.staleRead("product-by-sku", x, "%s price %d, acknowledged %d before the read", p.sku, got.PriceCents, want)
	}
}

func (w *staleWorld) readPageOne()         { w.readCatalogue("page-one", "/api/v1/products") }
func (w *staleWorld) readPublicCatalogue() { w.readCatalogue("public-catalogue", "/public/products") }

func (w *staleWorld) readCatalogue(family, path string) {
	want := make(map[string]int64, len(w.products))
	for _, p := range w.products {
		want[p.id] = p.acked.Load()
	}
	var page app.ProductPage
	x, ok := w.read(family, path, false, &page)
	if !ok {
		return
	}
	seen := 0
	for _, it := range page.Items {
		acked, hot := want[it.ID]
		if !hot {
			continue
		}
		seen++
		if it.PriceCents < acked {
			w.staleRead(family, x, "%s price %d, acknowledged %d before the read", it.SKU, it.PriceCents, acked)
			return
		}
	}
	if seen != len(want) {
		w.t.Errorf("%s shows %d of the %d products", family, seen, len(want))
	}
}

func (w *staleWorld) readProfile() {
	c := w.customers[0]
	want := c.ackedVersion.Load()
	var got app.Customer
	if x, ok := w.read("profile", "/api/v1/customers/"+c.id, true, &got); ok && got.Version < want {
		w.staleRead("profile", x, "version %d, acknowledged %d before the read", got.Version, want)
	}
}

// statusRank orders an order's statuses as its transitions do.
var statusRank = map[string]int{"placed": 1, "paid": 2, "shipped": 3, "cancelled": 3}

func (w *staleWorld) readOrderSummaries(c *staleCustomer) {
	want := c.ackedOrders()
	var got app.CustomerOrders
	x, ok := w.read("order-summaries", "/api/v1/customers/"+c.id+"/orders", true, &got)
	if !ok {
		return
	}
	listed := make(map[string]string, len(got.Items))
	for _, s := range got.Items {
		listed[s.ID] = s.Status
	}
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		status, found := listed[id]
		if !found || statusRank[status] < statusRank[want[id]] {
			w.staleRead("order-summaries", x, "order %s listed as %q, acknowledged %q before the read", id, status, want[id])
			return
		}
	}
}

func (w *staleWorld) createProduct(sku string, stock int) *staleProduct {
	var got app.Product
	body := fmt.Sprintf(`{"sku":%q,"name":"Item %s","description":"d","priceCents":1000,"currency":"EUR","initialStock":%d}`, sku, sku, stock)
	w.mustSend(http.MethodPost, "/api/v1/products", body, http.StatusCreated, &got)
	p := &staleProduct{id: got.ID, sku: sku}
	p.acked.Store(got.PriceCents)
	return p
}

func (w *staleWorld) registerCustomer(i int) *staleCustomer {
	var got app.Customer
	body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("stale-%d@example.com", i), "name": "Reader"})
	w.mustSend(http.MethodPost, "/api/v1/customers", string(bytes.TrimSpace(body)), http.StatusCreated, &got)
	c := &staleCustomer{id: got.ID, orders: map[string]string{}}
	c.ackedVersion.Store(got.Version)
	return c
}
