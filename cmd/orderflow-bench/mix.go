package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// The mix suite answers the question of the "make bench" issue that no
// single-route benchmark can: under a realistic blend of reads and writes,
// with popularity skewed as in real shops (Zipf, s = 1.1, over products and
// customers) and 1 % writes evicting and rewriting entries all the while,
//
//  1. what share of each key family's reads the cache answers (goal ≥ 99 %),
//  2. how many PostgreSQL queries 100 reads still cost (the live stock read
//     of product details apart: it is never cached), and
//  3. what latency a client sees, against the same mix served with
//     ORDERFLOW_CACHE=false, and
//  4. whether any read, in the mix or in a short race of concurrent price
//     changes, orders and reads on page one's products, showed something
//     older than a write answered before it was sent (stale.go; goal 0).
//
// The load is open-loop at a fixed rate, latency counted from each request's
// scheduled start, so a stall of the system shows in the figures instead of
// slowing the generator down (no coordinated omission).
func runMix(ctx context.Context, e *env, r *Report) (err error) {
	nProducts, nCustomers := e.cfg.MixProducts(), e.cfg.MixCustomers()
	store := postgres.NewStore(e.db.pool)
	relay, err := startProcess(ctx, e, processSpec{bin: "orderflow-relay", addrEnv: "ORDERFLOW_RELAY_HTTP_ADDR"})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, relay.Stop(stopWithin)) }()
	sd, err := seedMix(ctx, e, store, nProducts, nCustomers)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	for i, p := range sd.products {
		sd.stale.seeded("product:"+p, priceValue(sd.prices[i]))
	}
	_, last, err := logBounds(ctx, e.db.pool)
	if err != nil {
		return err
	}
	if _, err := waitCheckpoint(ctx, e, relay, last, last, 0, time.Now(), time.Minute); err != nil {
		return err
	}
	if err := createGroupsAtEnd(ctx, e); err != nil {
		return err
	}
	projector, err := startProcess(ctx, e, processSpec{bin: "orderflow-projector", args: []string{"run"}, addrEnv: "ORDERFLOW_PROJECTOR_HTTP_ADDR",
		env: []string{"ORDERFLOW_CONSUMER=bench-mix-projector"}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, projector.Stop(stopWithin)) }()

	counter, err := newQueryCounter(ctx, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, counter.close()) }()

	// The uncached mix runs first: unless --mix-rate is given, its
	// closed-loop maximum sets the rate of both windows, half of it, so that
	// both compare at a load each sustains instead of one of them drowning.
	rate := &mixRate{perSecond: e.cfg.MixRequestRate()}
	runs := map[bool]*mixRun{}
	for _, cached := range []bool{false, true} {
		run, err := runMixWindow(ctx, e, counter, cached, sd, rate)
		if err != nil {
			return err
		}
		runs[cached] = run
		if err := waitProjected(ctx, e, relay); err != nil {
			return err
		}
	}
	verdicts := sd.stale.judge()
	for _, run := range runs {
		run.stale, run.raceStale = verdicts[run.phase(false)], verdicts[run.phase(true)]
	}
	reportMix(e, r, sd, runs[true], runs[false], rate, counter)
	return nil
}

// mixRate is the open loop's rate: set, or found by a closed loop.
type mixRate struct {
	perSecond float64
	// max is the closed loop that found it, nil when it was set.
	max *loadResult
}

// mixSchedule draws the requests of d at rate. The seed, not the mode,
// decides them: the cached and the uncached API get the very same requests
// in the same order.
func mixSchedule(seed uint64, rate float64, d time.Duration, sd *mixSeed) []mixOp {
	return newMixSchedule(rand.New(rand.NewPCG(seed, 11)), max(int(rate*d.Seconds()), 1), sd.products, sd.customers)
}

// mixKind is one kind of request of the mix.
type mixKind int

const (
	mixProduct       mixKind = iota // GET /api/v1/products/{id}: cached details, live stock
	mixProductSKU                   // GET /api/v1/products/by-sku/{sku}
	mixPageOne                      // GET /api/v1/products
	mixPublic                       // GET /public/products
	mixProfile                      // GET /api/v1/customers/{id}
	mixOrders                       // GET /api/v1/customers/{id}/orders
	mixPlaceOrder                   // POST /api/v1/orders
	mixProfileUpdate                // PATCH /api/v1/customers/{id}
	mixPriceChange                  // PUT /api/v1/products/{id}/price
	mixRestock                      // POST /api/v1/products/{id}/stock
	mixKinds
)

// mixKindSpec is a kind's share of the mix (per 10,000 requests) and what it reads.
type mixKindSpec struct {
	name   string
	weight int
	write  bool
	// family is the cache family the read goes through ("" for writes).
	family string
}

// mixSpecs is the blend: 99 % reads, weighted as a shop's traffic is
// (product pages first, by id or by a SKU from a search or a scanner, then
// what customers look at), and 1 % writes,
// mostly orders; price changes are the rarest since each one evicts page one
// and the public catalogue for everyone.
func mixSpecs() [mixKinds]mixKindSpec {
	return [mixKinds]mixKindSpec{
		mixProduct:       {name: "product details", weight: 3_500, family: "product"},
		mixProductSKU:    {name: "product by SKU", weight: 500, family: "product_sku"},
		mixPageOne:       {name: "page one", weight: 1_000, family: "product_list"},
		mixPublic:        {name: "public catalogue", weight: 1_500, family: "output"},
		mixProfile:       {name: "customer profile", weight: 1_500, family: "customer"},
		mixOrders:        {name: "customer orders", weight: 1_900, family: "customer_orders"},
		mixPlaceOrder:    {name: "place order", weight: 60, write: true},
		mixProfileUpdate: {name: "profile update", weight: 20, write: true},
		mixPriceChange:   {name: "price change", weight: 10, write: true},
		mixRestock:       {name: "restock", weight: 10, write: true},
	}
}

// mixBlend describes the blend for the log and the report.
func mixBlend() string {
	var reads, writes []string
	for _, s := range mixSpecs() {
		part := fmt.Sprintf("%s %g %%", s.name, float64(s.weight)/100)
		if s.write {
			writes = append(writes, part)
		} else {
			reads = append(reads, part)
		}
	}
	return "reads: " + strings.Join(reads, ", ") + "; writes: " + strings.Join(writes, ", ")
}

// mixOp is one scheduled request: indexes into the seeded products and customers.
type mixOp struct {
	kind     mixKind
	product  int
	customer int
	lines    []int // products of an order
	value    int64 // restock quantity
}

// newMixSchedule draws n requests: kinds by weight, products and customers
// by Zipf (s = 1.1) over a shuffled ranking, so the popular ones are spread
// over the catalogue rather than being the first created.
func newMixSchedule(rng *rand.Rand, n int, products, customers []string) []mixOp {
	specs := mixSpecs()
	total := 0
	for _, s := range specs {
		total += s.weight
	}
	productRank, customerRank := rng.Perm(len(products)), rng.Perm(len(customers))
	zp := rand.NewZipf(rng, 1.1, 1, uint64(len(products)-1))
	zc := rand.NewZipf(rng, 1.1, 1, uint64(len(customers)-1))
	product := func() int { return productRank[zp.Uint64()] }
	customer := func() int { return customerRank[zc.Uint64()] }
	ops := make([]mixOp, n)
	for i := range ops {
		pick := rng.IntN(total)
		k := mixKind(0)
		for ; pick >= specs[k].weight; k++ {
			pick -= specs[k].weight
		}
		op := mixOp{kind: k, product: product(), customer: customer()}
		switch k {
		case mixPlaceOrder:
			op.lines = []int{op.product}
			for range rng.IntN(3) {
				if p := product(); !slices.Contains(op.lines, p) {
					op.lines = append(op.lines, p)
				}
			}
		case mixRestock:
			op.value = int64(1 + rng.IntN(100))
		}
		ops[i] = op
	}
	return ops
}

// mixSeed is what seedMix created, and the stale-read check that follows
// every write made to it.
type mixSeed struct {
	products, customers []string
	// skus and prices are the products', index by index.
	skus           []string
	prices         []int64
	orders, events int
	took           time.Duration
	stale          *staleCheck
}

// Shape of the mix's seed: products in transactions of mixSeedChunk, each
// with its share of the customers, who place mixSeedOrders orders each on
// the transaction's products, so that order summaries are not empty.
const (
	mixSeedChunk  = 250
	mixSeedOrders = 3
)

// seedMix creates the products, customers and their first orders through
// the real store (events and read tables in one transaction each, as the
// API writes them), several transactions at once: far faster than one HTTP
// request per entity, and the relay publishes them meanwhile.
func seedMix(ctx context.Context, e *env, store *postgres.Store, nProducts, nCustomers int) (*mixSeed, error) {
	chunks := (nProducts + mixSeedChunk - 1) / mixSeedChunk
	if nCustomers < chunks {
		return nil, fmt.Errorf("%d customers for %d products: at least one customer per %d products is needed", nCustomers, nProducts, mixSeedChunk)
	}
	products, customers := make([][]string, chunks), make([][]string, chunks)
	skus, prices := make([][]string, chunks), make([][]int64, chunks)
	events := make([]int, chunks)
	start := time.Now()
	e.printf("seeding %s products, %s customers and %d orders each through the store, %d builders, %d transactions",
		thousands(float64(nProducts)), thousands(float64(nCustomers)), mixSeedOrders, mixedBuilders, chunks)
	err := runCount(ctx, e.out, "seed transactions", chunks, mixedBuilders, func(ctx context.Context, chunk int) error {
		rng := rand.New(rand.NewPCG(uint64(chunk), 13))
		var aggs []domain.Aggregate
		byID := map[string]*domain.Product{}
		for i := chunk * nProducts / chunks; i < (chunk+1)*nProducts/chunks; i++ {
			id, sku, price := uuid.Must(uuid.NewV7()).String(), fmt.Sprintf("MIX-%06d", i+1), int64(100+rng.IntN(10_000))
			p, err := domain.CreateProduct(id, sku, fmt.Sprintf("Mix product %06d", i+1),
				"Seeded by orderflow-bench for the realistic mix.", price, "EUR", int64(e.cfg.ProductStock))
			if err != nil {
				return err
			}
			byID[id] = p
			aggs, products[chunk] = append(aggs, p), append(products[chunk], id)
			skus[chunk], prices[chunk] = append(skus[chunk], sku), append(prices[chunk], price)
		}
		for i := chunk * nCustomers / chunks; i < (chunk+1)*nCustomers/chunks; i++ {
			id := uuid.Must(uuid.NewV7()).String()
			c, err := domain.RegisterCustomer(id, fmt.Sprintf("mix%06d@bench.example", i+1), fmt.Sprintf("Mix Customer %d", i+1))
			if err != nil {
				return err
			}
			aggs, customers[chunk] = append(aggs, c), append(customers[chunk], id)
		}
		ps := products[chunk]
		for _, c := range customers[chunk] {
			for range mixSeedOrders {
				lines := []domain.LineRequest{}
				for _, i := range rng.Perm(len(ps))[:min(1+rng.IntN(3), len(ps))] {
					lines = append(lines, domain.LineRequest{ProductID: ps[i], Quantity: 1})
				}
				o, err := domain.PlaceOrder(uuid.Must(uuid.NewV7()).String(), c, lines, byID)
				if err != nil {
					return err
				}
				aggs = append(aggs, o)
			}
		}
		for _, a := range aggs {
			events[chunk] += len(a.Changes())
		}
		return store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			_, err := tx.Save(ctx, aggs...)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	sd := &mixSeed{products: slices.Concat(products...), customers: slices.Concat(customers...), skus: slices.Concat(skus...),
		prices: slices.Concat(prices...), took: time.Since(start), stale: newStaleCheck()}
	sd.orders = len(sd.customers) * mixSeedOrders
	for _, n := range events {
		sd.events += n
	}
	return sd, nil
}

// mixRun is what one window of the mix measured.
type mixRun struct {
	cached bool
	res    *loadResult
	// byKind holds each kind's latencies (from the scheduled start) and failures.
	byKindMu sync.Mutex
	byKind   [mixKinds]struct {
		latencies []time.Duration
		failed    int
	}
	reads int // read requests scheduled in the window
	// cache holds the reading API's orderflow_cache_reads_total deltas by
	// family and result, loads its orderflow_cache_loads_total deltas.
	cache map[string]map[string]float64
	loads map[string]float64
	// queries are the reading API's PostgreSQL statements in the window.
	queries queryDelta
	// readerCPU and writerCPU are the APIs' CPU time in the window.
	readerCPU, writerCPU time.Duration
	breaker              breakerSamples
	// race is the race phase that followed the window; stale and raceStale
	// are the verdicts on the reads of the window and of the race.
	race             *loadResult
	raceConflicts    int64
	stale, raceStale *[mixKinds]staleCount
}

// phase labels the reads of the window, or of the race after it, for the
// stale-read check.
func (m *mixRun) phase(race bool) string {
	label := map[bool]string{true: "cached", false: "ORDERFLOW_CACHE=false"}[m.cached]
	if race {
		return label + " race"
	}
	return label + " window"
}

// staleTotal is the window's and the race's verdicts on reads of kind k.
func (m *mixRun) staleTotal(k mixKind) staleCount {
	var c staleCount
	for _, v := range []*[mixKinds]staleCount{m.stale, m.raceStale} {
		if v != nil {
			c = c.plus(v[k])
		}
	}
	return c
}

// breakerSamples is how often the reading API's Redis circuit breaker was
// found open: while it is, every read is a miss served by PostgreSQL.
type breakerSamples struct{ taken, open int }

// breakerSampling is how often the breaker gauge is read during a window.
const breakerSampling = 500 * time.Millisecond

// sampleBreaker reads orderflow_cache_breaker_open from apiURL's /metrics
// every breakerSampling until ctx ends. Failed scrapes are not counted.
func sampleBreaker(ctx context.Context, client *http.Client, apiURL string) breakerSamples {
	var b breakerSamples
	t := time.NewTicker(breakerSampling)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return b
		case <-t.C:
		}
		fams, err := scrape(ctx, client, apiURL)
		if err != nil {
			continue
		}
		b.taken++
		if fams.value("orderflow_cache_breaker_open", nil) > 0 {
			b.open++
		}
	}
}

// runMixWindow starts the APIs of one mode (cached or not): one that serves
// the reads, under a PostgreSQL role of its own so that its queries can be
// told apart, and one that takes the writes. It warms the cache, runs the
// warm-up schedule, then measures the window.
func runMixWindow(ctx context.Context, e *env, counter *queryCounter, cached bool, sd *mixSeed, rate *mixRate) (run *mixRun, err error) {
	mode, extra := "cached", []string(nil)
	if !cached {
		mode, extra = "ORDERFLOW_CACHE=false", []string{"ORDERFLOW_CACHE=false"}
	}
	reader, err := startAPI(ctx, e, "orderflow-api (reads, "+mode+")",
		append([]string{"ORDERFLOW_DATABASE_URL=" + counter.readerURL, "ORDERFLOW_MIGRATE_ON_START=false"}, extra...)...)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, reader.Stop(stopWithin)) }()
	writer, err := startAPI(ctx, e, "orderflow-api (writes, "+mode+")", extra...)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, writer.Stop(stopWithin)) }()
	e.printf("%s: reads on %s (role %s), writes on %s", mode, reader.URL(), counter.role, writer.URL())

	client := e.apiClient(64)
	defer client.CloseIdleConnections()
	// Writes are recorded in every phase, reads only where they are judged.
	unjudged := mixTarget{client: client, readURL: reader.URL(), writeURL: writer.URL(), sd: sd}
	if cached {
		if err := warmMix(ctx, e, client, reader.URL(), sd); err != nil {
			return nil, fmt.Errorf("warm the cache: %w", err)
		}
	}
	if rate.perSecond == 0 {
		calibration := mixSchedule(3, 20_000, time.Second, sd)
		var next atomic.Int64
		e.printf("%s: closed-loop maximum of the mix, %d clients for %s", mode, e.cfg.Clients, e.cfg.Calibration())
		rate.max, err = runClosedLoop(ctx, e.out, mode+" maximum", e.cfg.Clients, e.cfg.Calibration(), e.cfg.ProgressPeriod, func(ctx context.Context, _ int, _ *rand.Rand) error {
			return unjudged.send(ctx, calibration[int(next.Add(1)-1)%len(calibration)])
		})
		if err != nil {
			return nil, err
		}
		rate.perSecond = max(math.Round(rate.max.Rate()/2), 1)
	}
	warmup, window := mixSchedule(1, rate.perSecond, e.cfg.MixWarmup(), sd), mixSchedule(2, rate.perSecond, e.cfg.Mix(), sd)
	e.printf("%s: %s requests at %s/s for %s after a warm-up of %s; %s", mode,
		thousands(float64(len(window))), thousands(rate.perSecond), e.cfg.Mix(), e.cfg.MixWarmup(), mixBlend())
	run = &mixRun{cached: cached}
	judged := unjudged
	judged.phase = run.phase(false)
	do := func(ops []mixOp, rec *mixRun) timedOp {
		target := unjudged
		if rec != nil {
			target = judged
		}
		return func(ctx context.Context, i int, intended time.Time) error {
			op := ops[i]
			err := target.send(ctx, op)
			if rec != nil {
				took := time.Since(intended)
				mu := &rec.byKindMu
				mu.Lock()
				k := &rec.byKind[op.kind]
				if err == nil {
					k.latencies = append(k.latencies, took)
				} else if ctx.Err() == nil {
					k.failed++
				}
				mu.Unlock()
			}
			return err
		}
	}
	if _, err := runOpenLoop(ctx, e.out, mode+" warm-up", rate.perSecond, e.cfg.MixWarmup(), e.cfg.ProgressPeriod, do(warmup, nil)); err != nil {
		return nil, err
	}

	scrapeClient := newHTTPClient(1)
	defer scrapeClient.CloseIdleConnections()
	before, err := scrape(ctx, scrapeClient, reader.URL())
	if err != nil {
		return nil, err
	}
	q0, err := counter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	rcpu0, err0 := reader.CPU()
	wcpu0, err1 := writer.CPU()
	sampling, stopSampling := context.WithCancel(ctx)
	breaker := make(chan breakerSamples, 1)
	go func() { breaker <- sampleBreaker(sampling, scrapeClient, reader.URL()) }()
	run.res, err = runOpenLoop(ctx, e.out, mode, rate.perSecond, e.cfg.Mix(), e.cfg.ProgressPeriod, do(window, run))
	stopSampling()
	run.breaker = <-breaker
	if err != nil {
		return nil, err
	}
	rcpu1, err2 := reader.CPU()
	wcpu1, err3 := writer.CPU()
	if err := errors.Join(err0, err1, err2, err3); err != nil {
		return nil, fmt.Errorf("orderflow-api CPU time: %w", err)
	}
	run.readerCPU, run.writerCPU = rcpu1-rcpu0, wcpu1-wcpu0
	q1, err := counter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	after, err := scrape(ctx, scrapeClient, reader.URL())
	if err != nil {
		return nil, err
	}
	run.queries = q1.minus(q0)
	run.cache, run.loads = map[string]map[string]float64{}, map[string]float64{}
	for _, s := range mixSpecs() {
		if s.write || run.cache[s.family] != nil {
			continue
		}
		run.cache[s.family] = map[string]float64{}
		for _, result := range []string{"hit", "miss", "stale"} {
			want := map[string]string{"family": s.family, "result": result}
			run.cache[s.family][result] = after.value("orderflow_cache_reads_total", want) - before.value("orderflow_cache_reads_total", want)
		}
		want := map[string]string{"family": s.family}
		run.loads[s.family] = after.value("orderflow_cache_loads_total", want) - before.value("orderflow_cache_loads_total", want)
	}
	specs := mixSpecs()
	for _, op := range window {
		if !specs[op.kind].write {
			run.reads++
		}
	}
	e.printf("  %s: %s; CPU of the reading API %s, of the writing API %s", mode, run.summary(), run.readerCPU, run.writerCPU)

	race := unjudged
	race.phase = run.phase(true)
	if run.race, run.raceConflicts, err = runStaleRace(ctx, e, race); err != nil {
		return nil, err
	}
	return run, nil
}

// mixTarget is where the mix sends its requests: reads to the reading API,
// writes to the writing one. Anonymous routes go without a token (see
// bearer). Every answered write is recorded for the stale-read check, and
// every read of a judged phase.
type mixTarget struct {
	client            *http.Client
	readURL, writeURL string
	sd                *mixSeed
	// phase labels the reads judged for staleness; "" judges none.
	phase string
}

// productAnswer, customerAnswer and orderAnswer are the fields of the
// API's answers that the stale-read check reads.
type (
	productAnswer struct {
		ID         string `json:"id"`
		PriceCents int64  `json:"priceCents"`
		Version    int64  `json:"version"`
	}
	customerAnswer struct {
		Version int64 `json:"version"`
	}
	orderAnswer struct {
		ID         string    `json:"id"`
		CustomerID string    `json:"customerId"`
		Status     string    `json:"status"`
		Version    int64     `json:"version"`
		PlacedAt   time.Time `json:"placedAt"`
	}
)

// send sends one request of the mix.
func (t mixTarget) send(ctx context.Context, op mixOp) error {
	sd := t.sd
	product, customer := sd.products[op.product], sd.customers[op.customer]
	switch op.kind {
	case mixProduct:
		return t.readProducts(ctx, op.kind, "/api/v1/products/"+product)
	case mixProductSKU:
		return t.readProducts(ctx, op.kind, "/api/v1/products/by-sku/"+url.PathEscape(sd.skus[op.product]))
	case mixPageOne:
		return t.readProducts(ctx, op.kind, "/api/v1/products")
	case mixPublic:
		return t.readProducts(ctx, op.kind, "/public/products")
	case mixProfile:
		var c customerAnswer
		sent := time.Now()
		if err := t.get(ctx, "/api/v1/customers/"+customer, &c); err != nil {
			return err
		}
		sd.stale.read(staleRead{kind: op.kind, phase: t.phase, sent: sent, subject: customer, seen: []seenValue{{version: c.Version}}})
		return nil
	case mixOrders:
		var list struct {
			Items []struct {
				ID       string    `json:"id"`
				Status   string    `json:"status"`
				PlacedAt time.Time `json:"placedAt"`
			} `json:"items"`
		}
		sent := time.Now()
		if err := t.get(ctx, "/api/v1/customers/"+customer+"/orders", &list); err != nil {
			return err
		}
		seen := make([]seenValue, len(list.Items))
		for i, o := range list.Items {
			seen[i] = seenValue{id: o.ID, value: o.Status, placedAt: o.PlacedAt}
		}
		sd.stale.read(staleRead{kind: op.kind, phase: t.phase, sent: sent, subject: customer, seen: seen})
		return nil
	case mixPlaceOrder:
		type line struct {
			ProductID string `json:"productId"`
			Quantity  int    `json:"quantity"`
		}
		lines := make([]line, len(op.lines))
		for i, p := range op.lines {
			lines[i] = line{ProductID: sd.products[p], Quantity: 1}
		}
		body, _ := json.Marshal(map[string]any{"customerId": customer, "lines": lines})
		_, err := t.placeOrder(ctx, body)
		return err
	case mixProfileUpdate:
		body, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Mix Customer %d, updated %d", op.customer+1, time.Now().UnixNano())})
		var c customerAnswer
		if err := sendJSON(ctx, t.client, http.MethodPatch, t.writeURL, "/api/v1/customers/"+customer, body, http.StatusOK, &c); err != nil {
			return err
		}
		sd.stale.wrote("customer:"+customer, c.Version, "", time.Now())
		return nil
	case mixPriceChange:
		price := sd.stale.price()
		body, _ := json.Marshal(map[string]any{"priceCents": price})
		var p productAnswer
		if err := sendJSON(ctx, t.client, http.MethodPut, t.writeURL, "/api/v1/products/"+product+"/price", body, http.StatusOK, &p); err != nil {
			return err
		}
		sd.stale.wrote("product:"+product, p.Version, priceValue(price), time.Now())
		return nil
	case mixRestock:
		body, _ := json.Marshal(map[string]any{"quantity": op.value})
		return sendJSON(ctx, t.client, http.MethodPost, t.writeURL, "/api/v1/products/"+product+"/stock", body, http.StatusOK, nil)
	}
	return fmt.Errorf("unknown request kind %d", op.kind)
}

// get reads path from the reading API into out.
func (t mixTarget) get(ctx context.Context, path string, out any) error {
	body, err := getBody(ctx, t.client, t.readURL+path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}

// readProducts reads one product or a page of them and records the prices
// it saw.
func (t mixTarget) readProducts(ctx context.Context, kind mixKind, path string) error {
	var items []productAnswer
	sent := time.Now()
	if kind == mixProduct || kind == mixProductSKU {
		var p productAnswer
		if err := t.get(ctx, path, &p); err != nil {
			return err
		}
		items = []productAnswer{p}
	} else {
		var page struct {
			Items []productAnswer `json:"items"`
		}
		if err := t.get(ctx, path, &page); err != nil {
			return err
		}
		items = page.Items
	}
	seen := make([]seenValue, len(items))
	for i, p := range items {
		seen[i] = seenValue{id: p.ID, value: priceValue(p.PriceCents)}
	}
	t.sd.stale.read(staleRead{kind: kind, phase: t.phase, sent: sent, seen: seen})
	return nil
}

// placeOrder places an order and records the answer.
func (t mixTarget) placeOrder(ctx context.Context, body []byte) (orderAnswer, error) {
	var o orderAnswer
	if err := postJSON(ctx, t.client, t.writeURL, "/api/v1/orders", body, &o); err != nil {
		return o, err
	}
	t.sd.stale.placedOrder(o.CustomerID, o.ID, o.Status, o.Version, o.PlacedAt, time.Now())
	return o, nil
}

// transition pays, ships or cancels an order and records the answer.
func (t mixTarget) transition(ctx context.Context, order, action string) (orderAnswer, error) {
	var o orderAnswer
	if err := sendJSON(ctx, t.client, http.MethodPost, t.writeURL, "/api/v1/orders/"+order+"/"+action, nil, http.StatusOK, &o); err != nil {
		return o, err
	}
	t.sd.stale.wrote("order:"+o.ID, o.Version, o.Status, time.Now())
	return o, nil
}

// warmMix reads every key of the mix once through the API, as a shop that
// has been up for a while has read them: every product's details (by id
// and by SKU), every customer's profile and orders, page one and the public
// catalogue.
func warmMix(ctx context.Context, e *env, client *http.Client, apiURL string, sd *mixSeed) error {
	paths := []string{"/api/v1/products", "/public/products"}
	for i, p := range sd.products {
		paths = append(paths, "/api/v1/products/"+p, "/api/v1/products/by-sku/"+url.PathEscape(sd.skus[i]))
	}
	for _, c := range sd.customers {
		paths = append(paths, "/api/v1/customers/"+c, "/api/v1/customers/"+c+"/orders")
	}
	return runCount(ctx, e.out, "warm every key", len(paths), e.cfg.Clients, func(ctx context.Context, i int) error {
		return getCached(ctx, client, apiURL+paths[i], "")
	})
}

// hitRatio is the share of the family's reads in the window answered from
// the cache; ok is false when none were counted.
func (m *mixRun) hitRatio(family string) (ratio, reads float64, ok bool) {
	c := m.cache[family]
	reads = c["hit"] + c["miss"] + c["stale"]
	if reads == 0 {
		return 0, 0, false
	}
	return c["hit"] / reads, reads, true
}

func (m *mixRun) summary() string {
	s := m.res.summary()
	if !m.queries.available {
		return s
	}
	q, stock := m.queries.split()
	return fmt.Sprintf("%s; %s reads cost %s PostgreSQL queries besides %s live stock reads", s, thousands(float64(m.reads)), thousands(q), thousands(stock))
}

// kindPercentile is the p-quantile latency of kind k in the window.
func (m *mixRun) kindPercentile(k mixKind, p float64) time.Duration {
	lat := slices.Clone(m.byKind[k].latencies)
	slices.Sort(lat)
	return percentile(lat, p)
}

// queryCounter counts the PostgreSQL statements of the API that serves the
// mix's reads, from PostgreSQL's own pg_stat_statements: that API logs in as
// a role of its own, so its statements are told apart from the writing API's,
// the relay's, the projector's and ours without guessing from their text.
type queryCounter struct {
	e         *env
	role      string
	readerURL string
	// unavailable says why pg_stat_statements cannot be read ("" when it can).
	unavailable string
}

// newQueryCounter creates the reading API's role (LOGIN, SELECT on the
// suite's tables) and the pg_stat_statements extension in the suite's
// database. Without the module loaded (shared_preload_libraries, which
// scripts/bench.sh sets) the suite still runs and says so.
func newQueryCounter(ctx context.Context, e *env) (*queryCounter, error) {
	c := &queryCounter{e: e, role: "obench_reader_" + time.Now().Format("20060102_150405")}
	ident := pgx.Identifier{c.role}.Sanitize()
	for _, sql := range []string{
		"CREATE ROLE " + ident + " LOGIN",
		"GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + ident,
	} {
		if _, err := e.db.pool.Exec(ctx, sql); err != nil {
			return nil, errors.Join(fmt.Errorf("reader role: %s: %w", sql, err), c.close())
		}
	}
	var err error
	if c.readerURL, err = withUser(e.db.url, c.role); err != nil {
		return nil, errors.Join(err, c.close())
	}
	if _, err := e.db.pool.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		c.unavailable = err.Error()
	} else if _, err := e.db.pool.Exec(ctx, "SELECT 1 FROM pg_stat_statements LIMIT 1"); err != nil {
		c.unavailable = err.Error()
	}
	if c.unavailable != "" {
		// Nothing to tell apart: the reading API logs in as the others do,
		// which also spares servers that want a password for every role.
		c.readerURL = e.db.url
		e.printf("  PostgreSQL queries will not be counted: %s", c.unavailable)
	}
	return c, nil
}

// close drops the role; its grants live in the suite's database, which
// DROP OWNED clears first.
func (c *queryCounter) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ident := pgx.Identifier{c.role}.Sanitize()
	var errs []error
	for _, sql := range []string{"DROP OWNED BY " + ident, "DROP ROLE " + ident} {
		if _, err := c.e.db.pool.Exec(ctx, sql); err != nil {
			errs = append(errs, fmt.Errorf("drop the reader role: %s: %w", sql, err))
		}
	}
	// A role that was never created leaves nothing to report.
	if len(errs) > 0 && strings.Contains(errors.Join(errs...).Error(), "does not exist") {
		return nil
	}
	return errors.Join(errs...)
}

// queryDelta is calls per normalised statement text.
type queryDelta struct {
	available bool
	calls     map[string]float64
}

// snapshot reads the reader role's calls per statement in the suite's database.
func (c *queryCounter) snapshot(ctx context.Context) (queryDelta, error) {
	if c.unavailable != "" {
		return queryDelta{}, nil
	}
	rows, err := c.e.db.pool.Query(ctx, `SELECT s.query, sum(s.calls)::float8
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND r.rolname = $1
		GROUP BY s.query`, c.role)
	if err != nil {
		return queryDelta{}, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	d := queryDelta{available: true, calls: map[string]float64{}}
	for rows.Next() {
		var q string
		var n float64
		if err := rows.Scan(&q, &n); err != nil {
			rows.Close()
			return queryDelta{}, err
		}
		d.calls[q] += n
	}
	return d, rows.Err()
}

func (d queryDelta) minus(o queryDelta) queryDelta {
	out := queryDelta{available: d.available && o.available, calls: map[string]float64{}}
	for q, n := range d.calls {
		if n -= o.calls[q]; n != 0 {
			out.calls[q] = n
		}
	}
	return out
}

// liveStockQuery identifies the product details' live stock read
// (reads.ProductStock in adapters/postgres): the one read never cached.
const liveStockQuery = "SELECT stock_level, version FROM products WHERE id ="

// split is the statements' calls apart from the live stock reads, and those.
func (d queryDelta) split() (other, stock float64) {
	for q, n := range d.calls {
		if strings.Contains(strings.Join(strings.Fields(q), " "), liveStockQuery) {
			stock += n
		} else {
			other += n
		}
	}
	return other, stock
}

// top lists the n most frequent statements, shortened, with their calls.
func (d queryDelta) top(n int) string {
	type qc struct {
		q string
		n float64
	}
	var all []qc
	for q, c := range d.calls {
		all = append(all, qc{strings.Join(strings.Fields(q), " "), c})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].q < all[j].q })
	var parts []string
	for _, x := range all[:min(n, len(all))] {
		q := x.q
		if len(q) > 90 {
			q = q[:90] + "…"
		}
		parts = append(parts, fmt.Sprintf("%s × `%s`", thousands(x.n), q))
	}
	return strings.Join(parts, "; ")
}

// withUser returns dsn logging in as user instead, without a password (the
// bench servers trust loopback connections).
func withUser(dsn, user string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("database URL: %w", err)
		}
		u.User = url.User(user)
		return u.String(), nil
	}
	// In keyword/value form a later setting wins.
	return dsn + " user=" + user + " password=''", nil
}

// reportMix adds the mix's rows and notes: the cached window against the
// uncached one wherever both have the figure.
func reportMix(e *env, r *Report, sd *mixSeed, cached, uncached *mixRun, mr *mixRate, counter *queryCounter) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	specs := mixSpecs()
	rate := mr.perSecond
	if mr.max != nil {
		r.add(figure("mix: open-loop rate, half the closed-loop maximum of the uncached mix", rate, "req/s").
			against(figure(fmt.Sprintf("ORDERFLOW_CACHE=false, %d clients, %s", mr.max.Clients, e.cfg.Calibration()), mr.max.Rate(), "req/s")))
	}
	r.add(
		figure("mix (cached): requests answered per second", cached.res.Rate(), "req/s").against(figure("scheduled", rate, "req/s")),
		figure("mix (ORDERFLOW_CACHE=false): requests answered per second", uncached.res.Rate(), "req/s").against(figure("scheduled", rate, "req/s")),
	)
	for _, s := range specs {
		if s.write {
			continue
		}
		if ratio, reads, ok := cached.hitRatio(s.family); ok {
			r.add(figure(fmt.Sprintf("mix hit ratio, %s (family %s, %s reads)", s.name, s.family, thousands(reads)), 100*ratio, "%").goal("value", ">=", 99))
		} else {
			r.add(figure(fmt.Sprintf("mix hit ratio, %s (family %s): no reads counted", s.name, s.family), 0, "%").goal("value", ">=", 99))
		}
	}
	if cached.queries.available && uncached.queries.available {
		per100 := func(m *mixRun) (float64, float64) {
			q, stock := m.queries.split()
			return 100 * q / float64(max(m.reads, 1)), 100 * stock / float64(max(m.reads, 1))
		}
		cq, cs := per100(cached)
		uq, us := per100(uncached)
		r.add(
			figure("mix: PostgreSQL queries, live stock excluded (cached)", cq, perHundredReads).against(figure("ORDERFLOW_CACHE=false", uq, perHundredReads)),
			figure("mix: live stock queries (cached)", cs, perHundredReads).against(figure("ORDERFLOW_CACHE=false", us, perHundredReads)),
		)
	}
	r.add(
		figure("mix p50, all requests, from the scheduled start (cached)", ms(cached.res.Percentile(0.50)), "ms").against(figure("ORDERFLOW_CACHE=false", ms(uncached.res.Percentile(0.50)), "ms")),
		figure("mix p99, all requests, from the scheduled start (cached)", ms(cached.res.Percentile(0.99)), "ms").against(figure("ORDERFLOW_CACHE=false", ms(uncached.res.Percentile(0.99)), "ms")),
		figure("mix p99, reads (cached)", ms(percentile(readLatencies(cached), 0.99)), "ms").against(figure("ORDERFLOW_CACHE=false", ms(percentile(readLatencies(uncached), 0.99)), "ms")),
		figure("mix p99, writes (cached)", ms(percentile(writeLatencies(cached), 0.99)), "ms").against(figure("ORDERFLOW_CACHE=false", ms(percentile(writeLatencies(uncached), 0.99)), "ms")),
		figure("mix: failed requests (windows and races, cached + uncached)", float64(cached.res.Failed+uncached.res.Failed+cached.race.Failed+uncached.race.Failed), "").correct(0),
		figure("mix: orderflow-api (reads) CPU per read (cached)", float64(cached.readerCPU)/float64(time.Microsecond)/float64(max(cached.reads, 1)), "µs").
			against(figure("ORDERFLOW_CACHE=false", float64(uncached.readerCPU)/float64(time.Microsecond)/float64(max(uncached.reads, 1)), "µs")),
		figure("mix: load generator CPU, share of the machine (cached)", 100*cached.res.CPUShare(), "%").against(figure("machine busy", 100*cached.res.Machine.Busy(), "%")),
		figure("mix: load generator CPU, share of the machine (ORDERFLOW_CACHE=false)", 100*uncached.res.CPUShare(), "%").against(figure("machine busy", 100*uncached.res.Machine.Busy(), "%")),
		figure("mix: generator's start lag behind its schedule, worst (cached)", ms(cached.res.MaxLate), "ms").against(figure("ORDERFLOW_CACHE=false", ms(uncached.res.MaxLate), "ms")),
	)

	var uncachedStale int
	for k, s := range specs {
		if s.write {
			continue
		}
		c, u := cached.staleTotal(mixKind(k)), uncached.staleTotal(mixKind(k))
		uncachedStale += u.stale
		r.add(figure(fmt.Sprintf("mix: stale reads, %s (family %s; %s of %s reads judged, window and race)", s.name, s.family, thousands(float64(c.judged)), thousands(float64(c.reads))),
			float64(c.stale), "").against(figure("ORDERFLOW_CACHE=false", float64(u.stale), "")).correct(0))
	}
	r.add(figure("mix: stale reads with ORDERFLOW_CACHE=false, every family (the check's control)", float64(uncachedStale), "").correct(0))

	r.note("Seed: %s products (stock %s each), %s customers and %s orders (%d per customer, 1–3 lines), %s events written through the store in transactions of %d products by %d builders in %s while bin/orderflow-relay published them; one `orderflow-projector run` started at the streams' end and ran throughout.",
		thousands(float64(len(sd.products))), thousands(float64(e.cfg.ProductStock)), thousands(float64(len(sd.customers))), thousands(float64(sd.orders)), mixSeedOrders,
		thousands(float64(sd.events)), mixSeedChunk, mixedBuilders, sd.took.Round(time.Millisecond))
	r.note("Blend (per request): %s. Products and customers are drawn by Zipf (s = 1.1, v = 1) over a shuffled ranking; an order takes 1–3 distinct Zipf-drawn products. Reads go to one API process, writes to another (as two replicas behind a balancer), both on the same Redis prefix; anonymous routes (product GETs, /public/products) are sent without a token, the others with an admin bearer token.",
		mixBlend())
	r.note("Open loop: %s requests scheduled at a fixed %s/s for %s per mode, each on its own goroutine at its time whatever the ones before it do; latency runs from the scheduled start to the answer, so a stall counts against every request scheduled during it (no coordinated omission). Both modes replay the very same request sequence. Before each window, the cached API read every key once (%s GETs), then both modes ran %s of the mix (another sequence) unmeasured. ORDERFLOW_CACHE=false (reads and writes APIs both uncached) first, then cached, one after the other.",
		thousands(float64(cached.res.Sent)), thousands(rate), e.cfg.Mix(),
		thousands(float64(2+2*len(sd.products)+2*len(sd.customers))), e.cfg.MixWarmup())
	r.note("Hit ratio: the reading API's orderflow_cache_reads_total over the window (scraped before and after, the warm-up left out): hit ÷ (hit + miss + stale) per family; `output` is the public catalogue's output cache. PostgreSQL loads in the window by family: %s. A read while the API's Redis circuit breaker is open (3 Redis failures or 100 ms timeouts in a row that are also half the calls of the last second) is a miss whatever Redis holds: the breaker was open in %d of %d samples of orderflow_cache_breaker_open taken every %s during the cached window.",
		loadsText(cached), cached.breaker.open, cached.breaker.taken, breakerSampling)
	if counter.unavailable != "" {
		r.note("PostgreSQL queries were not counted: pg_stat_statements is not available on this server (%s); scripts/bench.sh loads it.", counter.unavailable)
	} else {
		r.note("PostgreSQL queries per 100 reads: the calls of pg_stat_statements (PostgreSQL's own count of executed statements) by the reading API, which logs in as its own role %s, over the window, divided by the reads scheduled in it; the writing API, relay, projector and this tool use another role and are not counted, but every load a write's eviction causes on the reading API is. The live stock read (`%s $1`) is counted apart: product details read it on every request by design. Cached, the statements were: %s. Uncached: %s.",
			counter.role, liveStockQuery, cached.queries.top(8), uncached.queries.top(8))
	}
	var perKind []string
	for k, s := range specs {
		c, u := cached.kindPercentile(mixKind(k), 0.5), uncached.kindPercentile(mixKind(k), 0.5)
		c99, u99 := cached.kindPercentile(mixKind(k), 0.99), uncached.kindPercentile(mixKind(k), 0.99)
		perKind = append(perKind, fmt.Sprintf("%s %s / %s (uncached %s / %s)", s.name,
			c.Round(time.Microsecond), c99.Round(time.Microsecond), u.Round(time.Microsecond), u99.Round(time.Microsecond)))
	}
	r.note("Latency p50 / p99 by request kind, cached (uncached): %s.", strings.Join(perKind, "; "))
	r.note("CPU: the load generator is this process (getrusage, user + system) over the window's wall time × %d CPUs; machine busy is every process (/proc/stat). The reading API used %s and the writing API %s of CPU in the cached window (%s and %s uncached).",
		r.Machine.CPUs, cached.readerCPU.Round(time.Millisecond), cached.writerCPU.Round(time.Millisecond), uncached.readerCPU.Round(time.Millisecond), uncached.writerCPU.Round(time.Millisecond))
	for _, m := range []*mixRun{cached, uncached} {
		for _, ph := range []struct {
			race bool
			res  *loadResult
		}{{false, m.res}, {true, m.race}} {
			if ph.res.Failed > 0 {
				r.note("%s: %d failed (%v); first: %s", m.phase(ph.race), ph.res.Failed, ph.res.ErrorKinds, strings.Join(ph.res.ErrorSamples, " | "))
			}
		}
	}
	r.note("Stale reads: every write records, once its 2xx answer has arrived, the version it produced and the value it set (a price, an order's status); every read records when it was sent and what it showed. A read is judged when a write to what it shows had been answered before it was sent, and stale when it shows a value set by an older version than the newest such write, or leaves out of a customer's order summaries an order whose placement had been answered (unless 100 newer ones crowd it out). Product families compare prices, unique over the suite so that a price names the write that set it (details carry the live version whatever their cached price); page one and the public catalogue compare every listed product written to; profiles compare versions. Times err towards missing a stale read, never inventing one: a read's clock starts before its request is handed to the HTTP client, a write's after its answer was read. After each window, a race of %s: %d closed-loop clients, on %d products of page one and %d customers, send per 100 requests 20 price changes, 4 profile updates, 8 order placements, payments, shipments or cancellations, and 68 reads of every judged kind (cached: %s; uncached: %s). A profile update answered 409 (customers are not locked on load; the answer says to retry) is retried up to %d times: %d such answers cached, %d uncached.",
		e.cfg.MixRace(), e.cfg.Clients, raceProducts, raceCustomers, cached.race.summary(), uncached.race.summary(),
		raceConflictRetries, cached.raceConflicts, uncached.raceConflicts)
	for _, m := range []*mixRun{cached, uncached} {
		for _, race := range []bool{false, true} {
			counts := m.stale
			if race {
				counts = m.raceStale
			}
			text := fmt.Sprintf("Stale reads, %s: %s.", m.phase(race), staleText(counts))
			var samples []string
			if counts != nil {
				for _, c := range counts {
					samples = append(samples, c.samples...)
				}
			}
			if len(samples) > 0 {
				text += " First stale reads: " + strings.Join(samples, "; ") + "."
			}
			r.note("%s", text)
		}
	}
}

// loadsText lists a run's loads per family.
func loadsText(m *mixRun) string {
	var parts []string
	for _, s := range mixSpecs() {
		if s.write {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s", s.family, thousands(m.loads[s.family])))
	}
	return strings.Join(parts, ", ")
}

func readLatencies(m *mixRun) []time.Duration  { return kindLatencies(m, false) }
func writeLatencies(m *mixRun) []time.Duration { return kindLatencies(m, true) }

// kindLatencies merges the latencies of the reads or of the writes, sorted.
func kindLatencies(m *mixRun, writes bool) []time.Duration {
	var out []time.Duration
	for k, s := range mixSpecs() {
		if s.write == writes {
			out = append(out, m.byKind[k].latencies...)
		}
	}
	slices.Sort(out)
	return out
}
