package main

import (
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// The near cache in the mix (docs/adr/0015-near-cache.md): a third window
// runs both APIs with ORDERFLOW_NEAR_CACHE=true, so writes land on one
// process and reads on the other, and only the backplane and the version
// confirmed in Redis keep the reader's L1 honest. Its strict reads are
// judged like every other (goal 0 stale); beside them the reading API's
// /metrics give the L1's share of its cache reads and the backplane's
// delivery delay, and a quarter of the race's reads ask for
// Cache-Control: max-stale, the bounded staleness the near cache promises.

// boundedMaxStale is the max-stale the race's bounded reads carry: the
// smallest the API takes (whole seconds), so the bound is the tightest.
const boundedMaxStale = time.Second

// boundedSuffix names the phase of the bounded reads judged with their
// slack, beside the same reads judged as if strict.
const boundedSuffix = ", within max-stale and the backplane's delay"

// minDeliveries is how many backplane deliveries a p99 needs to say more
// than its slowest few.
const minDeliveries = 100

// backplaneDelay is the reading API's backplane delay histogram.
const backplaneDelay = "orderflow_cache_backplane_delay_seconds"

// nearProbe is what the reading API's near cache and backplane did, from
// its /metrics before and after the window and after the race.
type nearProbe struct {
	// hits are the window's orderflow_cache_near_hits_total deltas by family.
	hits map[string]float64
	// resets are the times the whole L1 was dropped, in the window and the race.
	resets, raceResets float64
	// delay and raceDelay are the backplane's delivery delays.
	delay, raceDelay histogram
}

// window records the window's deltas; a nil probe (no near cache) does nothing.
func (p *nearProbe) window(before, after metricFamilies) {
	if p == nil {
		return
	}
	p.hits = map[string]float64{}
	for _, s := range mixSpecs() {
		if s.write {
			continue
		}
		want := map[string]string{"family": s.family}
		p.hits[s.family] = after.value("orderflow_cache_near_hits_total", want) - before.value("orderflow_cache_near_hits_total", want)
	}
	p.resets = after.value("orderflow_cache_near_resets_total", nil) - before.value("orderflow_cache_near_resets_total", nil)
	p.delay = after.histogram(backplaneDelay, nil).minus(before.histogram(backplaneDelay, nil))
}

// race records the race's deltas.
func (p *nearProbe) race(before, after metricFamilies) {
	p.raceResets = after.value("orderflow_cache_near_resets_total", nil) - before.value("orderflow_cache_near_resets_total", nil)
	p.raceDelay = after.histogram(backplaneDelay, nil).minus(before.histogram(backplaneDelay, nil))
}

// l1Share is the share of the window's cache reads answered by the L1,
// over every family or one ("" for all); ok is false when none was counted.
func (m *mixRun) l1Share(family string) (share, reads float64, ok bool) {
	var hits float64
	for f, c := range m.cache {
		if family != "" && f != family {
			continue
		}
		reads += c["hit"] + c["miss"] + c["stale"]
		hits += m.near.hits[f]
	}
	if reads == 0 {
		return 0, 0, false
	}
	return hits / reads, reads, true
}

// maxBound is the upper bound of the highest bucket that holds an
// observation; above is true when some lie beyond the highest bound (the
// bound returned is then that one). 0 when nothing was observed.
func (h histogram) maxBound() (bound float64, above bool) {
	if h.count <= 0 || len(h.upper) == 0 {
		return 0, false
	}
	last := len(h.cum) - 1
	if h.count > h.cum[last] {
		return h.upper[last], true
	}
	for i := last; i > 0; i-- {
		if h.cum[i] > h.cum[i-1] {
			return h.upper[i], false
		}
	}
	return h.upper[0], false
}

// boundedReads are the race's reads that carried Cache-Control: max-stale.
type boundedReads struct {
	// label is their phase for the stale-read check.
	label    string
	maxStale time.Duration
	// fromL1 counts the answers that say X-Cache: HIT-L1.
	fromL1 atomic.Int64
	// backplane is the delay allowed on top of maxStale: the bound of the
	// slowest delivery the race's histogram holds; beyond says some
	// deliveries were slower than its highest bound.
	backplane time.Duration
	beyond    bool
	// strict judges them as strict reads, within with their slack.
	strict, within *[mixKinds]staleCount
}

// target is race sending its reads with max-stale and judging them apart.
func (b *boundedReads) target(race mixTarget, maxStale time.Duration) *mixTarget {
	b.label = fmt.Sprintf("%s, max-stale=%d", race.phase, int(maxStale/time.Second))
	b.maxStale = maxStale
	t := race
	t.phase, t.maxStale, t.fromL1 = b.label, maxStale, &b.fromL1
	return &t
}

// widenBounded adds the race's slowest backplane delivery to the slack of
// its bounded reads: the promise is max-stale plus the backplane's delay.
func (m *mixRun) widenBounded(s *staleCheck) {
	if m == nil || m.bounded == nil || m.near == nil {
		return
	}
	bound, beyond := m.near.raceDelay.maxBound()
	m.bounded.backplane = time.Duration(bound * float64(time.Second))
	m.bounded.beyond = beyond
	s.widen(m.bounded.label+boundedSuffix, m.bounded.backplane)
}

// staleSum sums the verdicts over the read kinds.
func staleSum(counts *[mixKinds]staleCount) staleCount {
	var c staleCount
	if counts == nil {
		return c
	}
	for _, k := range counts {
		c = c.plus(k)
	}
	return c
}

// delayRows are the backplane's p50 and p99 over one phase, in ms, or a
// note when it delivered nothing.
func delayRows(r *Report, phase string, h histogram) {
	if h.count <= 0 {
		r.note("Backplane, near cache %s: no delivery observed by the reading API (no write announced while it was subscribed).", phase)
		return
	}
	n := fmt.Sprintf("%s deliveries", thousands(h.count))
	if h.count < minDeliveries {
		n += ", too few for a p99: it is their slowest few"
	}
	ms := func(s float64) float64 { return 1000 * s }
	r.add(
		figure(fmt.Sprintf("mix (near cache): backplane delivery p50, %s (%s)", phase, n), ms(h.quantile(0.50)), "ms"),
		figure(fmt.Sprintf("mix (near cache): backplane delivery p99, %s (%s)", phase, n), ms(h.quantile(0.99)), "ms"),
	)
}

// reportMixNear adds the near cache's rows and notes: its stale reads (a
// correctness goal, 0, against the cached window's), the L1's share, the
// backplane's delay, and its rate, latency and CPU against the cached
// window's, its baseline.
func reportMixNear(e *env, r *Report, near, cached *mixRun) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	perRead := func(m *mixRun) float64 {
		return float64(m.readerCPU) / float64(time.Microsecond) / float64(max(m.reads, 1))
	}
	r.add(
		figure("mix (near cache): requests answered per second", near.res.Rate(), "req/s").against(figure("cached", cached.res.Rate(), "req/s")),
		figure("mix p50, all requests, from the scheduled start (near cache)", ms(near.res.Percentile(0.50)), "ms").against(figure("cached", ms(cached.res.Percentile(0.50)), "ms")),
		figure("mix p99, all requests, from the scheduled start (near cache)", ms(near.res.Percentile(0.99)), "ms").against(figure("cached", ms(cached.res.Percentile(0.99)), "ms")),
		figure("mix p99, reads (near cache)", ms(percentile(readLatencies(near), 0.99)), "ms").against(figure("cached", ms(percentile(readLatencies(cached), 0.99)), "ms")),
		figure("mix: orderflow-api (reads) CPU per read (near cache)", perRead(near), "µs").against(figure("cached", perRead(cached), "µs")),
	)
	if near.max != nil && cached.max != nil {
		r.add(figure(fmt.Sprintf("mix: closed-loop maximum (near cache, %d clients)", near.max.res.Clients), near.max.res.Rate(), "req/s").
			against(figure(fmt.Sprintf("cached, %d clients", cached.max.res.Clients), cached.max.res.Rate(), "req/s")),
			figure("mix: closed-loop maximum, failed requests (near cache)", float64(near.max.failures.Failed), "").correct(0))
		r.note("Closed-loop maximum, near cache: the same search as the others (%s), then the window; %s reads and %s writes; %s.",
			near.max.triesText(), thousands(float64(near.max.reads)), thousands(float64(near.max.writes)), near.max.res.summary())
	}
	if share, reads, ok := near.l1Share(""); ok {
		r.add(figure(fmt.Sprintf("mix (near cache): L1 share of the reading API's cache reads (%s reads)", thousands(reads)), 100*share, "%"))
	} else {
		r.add(figure("mix (near cache): L1 share of the reading API's cache reads: no reads counted", 0, "%"))
	}
	delayRows(r, "window", near.near.delay)
	delayRows(r, "race", near.near.raceDelay)

	specs := mixSpecs()
	for k, s := range specs {
		if s.write {
			continue
		}
		n, c := near.staleTotal(mixKind(k)), cached.staleTotal(mixKind(k))
		r.add(figure(fmt.Sprintf("mix (near cache, across two instances): stale reads, %s (family %s; %s of %s reads judged, window and race)", s.name, s.family, thousands(float64(n.judged)), thousands(float64(n.reads))),
			float64(n.stale), "").against(figure("cached", float64(c.stale), "")).correct(0))
	}
	if b := near.bounded; b != nil {
		within, strict := staleSum(b.within), staleSum(b.strict)
		r.add(
			figure(fmt.Sprintf("mix (near cache): max-stale=%d reads older than %s plus the backplane's delay (%s of %s judged)", int(b.maxStale/time.Second), b.maxStale, thousands(float64(within.judged)), thousands(float64(within.reads))),
				float64(within.stale), "").correct(0),
			figure(fmt.Sprintf("mix (near cache): max-stale=%d reads older than a strict read may be (%s answered from the L1 alone)", int(b.maxStale/time.Second), thousands(float64(b.fromL1.Load()))),
				float64(strict.stale), ""),
		)
		beyond := ""
		if b.beyond {
			beyond = " (some deliveries were slower than the histogram's highest bound: the bound is used)"
		}
		r.note("Bounded staleness, near cache race: a quarter of the race's reads (%s) carried `Cache-Control: max-stale=%d`; %s answered `X-Cache: HIT-L1` (no Redis round trip). Judged as if strict (a write answered before the read was sent must show): %s. Judged as promised, against the writes answered more than %s plus the race's slowest backplane delivery (%s, the upper bound of the highest histogram bucket holding one%s) before the read was sent: %s.",
			thousands(float64(within.reads)), int(b.maxStale/time.Second), thousands(float64(b.fromL1.Load())), staleText(b.strict), b.maxStale, b.backplane, beyond, staleText(b.within))
		if len(within.samples) > 0 {
			r.note("Bounded reads older than promised: %s.", strings.Join(within.samples, "; "))
		}
	}

	var shares []string
	for _, s := range specs {
		if s.write {
			continue
		}
		if share, reads, ok := near.l1Share(s.family); ok {
			shares = append(shares, fmt.Sprintf("%s %.1f %% of %s", s.family, 100*share, thousands(reads)))
		}
	}
	r.note("Near cache: a third window ran both APIs with ORDERFLOW_NEAR_CACHE=true (the cached window's with ORDERFLOW_NEAR_CACHE=false), after the same warm-up and on the same request sequence; writes evict the writing API's L1 and reach the reading API's through the backplane, and every strict read there is answered from the L1 only once Redis confirms its version. L1 share: the reading API's orderflow_cache_near_hits_total over orderflow_cache_reads_total (hit + miss + stale) in the window, by family (`output`, the public catalogue's output cache, counts its reads but no near hits: it does not use the L1): %s. The whole L1 was dropped %.0f times in the window and %.0f in the race (orderflow_cache_near_resets_total). Backplane delivery: the reading API's %s, bucket deltas over the window and over the race (which writes far more), quantiles interpolated within buckets as Prometheus's histogram_quantile does; window: %s deliveries, race: %s.",
		strings.Join(shares, ", "), near.near.resets, near.near.raceResets, backplaneDelay, thousands(near.near.delay.count), thousands(near.near.raceDelay.count))
	r.note("Race, near cache: %s; %d profile updates answered 409 and retried.", near.race.summary(), near.raceConflicts)
	if math.IsNaN(near.near.raceDelay.quantile(0.99)) && near.bounded != nil {
		r.note("No backplane delivery was observed in the race: the bounded reads were judged against max-stale alone.")
	}
}
