package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/internal/testenv/process"
)

// The mix's closed-loop maximum is the seed's headline: how many requests of
// the realistic mix the system answers per second when clients send them
// back to back, with the cache and without it, on the same machine in the
// same run, and what PostgreSQL spends on each 100 reads at that rate.

// mixMaxFirstClients and mixMaxLastClients bound the search for the clients
// that saturate the machine: from two per CPU, doubling, to as many as the
// mix's HTTP client keeps connections for.
func mixMaxFirstClients() int { return min(max(4, 2*runtime.NumCPU()), mixMaxLastClients) }

const mixMaxLastClients = 64

// mixMaxGain is how much faster a doubling of the clients must be for the
// search to go on: less, and the machine is saturated.
const mixMaxGain = 1.05

// mixMaxWindow is the measured window of the closed loop, a sixth of the
// open loop's (10 s by default), never under 2 s.
func mixMaxWindow(c Config) time.Duration { return max(c.Mix()/6, 2*time.Second) }

// mixMaxStep is the search's run of one step, a thirtieth of the open loop's
// window (2 s by default), never under half a second.
func mixMaxStep(c Config) time.Duration { return max(c.Mix()/30, 500*time.Millisecond) }

// mixMaxTry is one step of the search: clients and the rate they reached.
type mixMaxTry struct {
	clients int
	rate    float64
}

// nextClients is the search's policy: double the clients while a doubling
// gains mixMaxGain or more; best is the fewest clients that reached the
// highest rate, and more says whether to try next.
func nextClients(tries []mixMaxTry) (best int, next int, more bool) {
	if len(tries) == 0 {
		return 0, mixMaxFirstClients(), true
	}
	b := tries[0]
	for _, t := range tries[1:] {
		if t.rate >= mixMaxGain*b.rate {
			b = t
		}
	}
	last := tries[len(tries)-1]
	if last.clients != b.clients || 2*last.clients > mixMaxLastClients {
		return b.clients, 0, false
	}
	return b.clients, 2 * last.clients, true
}

// mixMax is what the closed-loop maximum of one mode measured.
type mixMax struct {
	tries []mixMaxTry
	// res is the measured window, at the clients the search chose.
	res *loadResult
	// reads and writes are the requests of each sort answered in the window.
	reads, writes int64
	// failures counts the failures of the warm-up, the search and the
	// window, with their kinds and first messages.
	failures *loadResult
	// apiCPU is the reading and the writing API's CPU time in the window,
	// pgCPU PostgreSQL's (every process of the server), pgErr why it was
	// not measured.
	apiCPU, pgCPU time.Duration
	pgErr         string
	// queries are the reading API's PostgreSQL statements in the window.
	queries queryDelta
}

// per100Reads is d per 100 reads answered in the window, in ms: a few
// milliseconds of CPU, printed with two decimals.
func (m *mixMax) per100Reads(d time.Duration) float64 {
	return 100 * float64(d) / float64(time.Millisecond) / float64(max(m.reads, 1))
}

// runMixMax drives the mix through t in a closed loop: a warm-up, the
// search for the clients that saturate the machine, then the measured
// window at the clients that reached the highest rate. The requests are the
// mix's schedule, one sequence shared by every client, continued from phase
// to phase; reads are not judged for staleness, writes are recorded so
// that the reads judged later know them.
func runMixMax(ctx context.Context, e *env, t mixTarget, mode string, counter *queryCounter, pg *pgServerCPU, apis ...*process.Process) (*mixMax, error) {
	schedule := mixSchedule(3, 50_000, time.Second, t.sd)
	specs := mixSpecs()
	var next atomic.Int64
	m := &mixMax{failures: &loadResult{ErrorKinds: map[string]int{}}}
	loop := func(label string, clients int, d time.Duration) (res *loadResult, reads, writes int64, err error) {
		var r, w atomic.Int64
		res, err = runClosedLoop(ctx, e.out, label, clients, d, e.cfg.ProgressPeriod, func(ctx context.Context, _ int, _ *rand.Rand) error {
			op := schedule[int(next.Add(1)-1)%len(schedule)]
			if err := t.send(ctx, op); err != nil {
				return err
			}
			if specs[op.kind].write {
				w.Add(1)
			} else {
				r.Add(1)
			}
			return nil
		})
		if err != nil {
			return nil, 0, 0, err
		}
		m.failures = m.failures.merge(&loadResult{Failed: res.Failed, ErrorKinds: res.ErrorKinds, ErrorSamples: res.ErrorSamples})
		return res, r.Load(), w.Load(), nil
	}

	e.printf("%s: closed-loop maximum of the mix: warm-up %s, clients from %d doubled while %g× faster (%s each), window %s",
		mode, e.cfg.MixWarmup(), mixMaxFirstClients(), mixMaxGain, mixMaxStep(e.cfg), mixMaxWindow(e.cfg))
	if _, _, _, err := loop(mode+" maximum, warm-up", mixMaxFirstClients(), e.cfg.MixWarmup()); err != nil {
		return nil, err
	}
	best, clients, more := nextClients(nil)
	for more {
		res, _, _, err := loop(fmt.Sprintf("%s maximum, %d clients", mode, clients), clients, mixMaxStep(e.cfg))
		if err != nil {
			return nil, err
		}
		m.tries = append(m.tries, mixMaxTry{clients: clients, rate: res.Rate()})
		best, clients, more = nextClients(m.tries)
	}

	var errs []error
	cpu := func() (api, pgc time.Duration) {
		for _, p := range apis {
			c, err := p.CPU()
			errs = append(errs, err)
			api += c
		}
		pgc, err := pg.total()
		if err != nil && m.pgErr == "" {
			m.pgErr = err.Error()
		}
		return api, pgc
	}
	q0, err := counter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	api0, pg0 := cpu()
	res, reads, writes, err := loop(fmt.Sprintf("%s maximum (%d clients)", mode, best), best, mixMaxWindow(e.cfg))
	if err != nil {
		return nil, err
	}
	api1, pg1 := cpu()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("API CPU: %w", err)
	}
	q1, err := counter.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	m.res, m.reads, m.writes = res, reads, writes
	m.apiCPU, m.queries = api1-api0, q1.minus(q0)
	if m.pgErr == "" {
		m.pgCPU = pg1 - pg0
	}
	e.printf("  %s maximum: %s/s with %d clients; CPU per 100 reads: PostgreSQL %s, the APIs %s",
		mode, thousands(res.Rate()), best, m.pgText(), time.Duration(m.per100Reads(m.apiCPU)*float64(time.Millisecond)).Round(time.Microsecond))
	return m, nil
}

// pgText is PostgreSQL's CPU per 100 reads, or why it was not measured.
func (m *mixMax) pgText() string {
	if m.pgErr != "" {
		return "not measured (" + m.pgErr + ")"
	}
	return time.Duration(m.per100Reads(m.pgCPU) * float64(time.Millisecond)).Round(time.Microsecond).String()
}

// triesText lists the search's steps: "4 clients 3,100/s, 8 clients 3,900/s".
func (m *mixMax) triesText() string {
	parts := make([]string, len(m.tries))
	for i, t := range m.tries {
		parts[i] = fmt.Sprintf("%d clients %s/s", t.clients, thousands(t.rate))
	}
	return strings.Join(parts, ", ")
}

// reportMixMax adds the closed-loop maxima's rows and notes: the cached
// maximum against the uncached one (goal ≥ 3×, a speed goal), failures (a
// correctness goal), and the CPU PostgreSQL and the APIs spent per read.
func reportMixMax(e *env, r *Report, cached, uncached *mixMax) {
	label := func(m *mixMax, mode string) string {
		return fmt.Sprintf("%s, %d clients", mode, m.res.Clients)
	}
	r.add(
		figure("mix: closed-loop maximum ("+label(cached, "cached")+")", cached.res.Rate(), "req/s").
			against(figure(label(uncached, "ORDERFLOW_CACHE=false"), uncached.res.Rate(), "req/s")).goal("ratio", ">=", 3),
		figure("mix: closed-loop maximum, failed requests (warm-ups, searches and windows, cached + uncached)", float64(cached.failures.Failed+uncached.failures.Failed), "").correct(0),
	)
	if cached.pgErr == "" && uncached.pgErr == "" {
		r.add(figure("mix at the maximum: PostgreSQL CPU per 100 reads (cached)", cached.per100Reads(cached.pgCPU), "ms").
			against(figure("ORDERFLOW_CACHE=false", uncached.per100Reads(uncached.pgCPU), "ms")))
	} else {
		r.note("PostgreSQL's CPU was not measured: %s.", firstNonEmpty(cached.pgErr, uncached.pgErr))
	}
	r.add(figure("mix at the maximum: orderflow-api CPU per 100 reads, both APIs (cached)", cached.per100Reads(cached.apiCPU), "ms").
		against(figure("ORDERFLOW_CACHE=false", uncached.per100Reads(uncached.apiCPU), "ms")))

	window := mixMaxWindow(e.cfg)
	r.note("Closed-loop maximum: clients send the mix's requests back to back (one sequence of the same blend, shared by all clients and the same in both modes), each its next request once the last was answered, to the same two APIs as the open loop. Each mode ran %s of warm-up at %d clients, then a search: %d clients, doubled while a doubling answered %g× as many requests per second or more (%s each; cached: %s; uncached: %s); the window, %s, ran at the fewest clients that reached the highest rate. Uncached ran first, then cached, then cached with the near cache (ORDERFLOW_NEAR_CACHE=true), each cached API after it had read every key once.",
		e.cfg.MixWarmup(), mixMaxFirstClients(), mixMaxFirstClients(), mixMaxGain, mixMaxStep(e.cfg), cached.triesText(), uncached.triesText(), window)
	for _, m := range []struct {
		name string
		m    *mixMax
	}{{"cached", cached}, {"uncached", uncached}} {
		res := m.m.res
		pg := "not measured"
		if m.m.pgErr == "" {
			pg = fmt.Sprintf("%.0f %%", 100*cpuShare(m.m.pgCPU, res.Wall))
		}
		queries := ""
		if m.m.queries.available {
			q, stock := m.m.queries.split()
			queries = fmt.Sprintf("; the reading API's PostgreSQL queries per 100 reads %.2f besides %.2f live stock reads", 100*q/float64(max(m.m.reads, 1)), 100*stock/float64(max(m.m.reads, 1)))
		}
		r.note("Maximum, %s, %d clients: %s reads and %s writes; %s (own: the load generator's share of the machine); share of the machine: PostgreSQL %s, the APIs %.0f %%%s.",
			m.name, res.Clients, thousands(float64(m.m.reads)), thousands(float64(m.m.writes)), res.summary(),
			pg, 100*cpuShare(m.m.apiCPU, res.Wall), queries)
		if f := m.m.failures; f.Failed > 0 {
			r.note("Maximum, %s: %d failed (%v); first: %s", m.name, f.Failed, f.ErrorKinds, strings.Join(f.ErrorSamples, " | "))
		}
	}
	r.note("PostgreSQL CPU: user + system time of the server's postmaster and every process it started (backends, the checkpointer, the WAL writer, autovacuum; exited ones through the postmaster's reaped-children times), from /proc, over the window, divided by the reads answered in it. It holds all of PostgreSQL's work: the reading API's queries, and the writes, relay and projector that keep pace with them. The APIs' CPU is both API processes', also per 100 reads.")
}

// firstNonEmpty is the first of ss that is not "".
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
