package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

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

// reportMix adds the mix's rows and notes: the cached window against the
// uncached one wherever both have the figure, then the near cache's window
// against the cached one (near may be nil).
func reportMix(e *env, r *Report, sd *mixSeed, cached, uncached, near *mixRun, mr *mixRate, counter *queryCounter) {
	runs := []*mixRun{cached, uncached}
	if near != nil {
		runs = append(runs, near)
	}
	var failed int
	for _, m := range runs {
		failed += m.res.Failed + m.race.Failed
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	specs := mixSpecs()
	rate := mr.perSecond
	if cached.max != nil && uncached.max != nil {
		reportMixMax(e, r, cached.max, uncached.max)
	}
	if mr.max != nil {
		r.add(figure("mix: open-loop rate, half the closed-loop maximum of the uncached mix", rate, "req/s").
			against(figure(fmt.Sprintf("ORDERFLOW_CACHE=false, %d clients, %s", mr.max.Clients, mixMaxWindow(e.cfg)), mr.max.Rate(), "req/s")))
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
		figure("mix: failed requests (windows and races, every mode)", float64(failed), "").correct(0),
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
	if near != nil {
		reportMixNear(e, r, near, cached)
	}

	r.note("Seed: %s products (stock %s each), %s customers and %s orders (%d per customer, 1–3 lines), %s events written through the store in transactions of %d products by %d builders in %s while bin/orderflow-relay published them; one `orderflow-projector run` started at the streams' end and ran throughout.",
		thousands(float64(len(sd.products))), thousands(float64(e.cfg.ProductStock)), thousands(float64(len(sd.customers))), thousands(float64(sd.orders)), mixSeedOrders,
		thousands(float64(sd.events)), mixSeedChunk, mixedBuilders, sd.took.Round(time.Millisecond))
	r.note("Blend (per request): %s. Products and customers are drawn by Zipf (s = 1.1, v = 1) over a shuffled ranking; an order takes 1–3 distinct Zipf-drawn products. Reads go to one API process, writes to another (as two replicas behind a balancer), both on the same Redis prefix; anonymous routes (product GETs, /public/products) are sent without a token, the others with an admin bearer token.",
		mixBlend())
	r.note("Open loop: %s requests scheduled at a fixed %s/s for %s per mode, each on its own goroutine at its time whatever the ones before it do; latency runs from the scheduled start to the answer, so a stall counts against every request scheduled during it (no coordinated omission). Every mode replays the very same request sequence. Before each window, the cached APIs read every key once (%s GETs), then every mode ran %s of the mix (another sequence) unmeasured. ORDERFLOW_CACHE=false (reads and writes APIs both uncached) first, then cached, then cached with ORDERFLOW_NEAR_CACHE=true, one after the other.",
		thousands(float64(cached.res.Sent)), thousands(rate), e.cfg.Mix(),
		thousands(float64(2+2*len(sd.products)+2*len(sd.customers))), e.cfg.MixWarmup())
	r.note("Hit ratio: the reading API's orderflow_cache_reads_total over the window (scraped before and after, the warm-up left out): hit ÷ (hit + miss + stale) per family; `output` is the public catalogue's output cache. PostgreSQL loads in the window by family: %s. A read while the API's Redis circuit breaker is open (3 Redis failures or 100 ms timeouts in a row that are also half the calls of the last second and have lasted 250 ms) is a miss whatever Redis holds: the breaker was open in %d of %d samples of orderflow_cache_breaker_open taken every %s during the cached window.",
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
	for _, m := range runs {
		for _, ph := range []struct {
			race bool
			res  *loadResult
		}{{false, m.res}, {true, m.race}} {
			if ph.res.Failed > 0 {
				r.note("%s: %d failed (%v); first: %s", m.phase(ph.race), ph.res.Failed, ph.res.ErrorKinds, strings.Join(ph.res.ErrorSamples, " | "))
			}
		}
	}
	r.note("Stale reads: every write records, once its 2xx answer has arrived, the version it produced and the value it set (a price, an order's status); every read records when it was sent and what it showed. A read is judged when a write to what it shows had been answered before it was sent, and stale when it shows a value set by an older version than the newest such write, or leaves out of a customer's order summaries an order whose placement had been answered (unless 100 newer ones crowd it out). Product families compare prices, unique over the suite so that a price names the write that set it (details carry the live version whatever their cached price); page one and the public catalogue compare every listed product written to; profiles compare versions. Times err towards missing a stale read, never inventing one: a read's clock starts before its request is handed to the HTTP client, a write's after its answer was read. After each window, a race of %s: %d closed-loop clients, on %d products of page one and %d customers, send per 100 requests 20 price changes, 4 profile updates, 8 order placements, payments, shipments or cancellations, and 68 reads of every judged kind; each price change and profile update is read back at once by the client that made it, from the reading API, the read most likely to race the write's eviction there (cached: %s; uncached: %s). A profile update answered 409 (customers are not locked on load; the answer says to retry) is retried up to %d times: %d such answers cached, %d uncached.",
		e.cfg.MixRace(), e.cfg.Clients, raceProducts, raceCustomers, cached.race.summary(), uncached.race.summary(),
		raceConflictRetries, cached.raceConflicts, uncached.raceConflicts)
	for _, m := range runs {
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
