package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/internal/testenv/process"
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
//     ORDERFLOW_CACHE=false,
//  4. how many requests a second the system answers at most, in a closed
//     loop, cached and uncached, and what PostgreSQL spends per 100 reads
//     (mixmax.go), and
//  5. whether any read, in the mix or in a short race of concurrent price
//     changes, orders and reads on page one's products, showed something
//     older than a write answered before it was sent (stale.go; goal 0),
//     and
//  6. whether the near cache keeps that promise across two instances, at
//     what L1 hit share and backplane delay (mixnear.go).
//
// The load of the windows is open-loop at a fixed rate, latency counted
// from each request's scheduled start, so a stall of the system shows in
// the figures instead of slowing the generator down (no coordinated
// omission); only the maximum is a closed loop, as a maximum must be.
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
	pg := newPGServerCPU(ctx, e)
	if pg.unavailable != "" {
		e.printf("  PostgreSQL's CPU will not be measured: %s", pg.unavailable)
	}

	// The uncached mix runs first: unless --mix-rate is given, its
	// closed-loop maximum sets the rate of every window, half of it, so that
	// all compare at a load each sustains instead of one of them drowning.
	rate := &mixRate{perSecond: e.cfg.MixRequestRate()}
	runs := map[mixMode]*mixRun{}
	for _, mode := range []mixMode{mixUncached, mixCached, mixNear} {
		run, err := runMixWindow(ctx, e, mixProbes{counter: counter, pg: pg, relay: relay}, mode, sd, rate)
		if err != nil {
			return err
		}
		runs[mode] = run
		if err := waitProjected(ctx, e, relay); err != nil {
			return err
		}
	}
	runs[mixNear].widenBounded(sd.stale)
	verdicts := sd.stale.judge()
	for _, run := range runs {
		run.stale, run.raceStale = verdicts[run.phase(false)], verdicts[run.phase(true)]
		if run.bounded != nil {
			run.bounded.strict, run.bounded.within = verdicts[run.bounded.label], verdicts[run.bounded.label+boundedSuffix]
		}
	}
	reportMix(e, r, sd, runs[mixCached], runs[mixUncached], runs[mixNear], rate, counter)
	return nil
}

// mixMode is how the two APIs of a window of the mix run.
type mixMode int

const (
	// mixUncached runs both APIs with ORDERFLOW_CACHE=false.
	mixUncached mixMode = iota
	// mixCached runs both on the Redis cache alone.
	mixCached
	// mixNear adds the near cache to both: writes evict the writer's L1 and
	// reach the reader's through the backplane.
	mixNear
)

// String labels the mode in the output and names its stale-read phases.
func (m mixMode) String() string {
	switch m {
	case mixUncached:
		return "ORDERFLOW_CACHE=false"
	case mixNear:
		return "ORDERFLOW_NEAR_CACHE=true"
	}
	return "cached"
}

// env is what the mode adds to both APIs' environment.
func (m mixMode) env() []string {
	switch m {
	case mixUncached:
		return []string{"ORDERFLOW_CACHE=false"}
	case mixNear:
		return []string{"ORDERFLOW_NEAR_CACHE=true"}
	}
	// The near cache's default may change (issue: on once it meets its
	// goals), so the Redis-only mode says so rather than inheriting it.
	return []string{"ORDERFLOW_NEAR_CACHE=false"}
}

// mixRate is the open loop's rate: set, or found by a closed loop.
type mixRate struct {
	perSecond float64
	// max is the closed loop that found it, nil when it was set.
	max *loadResult
}

// mixProbes is what a window of the mix is measured with beside the APIs:
// the reading API's query count, PostgreSQL's CPU, and the relay whose
// checkpoint says when the projectors have caught up.
type mixProbes struct {
	counter *queryCounter
	pg      *pgServerCPU
	relay   *process.Process
}

// mixRun is what one window of the mix measured.
type mixRun struct {
	mode mixMode
	// max is the closed-loop maximum measured before the window.
	max *mixMax
	res *loadResult
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
	// near is what the reading API's near cache and backplane did (near
	// mode only); bounded are the race's max-stale reads (near mode only).
	near    *nearProbe
	bounded *boundedReads
}

// phase labels the reads of the window, or of the race after it, for the
// stale-read check.
func (m *mixRun) phase(race bool) string {
	if race {
		return m.mode.String() + " race"
	}
	return m.mode.String() + " window"
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

// runMixWindow starts the APIs of one mode: one that serves the reads,
// under a PostgreSQL role of its own so that its queries can be told apart,
// and one that takes the writes. It warms the cache, measures the
// closed-loop maximum, runs the warm-up schedule, then measures the window
// and the race.
func runMixWindow(ctx context.Context, e *env, probes mixProbes, m mixMode, sd *mixSeed, rate *mixRate) (run *mixRun, err error) {
	counter := probes.counter
	mode, extra := m.String(), m.env()
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
	if m != mixUncached {
		if err := warmMix(ctx, e, client, reader.URL(), sd); err != nil {
			return nil, fmt.Errorf("warm the cache: %w", err)
		}
	}
	run = &mixRun{mode: m}
	if run.max, err = runMixMax(ctx, e, unjudged, mode, counter, probes.pg, reader, writer); err != nil {
		return nil, err
	}
	if rate.perSecond == 0 {
		rate.max = run.max.res
		rate.perSecond = max(math.Round(rate.max.Rate()/2), 1)
	}
	// At the maximum the projectors may fall behind: the open loop starts
	// once they have caught up, as the window it follows did.
	if err := waitProjected(ctx, e, probes.relay); err != nil {
		return nil, err
	}
	warmup, window := mixSchedule(1, rate.perSecond, e.cfg.MixWarmup(), sd), mixSchedule(2, rate.perSecond, e.cfg.Mix(), sd)
	e.printf("%s: %s requests at %s/s for %s after a warm-up of %s; %s", mode,
		thousands(float64(len(window))), thousands(rate.perSecond), e.cfg.Mix(), e.cfg.MixWarmup(), mixBlend())
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
	if m == mixNear {
		run.near = &nearProbe{}
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
	run.near.window(before, after)
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
	var bounded *mixTarget
	if m == mixNear {
		run.bounded = &boundedReads{}
		bounded = run.bounded.target(race, boundedMaxStale)
	}
	if run.race, run.raceConflicts, err = runStaleRace(ctx, e, race, bounded); err != nil {
		return nil, err
	}
	if run.near != nil {
		raced, err := scrape(ctx, scrapeClient, reader.URL())
		if err != nil {
			return nil, err
		}
		run.near.race(after, raced)
	}
	return run, nil
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
