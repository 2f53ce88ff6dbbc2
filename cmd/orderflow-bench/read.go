package main

// One suite per file: the read suite with its phases (warm, cached against
// uncached, stampedes) and their report rows; past 400 lines because each
// phase measures one question of the suite and they share its set-up.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// The read suite answers the questions of the "Cached reads" issue:
//
//  1. Does a cached GET through the real API come close to the cheapest
//     server that could answer it on this machine: an Echo handler doing one
//     Redis GET (or, for a product with its live stock, one primary-key read
//     from PostgreSQL)?
//  2. How much does caching buy over the same API reading PostgreSQL?
//  3. Does a cold key read by many clients of two API processes at once cost
//     PostgreSQL one load, where naive cache-aside costs many?
func runRead(ctx context.Context, e *env, r *Report) (err error) {
	var procs []*process.Process
	defer func() {
		for _, p := range procs {
			err = errors.Join(err, p.Stop(stopWithin))
		}
	}()
	start := func(label string, env ...string) (*process.Process, error) {
		p, err := startAPI(ctx, e, label, env...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		e.printf("%s %s ready in %s", label, p.URL(), p.Startup().Round(time.Millisecond))
		return p, nil
	}
	cached, err := start("orderflow-api (cached)")
	if err != nil {
		return err
	}
	second, err := start("orderflow-api (second, cached)")
	if err != nil {
		return err
	}
	uncached, err := start("orderflow-api (ORDERFLOW_CACHE=false)", "ORDERFLOW_CACHE=false")
	if err != nil {
		return err
	}
	near, err := start("orderflow-api (cached, ORDERFLOW_NEAR_CACHE=true)", "ORDERFLOW_NEAR_CACHE=true")
	if err != nil {
		return err
	}
	client := e.apiClient(e.cfg.Clients)
	defer client.CloseIdleConnections()
	// The public catalogue is output-cached for anonymous requests only.
	anonymous := newHTTPClient(e.cfg.Clients)
	defer anonymous.CloseIdleConnections()
	products, customers, err := seed(ctx, e, client, cached.URL())
	if err != nil {
		return err
	}
	// The baselines are not among procs: their memory and start-up are
	// not the API's, and the report's rows of those are the API's.
	base, err := startBaselines(ctx, e)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, base.Stop(stopWithin)) }()
	e.printf("baselines %s ready in %s, a process of their own like the API", base.URL(), base.Startup().Round(time.Millisecond))

	sizes, err := warmReads(ctx, e, client, cached.URL(), products, customers)
	if err != nil {
		return fmt.Errorf("warm the cache: %w", err)
	}

	// The near cache keeps what its process read from Redis: one read of
	// each key fills it.
	if err := warmNear(ctx, e, client, near.URL(), customers); err != nil {
		return fmt.Errorf("warm the near cache: %w", err)
	}
	if err := warmPublic(ctx, anonymous, cached.URL()); err != nil {
		return fmt.Errorf("warm the output cache: %w", err)
	}
	phases := readPhases(client, anonymous, base, cached, uncached, near, products, customers)
	rounds := e.cfg.Rounds()
	slice := e.cfg.Duration() / time.Duration(rounds)
	e.printf("%d clients, %d rounds of %s for each of %d phases, in reversed order every other round", e.cfg.Clients, rounds, slice, len(phases))
	profiled := profileCPU(ctx, e, client, cached, time.Duration(rounds)*slice*time.Duration(len(phases)))
	for i := range rounds {
		order := make([]*readPhase, len(phases))
		copy(order, phases)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		for _, ph := range order {
			cpu0, err0 := ph.cpu()
			res, err := runClosedLoop(ctx, e.out, fmt.Sprintf("%s %d/%d", ph.name, i+1, rounds), e.cfg.Clients, slice, e.cfg.ProgressPeriod, ph.do)
			if err != nil {
				return err
			}
			cpu1, err1 := ph.cpu()
			if err := errors.Join(err0, err1); err != nil {
				return fmt.Errorf("%s CPU time: %w", ph.name, err)
			}
			ph.apiCPU += cpu1 - cpu0
			ph.res = ph.res.merge(res)
		}
	}
	for _, ph := range phases {
		e.printf("  %s: %s", ph.name, ph.res.summary())
	}
	if err := profiled(); err != nil {
		return err
	}

	st, err := runStampedes(ctx, e, cached, second, client)
	if err != nil {
		return fmt.Errorf("stampede: %w", err)
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rate := func(ph *readPhase, unit string) Row { return figure(ph.label, ph.res.Rate(), unit) }
	p50 := func(ph *readPhase) Row { return figure(ph.label+" p50", ms(ph.res.Percentile(0.50)), "ms") }
	p99 := func(ph *readPhase) Row { return figure(ph.label+" p99", ms(ph.res.Percentile(0.99)), "ms") }
	byName := map[string]*readPhase{}
	for _, ph := range phases {
		byName[ph.name] = ph
	}
	bare, redisCustomer, apiCustomer := byName["bare echo"], byName["echo+redis customer"], byName["api customer"]
	redisList, apiList, pgProduct := byName["echo+redis list"], byName["api list"], byName["echo+pgx product"]
	apiProduct, uncachedList := byName["api product"], byName["api list uncached"]

	bareRow := rate(bare, "req/s")
	r.add(bareRow, p50(bare), p99(bare))
	// The CPU a request cost the process serving it: the API's against
	// the baseline's, each in its own process.
	cpu := func(ph *readPhase, whose string) Row {
		return figure(ph.label+": "+whose+" CPU per request", float64(ph.apiCPU)/float64(time.Microsecond)/float64(max(ph.res.OK, 1)), "µs")
	}
	pair := func(base, work *readPhase, goal float64) {
		b := rate(base, "req/s")
		r.add(
			b.against(bareRow),
			rate(work, "req/s").against(b).goal("ratio", ">=", goal),
			p50(work).against(p50(base)),
			p99(work).against(p99(base)),
		)
	}
	pair(redisCustomer, apiCustomer, 0.9)
	pair(redisList, apiList, 0.9)
	pair(pgProduct, apiProduct, 0.8)
	pair(redisList, byName["api public"], 0.9)
	pair(redisCustomer, byName["api customer near"], 1.0)
	pair(redisList, byName["api list near"], 1.0)
	pair(redisCustomer, byName["api customer max-stale"], 1.5)
	pair(redisList, byName["api list max-stale"], 1.5)
	uncachedRow := rate(uncachedList, "req/s")
	r.add(
		uncachedRow,
		figure("GET /api/v1/products page one, cached ÷ uncached", apiList.res.Rate(), "req/s").against(uncachedRow).goal("ratio", ">=", 3),
		p50(uncachedList).against(p50(apiList)),
		p99(uncachedList).against(p99(apiList)),
	)
	// A MISS where a HIT was due is a correct answer the cache failed to
	// give (a Redis call past its timeout falls back to PostgreSQL, which a
	// busy shared machine can cause): reported, but not a failed request.
	failures, notHit := 0, 0
	for _, ph := range phases {
		failures += ph.res.Failed
		for kind, n := range ph.res.ErrorKinds {
			if strings.HasPrefix(kind, "X-Cache ") {
				notHit += n
			}
		}
	}
	r.add(
		figure("failed (non-200)", float64(failures-notHit), "").correct(0),
		figure("answered 200 but not X-Cache HIT where cached", float64(notHit), "").goal("value", "==", 0),
	)

	naiveRow := figure(fmt.Sprintf("naive cache-aside (SET NX lock, losers fall through): PostgreSQL loads per cold key, mean of %d", len(st.naiveLoads)), mean(st.naiveLoads), "")
	r.add(
		naiveRow,
		figure(fmt.Sprintf("stampede, %s GETs over 2 APIs: PostgreSQL loads per cold key, worst of %d", thousands(float64(e.cfg.StampedeGets)), len(st.loads)),
			slices.Max(st.loads), "").against(naiveRow).correct(1),
		figure("stampede: all GETs answered, cold key (mean)", ms(meanDuration(st.coldWall)), "ms").against(figure("warm key", ms(meanDuration(st.warmWall)), "ms")),
		figure("stampede: p99 of a GET, cold key", ms(st.cold.Percentile(0.99)), "ms").against(figure("warm key", ms(st.warm.Percentile(0.99)), "ms")),
		figure("stampede: answers other than 200", float64(st.cold.Failed+st.warm.Failed), "").correct(0),
		figure(fmt.Sprintf("stampede: PostgreSQL loads during the %d bursts on a warm key (Redis failures fall back)", len(st.loads)), st.warmLoads, ""),
	)
	var startup time.Duration
	for _, p := range procs {
		startup = max(startup, p.Startup())
	}
	r.add(figure(fmt.Sprintf("orderflow-api start-up to /readyz (slowest of %d)", len(procs)), ms(startup), "ms").goal("value", "<=", 2000))
	for _, p := range procs {
		rss, err := p.PeakRSS()
		if err != nil {
			return fmt.Errorf("%s memory: %w", p.Name, err)
		}
		r.add(figure(p.Name+" peak RSS", rss, "MiB").goal("value", "<=", 150))
	}
	for _, ph := range []*readPhase{bare, redisCustomer, redisList, pgProduct} {
		r.add(cpu(ph, "baseline process"))
	}
	for _, w := range []struct {
		work, base *readPhase
		goal       float64
	}{
		{apiCustomer, redisCustomer, 60}, {apiList, redisList, 60}, {apiProduct, pgProduct, 0},
		{uncachedList, redisList, 0}, {byName["api public"], redisList, 0},
		{byName["api customer near"], redisCustomer, 60}, {byName["api list near"], redisList, 60},
		{byName["api customer max-stale"], redisCustomer, 60}, {byName["api list max-stale"], redisList, 60},
	} {
		row := cpu(w.work, "orderflow-api").against(cpu(w.base, "baseline process"))
		if w.goal > 0 {
			row = row.goal("value", "<=", w.goal)
		}
		r.add(row)
	}
	for _, ph := range phases {
		r.add(figure(ph.label+": machine CPU busy", 100*ph.res.Machine.Busy(), "%"))
	}

	r.note("Every phase ran in %d rounds of %s, the phases in one order and then the reverse (ABBA), %d closed-loop clients over keep-alive HTTP; the Echo baselines and each API run as processes of their own on 127.0.0.1, beside the load generator's. Per-round rates are in the log above.",
		rounds, slice, e.cfg.Clients)
	r.note("Echo + Redis GET serves the very bytes the API answers (copied from it): a customer of %d bytes, page one of %d bytes (%d of %d products); Echo + pgx reads the product row by primary key and encodes it as JSON (%d bytes from the API).",
		sizes.customer, sizes.list, min(20, len(products)), len(products), sizes.product)
	r.note("GET /api/v1/products/{id} reads the cached details from Redis and the live stock from PostgreSQL, two round trips where the Echo + pgx baseline makes one.")
	r.note("Stampede: a product created just before (its key holds the creation's tombstone, so it is cold), %s concurrent GETs released at once over 2 API processes (pre-connected keep-alive connections); loads are the sum of orderflow_cache_loads_total{family=\"product\"} over both /metrics, before and after. The naive variant runs in this process with one go-redis client of default pool size: %s goroutines GET the key; on a miss, SET NX a lock, then read PostgreSQL whether or not they got it; the holder writes the value. Warm-key figures repeat the cold GETs right after, on the same key.",
		thousands(float64(e.cfg.StampedeGets)), thousands(float64(e.cfg.StampedeGets)))
	r.note("Stampede loads per key: %v (naive: %v). A load during a burst on a warm key means the API's Redis read failed (with 500 requests at once per process: its go-redis pool of 10 connections per CPU, 100 ms timeouts, then the circuit breaker) and PostgreSQL answered instead.", st.loads, st.naiveLoads)
	r.note("CPU per request is the serving process's CPU time (user + system, from /proc) over the phase, divided by its answers: the API's, and the baselines' own for the same read. Until 2026-12-08 the baselines ran inside the load generator's process, where they shared its Go scheduler and made no switches between processes; the API did, so its ratios also measured the process topology.")
	for _, ph := range phases {
		if ph.res.Failed > 0 {
			r.note("%s: %d failed (%v); first: %s", ph.label, ph.res.Failed, ph.res.ErrorKinds, strings.Join(ph.res.ErrorSamples, " | "))
		}
	}
	return nil
}

// readPhase is one closed-loop phase of the read suite.
type readPhase struct {
	name  string // short, for progress lines
	label string // the table's figure
	do    op
	// proc is the process serving it: an API, or the baselines.
	proc   *process.Process
	res    *loadResult
	apiCPU time.Duration
}

// cpu is the serving process's CPU time so far.
func (ph *readPhase) cpu() (time.Duration, error) { return ph.proc.CPU() }

// readPhases lists the phases in the order of a round: each baseline next to
// the workload it is compared with.
func readPhases(client, anonymous *http.Client, base, cached, uncached, near *process.Process, products, customers []string) []*readPhase {
	anyOf := func(rng *rand.Rand, ids []string) string { return ids[rng.IntN(len(ids))] }
	return []*readPhase{
		{name: "bare echo", label: "bare Echo handler (baseline)", proc: base, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCached(ctx, client, base.URL()+"/bare", "")
		}},
		{name: "echo+redis customer", label: "Echo + one Redis GET, a customer's body", proc: base, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCached(ctx, client, base.URL()+"/redis/customers:"+anyOf(rng, customers), "")
		}},
		{name: "api customer", label: "GET /api/v1/customers/{id} (cached)", proc: cached, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCached(ctx, client, cached.URL()+"/api/v1/customers/"+anyOf(rng, customers), "HIT")
		}},
		{name: "echo+redis list", label: "Echo + one Redis GET, page one's body", proc: base, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCached(ctx, client, base.URL()+"/redis/products:list", "")
		}},
		{name: "api list", label: "GET /api/v1/products page one (cached)", proc: cached, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCached(ctx, client, cached.URL()+"/api/v1/products", "HIT")
		}},
		{name: "echo+pgx product", label: "Echo + one pgx primary-key read of a product", proc: base, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCached(ctx, client, base.URL()+"/pg/products/"+anyOf(rng, products), "")
		}},
		{name: "api product", label: "GET /api/v1/products/{id} (details cached, stock live)", proc: cached, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCached(ctx, client, cached.URL()+"/api/v1/products/"+anyOf(rng, products), "HIT")
		}},
		{name: "api public", label: "GET /public/products, anonymous (output cache)", proc: cached, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCached(ctx, anonymous, cached.URL()+"/public/products", "HIT")
		}},
		{name: "api customer near", label: "GET /api/v1/customers/{id} (near cache, version confirmed in Redis)", proc: near, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCached(ctx, client, near.URL()+"/api/v1/customers/"+anyOf(rng, customers), "HIT")
		}},
		{name: "api list near", label: "GET /api/v1/products page one (near cache, version confirmed in Redis)", proc: near, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCached(ctx, client, near.URL()+"/api/v1/products", "HIT")
		}},
		{name: "api customer max-stale", label: "GET /api/v1/customers/{id}, Cache-Control: max-stale=600 (near cache, no Redis)", proc: near, do: func(ctx context.Context, _ int, rng *rand.Rand) error {
			return getCachedWith(ctx, client, near.URL()+"/api/v1/customers/"+anyOf(rng, customers), "HIT-L1", "max-stale=600")
		}},
		{name: "api list max-stale", label: "GET /api/v1/products page one, Cache-Control: max-stale=600 (near cache, no Redis)", proc: near, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			return getCachedWith(ctx, client, near.URL()+"/api/v1/products", "HIT-L1", "max-stale=600")
		}},
		{name: "api list uncached", label: "GET /api/v1/products page one, ORDERFLOW_CACHE=false", proc: uncached, do: func(ctx context.Context, _ int, _ *rand.Rand) error {
			// The uncached API answers X-Cache MISS: nothing is cached.
			return getCached(ctx, client, uncached.URL()+"/api/v1/products", "")
		}},
	}
}

// bodySizes are the sizes of the answers the baselines imitate.
type bodySizes struct{ customer, list, product int }

// warmReads reads every key of the workloads once through the API, so that
// the timed phases only hit, checks that a second read hits, and copies the
// answers into Redis for the Echo + Redis baseline.
func warmReads(ctx context.Context, e *env, client *http.Client, apiURL string, products, customers []string) (bodySizes, error) {
	var sizes bodySizes
	copyBody := func(name string, body []byte) error {
		return e.redis.Set(ctx, e.keys.Prefix+"bench:"+name, body, time.Hour).Err()
	}
	err := runCount(ctx, e.out, "warm customers", len(customers), e.cfg.Clients, func(ctx context.Context, i int) error {
		url := apiURL + "/api/v1/customers/" + customers[i]
		if _, err := getBody(ctx, client, url); err != nil {
			return err
		}
		if err := getCached(ctx, client, url, "HIT"); err != nil {
			return err
		}
		body, err := getBody(ctx, client, url)
		if err != nil {
			return err
		}
		if i == 0 {
			sizes.customer = len(body)
		}
		return copyBody("customers:"+customers[i], body)
	})
	if err != nil {
		return sizes, err
	}
	err = runCount(ctx, e.out, "warm products", len(products), e.cfg.Clients, func(ctx context.Context, i int) error {
		url := apiURL + "/api/v1/products/" + products[i]
		if _, err := getBody(ctx, client, url); err != nil {
			return err
		}
		body, err := getBody(ctx, client, url)
		if i == 0 {
			sizes.product = len(body)
		}
		return err
	})
	if err != nil {
		return sizes, err
	}
	url := apiURL + "/api/v1/products"
	if _, err := getBody(ctx, client, url); err != nil {
		return sizes, err
	}
	if err := getCached(ctx, client, url, "HIT"); err != nil {
		return sizes, err
	}
	list, err := getBody(ctx, client, url)
	if err != nil {
		return sizes, err
	}
	sizes.list = len(list)
	return sizes, copyBody("products:list", list)
}

// stampedes is what the stampede trials measured.
type stampedes struct {
	loads, naiveLoads []float64
	// warmLoads counts loads during the bursts on warm keys: reads that
	// fell back to PostgreSQL because Redis failed them.
	warmLoads          float64
	coldWall, warmWall []time.Duration
	// cold and warm hold every GET's latency of every trial.
	cold, warm *loadResult
}

// runStampedes alternates trials of the API (cold key, then the same key
// warm) with trials of the naive cache-aside, ABBA, each on a new product.
func runStampedes(ctx context.Context, e *env, a, b *process.Process, client *http.Client) (*stampedes, error) {
	n, keys := e.cfg.StampedeGets, e.cfg.StampedeKeys()
	apis := []*process.Process{a, b}
	// One keep-alive connection per GET, dialled before the trials.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.MaxConnsPerHost = 2*n, n, 0
	t.DisableCompression = true
	sc := &http.Client{Transport: t, Timeout: 30 * time.Second}
	defer sc.CloseIdleConnections()
	if _, err := burst(ctx, n, func(ctx context.Context, i int) error {
		return getCached(ctx, sc, apis[i%2].URL()+"/healthz", "")
	}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	naive, err := redis.ParseURL(e.cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	naiveClient := redis.NewClient(naive) // default options, as the API's but for timeouts
	defer naiveClient.Close()
	if _, err := burst(ctx, 100, func(ctx context.Context, _ int) error { return naiveClient.Ping(ctx).Err() }); err != nil {
		return nil, err
	}

	s := &stampedes{}
	e.printf("stampede: %d trials each of %s GETs of a cold product over 2 APIs, and of naive cache-aside, alternating", keys, thousands(float64(n)))
	for i := range keys {
		apiFirst := i%2 == 0
		for _, api := range []bool{apiFirst, !apiFirst} {
			id, err := createProduct(ctx, client, a.URL(), fmt.Sprintf("STAMPEDE-%d-%t", i, api))
			if err != nil {
				return nil, err
			}
			if !api {
				loads, wall, err := naiveStampede(ctx, e, naiveClient, id, n)
				if err != nil {
					return nil, err
				}
				s.naiveLoads = append(s.naiveLoads, float64(loads))
				e.printf("  naive %d/%d: %d PostgreSQL loads, all answered in %s", i+1, keys, loads, wall.Round(time.Microsecond))
				continue
			}
			before, err := productLoads(ctx, client, apis)
			if err != nil {
				return nil, err
			}
			get := func(ctx context.Context, i int) error {
				return getCached(ctx, sc, apis[i%2].URL()+"/api/v1/products/"+id, "")
			}
			cold, err := burst(ctx, n, get)
			if err != nil {
				return nil, err
			}
			after, err := productLoads(ctx, client, apis)
			if err != nil {
				return nil, err
			}
			warm, err := burst(ctx, n, get)
			if err != nil {
				return nil, err
			}
			afterWarm, err := productLoads(ctx, client, apis)
			if err != nil {
				return nil, err
			}
			s.warmLoads += afterWarm - after
			s.loads = append(s.loads, after-before)
			s.coldWall, s.warmWall = append(s.coldWall, cold.Wall), append(s.warmWall, warm.Wall)
			s.cold, s.warm = s.cold.merge(cold), s.warm.merge(warm)
			e.printf("  API %d/%d: %.0f PostgreSQL loads; cold: all answered in %s (p99 %s, %d failed); warm: %s (p99 %s, %.0f loads)", i+1, keys, after-before,
				cold.Wall.Round(time.Microsecond), cold.Percentile(0.99).Round(time.Microsecond), cold.Failed,
				warm.Wall.Round(time.Microsecond), warm.Percentile(0.99).Round(time.Microsecond), afterWarm-after)
		}
	}
	return s, nil
}

// burst starts n goroutines, releases them at once, and waits for them:
// Wall is from the release to the last answer.
func burst(ctx context.Context, n int, do func(ctx context.Context, i int) error) (*loadResult, error) {
	var (
		ready, done sync.WaitGroup
		release     = make(chan struct{})
		lat         = make([]time.Duration, n)
		errs        = make([]error, n)
	)
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-release
			t := time.Now()
			errs[i] = do(ctx, i)
			lat[i] = time.Since(t)
		}()
	}
	ready.Wait()
	time.Sleep(10 * time.Millisecond) // let every goroutine park on release
	start := time.Now()
	close(release)
	done.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &loadResult{Clients: n, Wall: time.Since(start), ErrorKinds: map[string]int{}}
	for i, err := range errs {
		if err != nil {
			r.Failed++
			r.ErrorKinds["error"]++
			if len(r.ErrorSamples) < maxErrorSamples {
				r.ErrorSamples = append(r.ErrorSamples, err.Error())
			}
			continue
		}
		r.latencies = append(r.latencies, lat[i])
	}
	r.OK = len(r.latencies)
	slices.Sort(r.latencies)
	return r, nil
}

// productLoads sums orderflow_cache_loads_total{family="product"} over the APIs.
func productLoads(ctx context.Context, client *http.Client, apis []*process.Process) (float64, error) {
	var sum float64
	for _, a := range apis {
		fams, err := scrape(ctx, client, a.URL())
		if err != nil {
			return 0, err
		}
		sum += fams.value("orderflow_cache_loads_total", map[string]string{"family": "product"})
	}
	return sum, nil
}

// createProduct creates a product through the API and returns its id.
func createProduct(ctx context.Context, client *http.Client, apiURL, sku string) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"sku": sku, "name": "Stampede " + sku, "description": "Read by many at once.",
		"priceCents": 999, "currency": "EUR", "initialStock": 100,
	})
	var p struct {
		ID string `json:"id"`
	}
	err := postJSON(ctx, client, apiURL, "/api/v1/products", body, &p)
	return p.ID, err
}

// naiveStampede is cache-aside as it is often written: every reader GETs
// the key; on a miss it tries SET NX on a lock and then reads PostgreSQL
// whether or not it got the lock; the lock holder writes the value. It
// returns how many readers read PostgreSQL.
func naiveStampede(ctx context.Context, e *env, rdb *redis.Client, productID string, n int) (int64, time.Duration, error) {
	key := e.keys.Prefix + "bench:naive:products:" + productID
	lock := key + ":lock"
	var loads atomic.Int64
	res, err := burst(ctx, n, func(ctx context.Context, i int) error {
		if err := rdb.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
			return err // a hit, or a failure
		}
		got, err := rdb.SetNX(ctx, lock, fmt.Sprint(i), 3*time.Second).Result()
		if err != nil {
			return err
		}
		loads.Add(1)
		p, err := readProduct(ctx, e.db.pool, productID)
		if err != nil || !got {
			return err
		}
		data, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := rdb.Set(ctx, key, data, 30*time.Minute).Err(); err != nil {
			return err
		}
		return rdb.Del(ctx, lock).Err()
	})
	if err != nil {
		return 0, 0, err
	}
	if res.Failed > 0 {
		return 0, 0, fmt.Errorf("naive stampede: %d failed: %s", res.Failed, strings.Join(res.ErrorSamples, " | "))
	}
	return loads.Load(), res.Wall, nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func meanDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

// profileCPU samples the CPU of api through its /debug/pprof/profile for
// about d (at most the API's 60 s), in the background, when --cpu-profile
// names a file; the returned func waits for the profile and writes it.
func profileCPU(ctx context.Context, e *env, client *http.Client, api *process.Process, d time.Duration) (wait func() error) {
	if e.cfg.CPUProfile == "" {
		return func() error { return nil }
	}
	seconds := min(max(int(d/time.Second), 1), 60)
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", api.URL(), seconds), nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", req.URL.Path, resp.Status)
			}
			f, err := os.Create(e.cfg.CPUProfile)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				return errors.Join(err, f.Close())
			}
			return f.Close()
		}()
	}()
	e.printf("sampling the CPU of %s for %d s into %s", api.Name, seconds, e.cfg.CPUProfile)
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("CPU profile: %w", err)
		}
		e.printf("CPU profile written: go tool pprof -top %s", e.cfg.CPUProfile)
		return nil
	}
}

// warmNear reads every customer and page one through the near-cache API
// twice, so its near cache holds them.
func warmNear(ctx context.Context, e *env, client *http.Client, apiURL string, customers []string) error {
	err := runCount(ctx, e.out, "warm the near cache", len(customers), e.cfg.Clients, func(ctx context.Context, i int) error {
		url := apiURL + "/api/v1/customers/" + customers[i]
		if err := getCached(ctx, client, url, ""); err != nil {
			return err
		}
		return getCachedWith(ctx, client, url, "HIT-L1", "max-stale=600")
	})
	if err != nil {
		return err
	}
	url := apiURL + "/api/v1/products"
	if err := getCached(ctx, client, url, ""); err != nil {
		return err
	}
	return getCachedWith(ctx, client, url, "HIT-L1", "max-stale=600")
}

// warmPublic reads the public catalogue anonymously until the output cache
// answers it.
func warmPublic(ctx context.Context, anonymous *http.Client, apiURL string) error {
	url := apiURL + "/public/products"
	if err := getCached(ctx, anonymous, url, ""); err != nil {
		return err
	}
	return getCached(ctx, anonymous, url, "HIT")
}
