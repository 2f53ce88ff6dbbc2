package main

// One suite per file: the write suite with its phases (append against
// orders, aggregate loads) and their report rows. It passes 400 lines
// because each question it answers needs its own phase; the load runners
// they share live in load.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/cmd/internal/progress"
	"github.com/orderflow/orderflow/domain"
)

// The write suite answers three questions about the write path:
//
//  1. How close does POST /api/v1/orders, through the real API process, come
//     to the cheapest transaction that could record an event and its outbox
//     row on this PostgreSQL (the "bare append" baseline)?
//  2. Does the API stay free of errors under that load?
//  3. Does loading an aggregate stay cheap when its stream is long (snapshots)?
func runWrite(ctx context.Context, e *env, r *Report) error {
	run, err := appendVersusOrders(ctx, e)
	if err != nil {
		return err
	}
	loads, err := aggregateLoads(ctx, e)
	if err != nil {
		return fmt.Errorf("aggregate load: %w", err)
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	bare, orders := run.bare, run.orders
	base := figure("bare append (BEGIN; 2 INSERTs; COMMIT)", bare.Rate(), "tx/s")
	baseP50 := figure("bare append p50", ms(bare.Percentile(0.50)), "ms")
	baseP99 := figure("bare append p99", ms(bare.Percentile(0.99)), "ms")
	short := figure("load product, 10 events (whole transaction, median)", us(loads.shortTx), "µs")
	shortInner := figure("LoadProducts alone, 10 events (median)", us(loads.shortLoad), "µs")
	long := fmt.Sprintf("%s events", thousands(float64(loads.longEvents)))
	r.add(
		base,
		figure("POST /api/v1/orders", orders.Rate(), "orders/s").against(base).goal("ratio", ">=", 0.5),
		figure("POST /api/v1/orders p50", ms(orders.Percentile(0.50)), "ms").against(baseP50),
		figure("POST /api/v1/orders p99", ms(orders.Percentile(0.99)), "ms").against(baseP99),
		figure("POST /api/v1/orders failed (non-201)", float64(orders.Failed), "").correct(0),
		short,
		figure("load product, "+long+" (whole transaction, median)", us(loads.longTx), "µs").against(short).goal("ratio", "<=", 1.5),
		figure("LoadProducts alone, "+long+" (median)", us(loads.longLoad), "µs").against(shortInner),
		figure("orderflow-api start-up to /readyz", ms(run.startup), "ms").goal("value", "<=", 2000),
		figure("orderflow-api peak RSS", run.peakRSS, "MiB").goal("value", "<=", 150),
		figure("load generator CPU, bare append", 100*bare.CPUShare(), "%"),
		figure("load generator CPU, orders", 100*orders.CPUShare(), "%"),
		figure("orderflow-api CPU, orders", 100*cpuShare(run.apiCPU, orders.Wall), "%"),
		figure("machine CPU busy, bare append", 100*bare.Machine.Busy(), "%"),
		figure("machine CPU busy, orders", 100*orders.Machine.Busy(), "%"),
	)

	r.note("Bare append and orders ran in %d alternating rounds (ABBA order) of %s each, so that drift on a shared machine hits both alike; per-round rates are in the log above.",
		e.cfg.Rounds(), e.cfg.Duration()/time.Duration(e.cfg.Rounds()))
	r.note("Bare append: %d clients, %s committed transactions of one 200-byte event row plus one outbox-sized row each (the API's outbox is the events table itself: ADR 0002).",
		bare.Clients, thousands(float64(bare.OK)))
	r.note("Orders: %s placed with %.2f lines on average over %d products and %d customers, %d clients, keep-alive HTTP; the API ran as its own process with a pool of %d connections.",
		thousands(float64(orders.OK)), run.meanLines, e.cfg.SeedProducts, e.cfg.SeedCustomers, orders.Clients, e.cfg.DatabaseConns)
	if orders.Failed > 0 {
		kinds := make([]string, 0, len(orders.ErrorKinds))
		for k, n := range orders.ErrorKinds {
			kinds = append(kinds, fmt.Sprintf("%s × %d", k, n))
		}
		sort.Strings(kinds)
		r.note("Order failures: %s. Distinct answers: %s", strings.Join(kinds, ", "), strings.Join(orders.ErrorSamples, " | "))
	}
	r.note("Aggregate load: %s timed loads of each product, interleaved, within a time budget of %s; the long stream's snapshot is at version %s, so a load folds %s events after it (snapshot every %d events). \"Whole transaction\" is store.Update: BEGIN, lock, load, ROLLBACK.",
		thousands(float64(loads.iterations)), e.cfg.LoadBudget(), thousands(float64(loads.snapshotVersion)), thousands(float64(loads.longEvents-loads.snapshotVersion)), loads.snapshotEvery)
	if folded := loads.longEvents - loads.snapshotVersion; loads.shortTx > 0 && float64(loads.longTx)/float64(loads.shortTx) > 1.5 && folded <= loads.snapshotEvery {
		r.note("The long stream's load is slow although it folds only %d events after its snapshot: its cost grows with the stream's length, not with the events it folds (look at the load query's plan).", folded)
	}
	r.note("CPU shares are of the whole machine (%d CPUs); PostgreSQL and the API share it with the load generator. \"Machine CPU busy\" counts every process (/proc/stat); hypervisor steal was %.0f%% during bare append and %.0f%% during orders.",
		r.Machine.CPUs, 100*bare.Machine.Steal(), 100*orders.Machine.Steal())
	return nil
}

// eventData is an event's data of about 200 bytes, shaped like OrderPlaced.
func eventData(rng *rand.Rand) []byte {
	n := 1 + rng.IntN(200)
	return fmt.Appendf(nil, `{"customerId":"%s","currency":"EUR","lines":[{"productId":"%s","sku":"BENCH-%05d","name":"Bench product %d","quantity":1,"unitPriceCents":%d}]}`,
		uuid.New(), uuid.New(), n, n, 100+rng.IntN(10_000))
}

// timedRun is what the bare-append and order phases measured.
type timedRun struct {
	bare, orders *loadResult
	startup      time.Duration
	peakRSS      float64 // MiB
	apiCPU       time.Duration
	meanLines    float64
}

// appendVersusOrders measures the floor of the write path on this server and
// the real thing, in alternating rounds:
//
//   - bare append: clients running BEGIN; INSERT an event row; INSERT an
//     outbox row; COMMIT through a pool the size of the API's;
//   - orders: the API started as its own process and seeded through HTTP,
//     clients placing orders of 1 to 3 lines.
func appendVersusOrders(ctx context.Context, e *env) (run *timedRun, err error) {
	pool := e.db.pool
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_outbox (id bigserial PRIMARY KEY, payload jsonb NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create bench_outbox: %w", err)
	}
	api, err := startAPI(ctx, e, "orderflow-api")
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := api.Stop(stopWithin); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()
	e.printf("orderflow-api %s ready in %s", api.URL(), api.Startup().Round(time.Millisecond))
	client := e.apiClient(e.cfg.Clients)
	defer client.CloseIdleConnections()
	products, customers, err := seed(ctx, e, client, api.URL())
	if err != nil {
		return nil, err
	}

	bareAppend := func(ctx context.Context, _ int, rng *rand.Rand) error {
		data := eventData(rng)
		metadata := fmt.Appendf(nil, `{"correlationId":"%s"}`, uuid.New())
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO events (event_id, stream_type, stream_id, version, event_type, schema_version, data, metadata, occurred_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				uuid.Must(uuid.NewV7()), domain.OrderAggregate, uuid.Must(uuid.NewV7()), 1, "OrderPlaced", 1, data, metadata, time.Now().UTC()); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO bench_outbox (payload) VALUES ($1)`, data)
			return err
		})
	}
	lines := make([]int, e.cfg.Clients) // per client, so no locking
	placeOrder := func(ctx context.Context, worker int, rng *rand.Rand) error {
		body, n := orderBody(rng, products, customers)
		if err := postJSON(ctx, client, api.URL(), "/api/v1/orders", body, nil); err != nil {
			return err
		}
		lines[worker] += n
		return nil
	}

	rounds := e.cfg.Rounds()
	slice := e.cfg.Duration() / time.Duration(rounds)
	e.printf("%d clients, %d rounds of %s each of bare append (BEGIN; INSERT INTO events; INSERT INTO bench_outbox; COMMIT) and POST /api/v1/orders",
		e.cfg.Clients, rounds, slice)
	run = &timedRun{startup: api.Startup()}
	for i := range rounds {
		bareFirst := i%2 == 0
		for _, bare := range []bool{bareFirst, !bareFirst} {
			if bare {
				res, err := runClosedLoop(ctx, e.out, fmt.Sprintf("bare append %d/%d", i+1, rounds), e.cfg.Clients, slice, e.cfg.ProgressPeriod, bareAppend)
				if err != nil {
					return nil, err
				}
				run.bare = run.bare.merge(res)
				continue
			}
			cpu0, err0 := api.CPU()
			res, err := runClosedLoop(ctx, e.out, fmt.Sprintf("orders %d/%d", i+1, rounds), e.cfg.Clients, slice, e.cfg.ProgressPeriod, placeOrder)
			if err != nil {
				return nil, err
			}
			cpu1, err1 := api.CPU()
			if err := errors.Join(err0, err1); err != nil {
				return nil, fmt.Errorf("orderflow-api CPU time: %w", err)
			}
			run.apiCPU += cpu1 - cpu0
			run.orders = run.orders.merge(res)
		}
	}
	e.printf("  bare append: %s", run.bare.summary())
	e.printf("  orders: %s", run.orders.summary())
	for i, s := range run.orders.ErrorSamples {
		e.printf("  order failure %d: %s", i+1, s)
	}
	if run.peakRSS, err = api.PeakRSS(); err != nil {
		return nil, fmt.Errorf("orderflow-api memory: %w", err)
	}
	total := 0
	for _, n := range lines {
		total += n
	}
	run.meanLines = float64(total) / float64(max(run.orders.OK, 1))
	if _, err := pool.Exec(ctx, `DROP TABLE bench_outbox`); err != nil {
		return nil, fmt.Errorf("drop bench_outbox: %w", err)
	}
	return run, nil
}

// seed creates the products and customers through the API, as clients
// would, and returns their ids.
func seed(ctx context.Context, e *env, client *http.Client, baseURL string) (products, customers []string, err error) {
	type created struct {
		ID string `json:"id"`
	}
	products = make([]string, e.cfg.SeedProducts)
	err = runCount(ctx, e.out, "seed products", len(products), e.cfg.Clients, func(ctx context.Context, i int) error {
		body, _ := json.Marshal(map[string]any{
			"sku":          fmt.Sprintf("BENCH-%05d", i+1),
			"name":         fmt.Sprintf("Bench product %d", i+1),
			"description":  "Created by orderflow-bench.",
			"priceCents":   100 + (i*37)%10_000,
			"currency":     "EUR",
			"initialStock": e.cfg.ProductStock,
		})
		var p created
		if err := postJSON(ctx, client, baseURL, "/api/v1/products", body, &p); err != nil {
			return err
		}
		products[i] = p.ID
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	customers = make([]string, e.cfg.SeedCustomers)
	err = runCount(ctx, e.out, "seed customers", len(customers), e.cfg.Clients, func(ctx context.Context, i int) error {
		body, _ := json.Marshal(map[string]any{
			"email": fmt.Sprintf("bench%05d@example.com", i+1),
			"name":  fmt.Sprintf("Bench Customer %d", i+1),
		})
		var c created
		if err := postJSON(ctx, client, baseURL, "/api/v1/customers", body, &c); err != nil {
			return err
		}
		customers[i] = c.ID
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return products, customers, nil
}

// orderBody is a POST /api/v1/orders body of 1 to 3 lines on distinct
// products, each of quantity 1, for a random customer.
func orderBody(rng *rand.Rand, products, customers []string) ([]byte, int) {
	type line struct {
		ProductID string `json:"productId"`
		Quantity  int    `json:"quantity"`
	}
	n := 1 + rng.IntN(3)
	picked := make([]int, 0, n)
	for len(picked) < n {
		if i := rng.IntN(len(products)); !slices.Contains(picked, i) {
			picked = append(picked, i)
		}
	}
	lines := make([]line, n)
	for k, i := range picked {
		lines[k] = line{ProductID: products[i], Quantity: 1}
	}
	body, _ := json.Marshal(struct {
		CustomerID string `json:"customerId"`
		Lines      []line `json:"lines"`
	}{customers[rng.IntN(len(customers))], lines})
	return body, n
}

// loadCost is what the aggregate-load phase measured (medians).
type loadCost struct {
	longEvents, snapshotVersion, snapshotEvery int64
	iterations                                 int
	shortTx, longTx, shortLoad, longLoad       time.Duration
}

// aggregateLoads builds a product with 10 events and one with a long stream
// through the real store (so snapshots are written as in production), then
// times loading each, interleaved so that drift affects both alike.
func aggregateLoads(ctx context.Context, e *env) (*loadCost, error) {
	store := postgres.NewStore(e.db.pool)
	const shortEvents = 10
	longEvents := e.cfg.LongStream()
	e.printf("aggregate load, building a %d-event and a %s-event product stream", shortEvents, thousands(float64(longEvents)))

	shortID := uuid.Must(uuid.NewV7()).String()
	err := store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
		p, err := domain.CreateProduct(shortID, "BENCH-SHORT", "Short stream", "Ten events.", 1000, "EUR", 0)
		if err != nil {
			return err
		}
		for range shortEvents - 1 {
			if err := p.AddStock(1); err != nil {
				return err
			}
		}
		_, err = tx.Save(ctx, p)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("short stream: %w", err)
	}

	longID := uuid.Must(uuid.NewV7()).String()
	p := progress.New(e.out, progress.Config{Label: "  long stream", Total: int64(longEvents), Unit: "events"})
	defer func() { p.Stop() }()
	for chunk := range longEvents / longStreamChunk {
		err := store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			var prod *domain.Product
			restocks := longStreamChunk
			if chunk == 0 {
				created, err := domain.CreateProduct(longID, "BENCH-LONG", "Long stream", "Restocked one unit at a time.", 1000, "EUR", 0)
				if err != nil {
					return err
				}
				prod, restocks = created, longStreamChunk-1
			} else {
				loaded, err := tx.LoadProducts(ctx, longID)
				if err != nil {
					return err
				}
				prod = loaded[longID]
			}
			for range restocks {
				if err := prod.AddStock(1); err != nil {
					return err
				}
			}
			_, err := tx.Save(ctx, prod)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("long stream at chunk %d: %w", chunk+1, err)
		}
		p.Add(longStreamChunk)
	}
	p.Done()

	cost := &loadCost{longEvents: int64(longEvents), snapshotEvery: store.SnapshotEvery, iterations: e.cfg.LoadIterations()}
	err = e.db.pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM snapshots WHERE stream_id = $1`, longID).Scan(&cost.snapshotVersion)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}

	// rolledBack ends each timed transaction without writing anything.
	rolledBack := errors.New("roll back")
	load := func(id string, version int64) (whole, inner time.Duration, err error) {
		start := time.Now()
		err = store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			t := time.Now()
			ps, err := tx.LoadProducts(ctx, id)
			inner = time.Since(t)
			if err != nil {
				return err
			}
			if v := ps[id].Version(); v != version {
				return fmt.Errorf("product %s loaded at version %d, want %d", id, v, version)
			}
			return rolledBack
		})
		whole = time.Since(start)
		if errors.Is(err, rolledBack) {
			err = nil
		}
		return whole, inner, err
	}

	n, budget := cost.iterations, e.cfg.LoadBudget()
	const minPairs = 20 // below this a median says little
	warmup := min(50, max(n/10, 1))
	e.printf("timing %s loads of each product (after %d warm-up loads), interleaved, within %s", thousands(float64(n)), warmup, budget)
	var shortTx, longTx, shortLoad, longLoad []time.Duration
	p = progress.New(e.out, progress.Config{Label: "  loads", Total: int64(n), Unit: "pairs"})
	var timing time.Time
	for i := -warmup; i < n; i++ {
		if i == 0 {
			timing = time.Now()
		}
		if i >= minPairs && time.Since(timing) > budget {
			p.Stop()
			e.printf("  loads: time budget of %s used up after %s pairs (--load-budget)", budget, thousands(float64(i)))
			cost.iterations = i
			break
		}
		// Alternate which product goes first, so neither always follows the other.
		order := []bool{i%2 == 0, i%2 != 0}
		for _, isShort := range order {
			id, version := longID, int64(longEvents)
			if isShort {
				id, version = shortID, shortEvents
			}
			whole, inner, err := load(id, version)
			if err != nil {
				return nil, err
			}
			if i < 0 {
				continue
			}
			if isShort {
				shortTx, shortLoad = append(shortTx, whole), append(shortLoad, inner)
			} else {
				longTx, longLoad = append(longTx, whole), append(longLoad, inner)
			}
		}
		if i >= 0 {
			p.Add(1)
		}
	}
	p.Done()
	cost.shortTx, cost.longTx = median(shortTx), median(longTx)
	cost.shortLoad, cost.longLoad = median(shortLoad), median(longLoad)
	e.printf("  medians: short %s (load %s), long %s (load %s)", cost.shortTx.Round(time.Microsecond), cost.shortLoad.Round(time.Microsecond),
		cost.longTx.Round(time.Microsecond), cost.longLoad.Round(time.Microsecond))
	return cost, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
