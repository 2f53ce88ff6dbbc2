package main

// One suite per file: the projector suite (replay from each source, lag and
// freshness under a mixed log) and its report rows; past 400 lines because
// its phases share the mixed log they build once.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	apprelay "github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/cmd/internal/progress"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// The projector suite answers the questions of the "orderflow-projector" issue:
//
//  1. How fast does `orderflow-projector replay` rebuild every projection
//     from the streams, and from the event store, compared with merely
//     reading the streams (a bare XRANGE)?
//  2. How long after its commit is an event's projection written, with two
//     projectors and the relay running under a steady write load at half
//     the maximum rate?
func runProjector(ctx context.Context, e *env, r *Report) (err error) {
	store := postgres.NewStore(e.db.pool)
	// The relay runs while the log is built, as it would in production, and
	// the builders wait whenever it is more than relayLead events behind, so
	// the suite's length does not hang on the relay's drain rate (the relay
	// suite measures that).
	relay, err := startProcess(ctx, e, processSpec{bin: "orderflow-relay", addrEnv: "ORDERFLOW_RELAY_HTTP_ADDR"})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, relay.Stop(stopWithin)) }()
	var lead atomic.Int64
	gate := func(ctx context.Context, appended int64) error {
		for {
			s, err := e.redis.Get(ctx, e.keys.RelayCheckpoint()).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return fmt.Errorf("read the relay checkpoint: %w", err)
			}
			cp, err := apprelay.ParseLogPosition(s)
			if err != nil {
				return err
			}
			behind := appended - cp.Position // positions count from 1, without gaps here
			lead.Store(max(lead.Load(), behind))
			if behind <= relayLead {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-relay.Done():
				return fmt.Errorf("orderflow-relay exited: %v", relay.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	lg, err := buildMixedLog(ctx, e, store, e.cfg.ProjectorLog(), gate)
	if err != nil {
		return fmt.Errorf("build the log: %w", err)
	}
	first, last, err := logBounds(ctx, e.db.pool)
	if err != nil {
		return err
	}
	built := time.Now()
	tail, err := waitCheckpoint(ctx, e, relay, first, last, lg.events, built, 10*time.Minute)
	if err != nil {
		return err
	}
	e.printf("  the relay published the last event %s after the last commit; it was at most %s events behind", tail.Round(time.Millisecond), thousands(float64(lead.Load())))

	// Bare XRANGE before and after the replays; in a full run the replay
	// from the streams (the one with a goal) also comes before and after
	// the one from the store. One replay from the store is enough: it is
	// the longest step of the suite.
	sources := []string{"streams", "store"}
	if !e.cfg.Quick {
		sources = append(sources, "streams")
	}
	var (
		xr      []xrangeRead
		replays = map[string][]replayRun{}
	)
	read := func() error {
		x, err := bareXRange(ctx, e)
		if err == nil {
			xr = append(xr, x)
		}
		return err
	}
	if err := read(); err != nil {
		return err
	}
	for i, from := range sources {
		run, err := runReplay(ctx, e, from, fmt.Sprintf("%d/%d", i+1, len(sources)))
		if err != nil {
			return err
		}
		replays[from] = append(replays[from], run)
	}
	if err := read(); err != nil {
		return err
	}
	upcast, err := rewriteChangedEvents(ctx, e, schemaOnePayloads)
	if err != nil {
		return err
	}
	oldLog, err := runReplay(ctx, e, "store", "of the schema 1 log")
	if err != nil {
		return err
	}
	if _, err := rewriteChangedEvents(ctx, e, todaysPayloads); err != nil {
		return err
	}
	newLog, err := runReplay(ctx, e, "store", "of the same log rewritten back to today's schemas")
	if err != nil {
		return err
	}

	fr, err := measureFreshness(ctx, e, relay, store, lg)
	if err != nil {
		return fmt.Errorf("freshness: %w", err)
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var xEntries int
	var xTook time.Duration
	for _, x := range xr {
		xEntries, xTook = xEntries+x.entries, xTook+x.took
	}
	xrRow := figure("bare XRANGE of the three streams, 5,000 entries a call", float64(xEntries)/xTook.Seconds(), "entries/s")
	r.add(
		figure(fmt.Sprintf("log of %s events built through the store, relay running (first commit to last XADD)", thousands(float64(lg.events))), float64(lg.events)/(lg.took+tail).Seconds(), "events/s"),
		xrRow,
	)
	for _, from := range []string{"streams", "store"} {
		runs := replays[from]
		var events int64
		var rebuild, all time.Duration
		var rss float64
		for _, run := range runs {
			events, rebuild, all, rss = events+run.events, rebuild+run.rebuild, all+run.elapsed, max(rss, run.rss)
		}
		row := figure(fmt.Sprintf("replay --from=%s (rebuild, without the switch's grace waits)", from), float64(events)/rebuild.Seconds(), "events/s").against(xrRow)
		if from == "streams" {
			row = row.goal("value", ">=", 100_000)
		}
		r.add(
			row,
			figure(fmt.Sprintf("replay --from=%s, whole command (mean)", from), (all/time.Duration(len(runs))).Seconds(), "s").against(figure("rebuild", (rebuild/time.Duration(len(runs))).Seconds(), "s")),
			figure(fmt.Sprintf("replay --from=%s peak RSS", from), rss, "MiB").goal("value", "<=", 150),
		)
	}
	r.add(figure(fmt.Sprintf("replay --from=store of the same log at schema 1 (%s events upcast on read)", thousands(float64(upcast))), float64(oldLog.events)/oldLog.rebuild.Seconds(), "events/s").
		against(figure("rewritten back to today's schemas", float64(newLog.events)/newLog.rebuild.Seconds(), "events/s")))
	relayP50 := figure("relay append → XADD p50, same window", 1000*fr.relay.quantile(0.50), "ms")
	relayP99 := figure("relay append → XADD p99, same window", 1000*fr.relay.quantile(0.99), "ms")
	r.add(
		figure("maximum write rate (orders through the store, closed loop)", fr.max.Rate(), "orders/s"),
		figure("open-loop writer at half of it (achieved)", fr.writes.Rate(), "orders/s").against(figure("target", fr.writes.Target, "orders/s")),
		relayP50,
		relayP99,
		figure("freshness, commit → projection written p50 (all events)", 1000*fr.all.quantile(0.50), "ms").against(relayP50),
		figure("freshness p99 (all events)", 1000*fr.all.quantile(0.99), "ms").against(relayP99).goal("value", "<=", 25),
		figure("freshness p99 (order events: summaries re-read from PostgreSQL)", 1000*fr.orders.quantile(0.99), "ms").against(relayP99).goal("value", "<=", 25),
		figure("events projected within 25 ms (all events)", 100*fr.all.atMost(0.025), "%"),
		figure("events projected in the window (both projectors)", fr.all.count, "").correct(float64(fr.events)),
		figure("orderflow-projector start-up to /readyz (slower of 2)", ms(fr.startup), "ms").goal("value", "<=", 2000),
	)
	for i, rss := range fr.rss {
		r.add(figure(fmt.Sprintf("orderflow-projector %d peak RSS", i+1), rss, "MiB").goal("value", "<=", 150))
	}
	relayRSS, err := relay.PeakRSS()
	if err != nil {
		return fmt.Errorf("orderflow-relay memory: %w", err)
	}
	r.add(
		figure("orderflow-relay peak RSS", relayRSS, "MiB").goal("value", "<=", 150),
		figure("machine CPU busy during the open loop", 100*fr.writes.Machine.Busy(), "%"),
	)

	r.note("Log: %s events in transactions of about %d (per transaction %d customers registered and renamed; %d products created, repriced, renamed and restocked %d times; %d orders of 1–3 lines, %d paid, %d of those shipped, %d cancelled), so %s customers, %s products and %s orders, appended by %d builders in %s while bin/orderflow-relay published them; builders waited whenever the relay was more than %s events behind (it was at most %s behind), and the last event was on its stream %s after the last commit.",
		thousands(float64(lg.events)), lg.events/max(lg.chunks, 1), mixedCustomers, mixedProducts, mixedRestocks, mixedOrders, mixedPaid, mixedShipped, mixedCancelled,
		thousands(float64(len(lg.customers))), thousands(float64(len(lg.products))), thousands(float64(lg.chunks*mixedOrders)),
		mixedBuilders, lg.took.Round(time.Millisecond), thousands(relayLead), thousands(float64(lead.Load())), tail.Round(time.Millisecond))
	order := make([]string, 0, len(sources)+2)
	order = append(append(append(order, "XRANGE"), sources...), "XRANGE")
	r.note("Replays ran as `bin/orderflow-projector replay --from=…` in the order %s; the rate is parsed from the command's summary line (events folded over the rebuild time, which leaves out the generation pointer's grace waits, 3 × 1 s each before and after the switch). Events folded per run: %s.",
		strings.Join(order, ", "), replayCounts(replays))
	r.note("Upcaster cost: after the replays above, every ProductCreated and OrderPlaced event of the log (the two types whose shape changed, docs/adr/0014-event-schema-evolution.md) was rewritten in place to its schema 1 payload, as a log written before the change holds it, the table re-packed in log order (CLUSTER), and `replay --from=store` ran once more, so each of those %s events went through its upcaster; then the same events were rewritten back to today's payloads, re-packed alike, and replayed once more: that last replay, of the same table layout right after, is the baseline.", thousands(float64(upcast)))
	r.note("Freshness: the consumer group was created at the streams' end, then two `orderflow-projector run` processes started; orders of 1–2 lines through the store (app.PlaceOrder) at %s/s, half the closed-loop maximum of %s/s, for %s, relay and projectors running. Figures are orderflow_projector_freshness_seconds (from the event's occurred-at, taken before its commit, to its projections written) summed over both projectors, before and after the window, quantiles interpolated within the buckets (1, 2.5, 5, 10, 25, 50 ms …); the relay's commit_to_publish_seconds of the same window is the baseline: no projection can be fresher than its entry's XADD. Stock events write no projection; order events re-read a customer's summaries from PostgreSQL.",
		thousands(fr.writes.Target), thousands(fr.max.Rate()), e.cfg.OpenLoop())
	r.note("The consumer group had %d consumers on the order stream (both projectors' together); each Watermill consumer reads one entry at a time (XREADGROUP COUNT 1) and acknowledges it before it takes the next, so an event waits while every consumer is busy; in the window, projecting an order event took p50 %.2f ms, p99 %.2f ms (orderflow_projector_handler_duration_seconds).",
		fr.consumers, 1000*fr.handled.quantile(0.5), 1000*fr.handled.quantile(0.99))
	return nil
}

// relayLead is how far the relay may fall behind the builders of the log.
const relayLead = 20_000

// Shape of one transaction of the projector suite's log.
const (
	mixedCustomers = 20
	mixedProducts  = 20
	mixedRestocks  = 5
	mixedOrders    = 150
	mixedPaid      = 100
	mixedShipped   = 60
	mixedCancelled = 40
	mixedBuilders  = 4
	// mixedEventsPerChunk is about how many events one transaction appends.
	mixedEventsPerChunk = 2*mixedCustomers + (3+mixedRestocks)*mixedProducts + 3*mixedOrders + mixedPaid + mixedShipped + 3*mixedCancelled
)

// mixedLog is the log the projector suite built.
type mixedLog struct {
	events, chunks      int
	took                time.Duration
	customers, products []string
}

// buildMixedLog appends about n events through the real store, in
// transactions that each create customers and products and place, pay, ship
// and cancel orders on them, so that every projection has work.
// Before each transaction it calls gate with the events appended so far.
func buildMixedLog(ctx context.Context, e *env, store *postgres.Store, n int, gate func(ctx context.Context, appended int64) error) (*mixedLog, error) {
	chunks := max((n+mixedEventsPerChunk/2)/mixedEventsPerChunk, 1)
	customers, products := make([][]string, chunks), make([][]string, chunks)
	var events atomic.Int64
	e.printf("appending about %s events through the store, %d builders, %d transactions of about %d events", thousands(float64(n)), mixedBuilders, chunks, mixedEventsPerChunk)
	start := time.Now()
	err := runCount(ctx, e.out, "log transactions", chunks, mixedBuilders, func(ctx context.Context, chunk int) error {
		aggs, cs, ps, err := mixedChunk(chunk)
		if err != nil {
			return err
		}
		if err := gate(ctx, events.Load()); err != nil {
			return err
		}
		var saved int64
		for _, a := range aggs {
			saved += int64(len(a.Changes()))
		}
		customers[chunk], products[chunk] = cs, ps
		err = store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			_, err := tx.Save(ctx, aggs...)
			return err
		})
		if err == nil {
			events.Add(saved)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &mixedLog{events: int(events.Load()), chunks: chunks, took: time.Since(start), customers: slices.Concat(customers...), products: slices.Concat(products...)}, nil
}

// mixedChunk decides one transaction's aggregates: customers first, then
// products, then orders, the order Save needs for the read tables' keys.
func mixedChunk(chunk int) (aggs []domain.Aggregate, customers, products []string, err error) {
	rng := rand.New(rand.NewPCG(uint64(chunk), 7))
	newID := func() string { return uuid.Must(uuid.NewV7()).String() }
	for k := range mixedCustomers {
		id := newID()
		c, err := domain.RegisterCustomer(id, fmt.Sprintf("c%07d-%02d@bench.example", chunk, k), fmt.Sprintf("Bench Customer %d-%d", chunk, k))
		if err != nil {
			return nil, nil, nil, err
		}
		renamed := fmt.Sprintf("Bench Customer %d-%d (renamed)", chunk, k)
		if err := c.UpdateProfile(nil, &renamed); err != nil {
			return nil, nil, nil, err
		}
		aggs, customers = append(aggs, c), append(customers, id)
	}
	byID := map[string]*domain.Product{}
	for k := range mixedProducts {
		id := newID()
		price := int64(100 + rng.IntN(10_000))
		p, err := domain.CreateProduct(id, fmt.Sprintf("M%07d-%02d", chunk, k), fmt.Sprintf("Mixed product %d-%d", chunk, k), "Part of the projector benchmark's log.", price, "EUR", 1_000_000)
		if err != nil {
			return nil, nil, nil, err
		}
		name := fmt.Sprintf("Mixed product %d-%d, renamed", chunk, k)
		if err := errors.Join(p.ChangePrice(price+100), p.ChangeDetails(&name, nil)); err != nil {
			return nil, nil, nil, err
		}
		for range mixedRestocks {
			if err := p.AddStock(int64(1 + rng.IntN(50))); err != nil {
				return nil, nil, nil, err
			}
		}
		byID[id] = p
		aggs, products = append(aggs, p), append(products, id)
	}
	for k := range mixedOrders {
		lines := make([]domain.LineRequest, 0, 3)
		for _, i := range rng.Perm(len(products))[:1+rng.IntN(3)] {
			lines = append(lines, domain.LineRequest{ProductID: products[i], Quantity: 1})
		}
		o, err := domain.PlaceOrder(newID(), customers[rng.IntN(len(customers))], lines, byID)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case k < mixedShipped:
			err = errors.Join(o.Pay(), o.Ship())
		case k < mixedPaid:
			err = o.Pay()
		case k < mixedPaid+mixedCancelled:
			err = o.Cancel(byID)
		}
		if err != nil {
			return nil, nil, nil, err
		}
		aggs = append(aggs, o)
	}
	return aggs, customers, products, nil
}

// xrangeRead is one bare read of every event stream.
type xrangeRead struct {
	entries int
	took    time.Duration
}

// bareXRange reads every event stream from its start, 5,000 entries a call
// (the replay's batch), and does nothing with them.
func bareXRange(ctx context.Context, e *env) (xrangeRead, error) {
	var x xrangeRead
	start := time.Now()
	for _, stream := range e.keys.EventStreams() {
		from := "-"
		for {
			entries, err := e.redis.XRangeN(ctx, stream, from, "+", 5000).Result()
			if err != nil {
				return x, fmt.Errorf("XRANGE %s: %w", stream, err)
			}
			x.entries += len(entries)
			if len(entries) < 5000 {
				break
			}
			from = "(" + entries[len(entries)-1].ID
		}
	}
	x.took = time.Since(start)
	e.printf("  bare XRANGE: %s entries in %s (%s entries/s)", thousands(float64(x.entries)), x.took.Round(time.Millisecond), thousands(float64(x.entries)/x.took.Seconds()))
	return x, nil
}

// replayRun is one `orderflow-projector replay` as its summary line tells it.
type replayRun struct {
	events           int64
	rebuild, elapsed time.Duration
	rss              float64
}

// replayDone matches the summary line of orderflow-projector replay.
const replayDone = `^replay: done from the (.+?): (\d+) events folded, \d+ keys written into generation "[^"]*" in (\S+) \(([\d.]+) events/s\).*; (\S+) in all$`

// replayProgress matches a progress line of orderflow-projector replay,
// printed in plain lines because its output is a pipe here (progress package).
const replayProgress = `^replay: (.+?): ([\d,]+)/([\d,]+) events \(`

// runReplay runs `orderflow-projector replay --from=from`, showing its
// progress as the bench's own (a bar on a terminal, a line every progress
// period otherwise), and parses its summary.
func runReplay(ctx context.Context, e *env, from, label string) (replayRun, error) {
	done, progressed := regexp.MustCompile(replayDone), regexp.MustCompile(replayProgress)
	pr, pw := io.Pipe()
	var summary []string
	scanned := make(chan error, 1)
	go func() {
		report := progress.NewPhased(e.out, progress.Config{Unit: "events", Every: e.cfg.ProgressPeriod})
		defer report.Stop()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if m := progressed.FindStringSubmatch(line); m != nil {
				report.Update("  replay: "+m[1], parseCount(m[2]), parseCount(m[3]))
				continue
			}
			if m := done.FindStringSubmatch(line); m != nil {
				summary = m
				report.Stop()
			}
			report.Println("  " + line)
		}
		_, _ = io.Copy(io.Discard, pr)
		scanned <- sc.Err()
	}()
	e.printf("replay %s: bin/orderflow-projector replay --from=%s", label, from)
	p, err := startProcess(ctx, e, processSpec{bin: "orderflow-projector", args: []string{"replay", "--from=" + from}, stdout: pw,
		label: "orderflow-projector replay --from=" + from})
	if err != nil {
		_ = pw.Close()
		return replayRun{}, err
	}
	err = p.Wait(ctx)
	_ = pw.Close()
	if scanErr := <-scanned; err == nil {
		err = scanErr
	}
	if err != nil {
		return replayRun{}, err
	}
	if summary == nil {
		return replayRun{}, fmt.Errorf("replay --from=%s printed no summary line", from)
	}
	var run replayRun
	var errs [3]error
	run.events, errs[0] = strconv.ParseInt(summary[2], 10, 64)
	run.rebuild, errs[1] = time.ParseDuration(summary[3])
	run.elapsed, errs[2] = time.ParseDuration(summary[5])
	if err := errors.Join(errs[:]...); err != nil {
		return replayRun{}, fmt.Errorf("replay summary %q: %w", summary[0], err)
	}
	if run.rss, err = p.PeakRSS(); err != nil {
		return replayRun{}, err
	}
	return run, nil
}

func replayCounts(replays map[string][]replayRun) string {
	var parts []string
	for _, from := range []string{"streams", "store"} {
		var counts []string
		for _, run := range replays[from] {
			counts = append(counts, thousands(float64(run.events)))
		}
		parts = append(parts, from+" "+strings.Join(counts, " and "))
	}
	return strings.Join(parts, "; ")
}

// freshness is what the freshness phase measured.
type freshness struct {
	max, writes *loadResult
	// events is how many events the open loop appended.
	events int
	// all and orders are the projectors' freshness histograms over the
	// window; relay is the relay's append → XADD histogram over it;
	// handled is the projectors' handler duration for order events.
	all, orders, relay, handled histogram
	startup                     time.Duration
	rss                         []float64
	// consumers is how many consumers the group has on the order stream.
	consumers int
}

// measureFreshness starts two projectors at the streams' end, finds the
// maximum order rate, and writes at half of it in an open loop.
func measureFreshness(ctx context.Context, e *env, relay *process.Process, store *postgres.Store, lg *mixedLog) (fr *freshness, err error) {
	if err := createGroupsAtEnd(ctx, e); err != nil {
		return nil, err
	}
	fr = &freshness{}
	var projectors []*process.Process
	defer func() {
		for _, p := range projectors {
			err = errors.Join(err, p.Stop(stopWithin))
		}
		if err == nil {
			for _, p := range projectors {
				rss, rssErr := p.PeakRSS()
				err = errors.Join(err, rssErr)
				fr.rss = append(fr.rss, rss)
			}
		}
	}()
	for i := range 2 {
		p, err := startProcess(ctx, e, processSpec{bin: "orderflow-projector", args: []string{"run"}, addrEnv: "ORDERFLOW_PROJECTOR_HTTP_ADDR",
			env: []string{fmt.Sprintf("ORDERFLOW_CONSUMER=bench-projector-%d", i+1)}, label: fmt.Sprintf("orderflow-projector %d", i+1)})
		if err != nil {
			return nil, err
		}
		projectors = append(projectors, p)
		fr.startup = max(fr.startup, p.Startup())
		e.printf("orderflow-projector %d %s ready in %s", i+1, p.URL(), p.Startup().Round(time.Millisecond))
	}

	application, err := wire.New(store, store, nil)
	if err != nil {
		return nil, err
	}
	place := func(ctx context.Context, rng *rand.Rand) (int, error) {
		lines := []domain.LineRequest{{ProductID: lg.products[rng.IntN(len(lg.products))], Quantity: 1}}
		if other := lg.products[rng.IntN(len(lg.products))]; rng.IntN(2) == 0 && other != lines[0].ProductID {
			lines = append(lines, domain.LineRequest{ProductID: other, Quantity: 1})
		}
		_, err := application.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: lg.customers[rng.IntN(len(lg.customers))], Lines: lines})
		return 1 + len(lines), err
	}
	e.printf("maximum write rate: orders through the store, %d clients, closed loop for %s, relay and projectors running", e.cfg.Clients, e.cfg.Calibration())
	if fr.max, err = runClosedLoop(ctx, e.out, "orders", e.cfg.Clients, e.cfg.Calibration(), e.cfg.ProgressPeriod, func(ctx context.Context, _ int, rng *rand.Rand) error {
		_, err := place(ctx, rng)
		return err
	}); err != nil {
		return nil, err
	}
	if err := waitProjected(ctx, e, relay); err != nil {
		return nil, err
	}
	client := newHTTPClient(2)
	defer client.CloseIdleConnections()
	before, err := freshnessSnapshot(ctx, client, relay, projectors)
	if err != nil {
		return nil, err
	}
	var events atomic.Int64
	rate := fr.max.Rate() / 2
	e.printf("freshness: orders at %s/s for %s in an open loop", thousands(rate), e.cfg.OpenLoop())
	start := time.Now()
	if fr.writes, err = runOpenLoop(ctx, e.out, "orders", rate, e.cfg.OpenLoop(), e.cfg.ProgressPeriod, func(ctx context.Context, i int, _ time.Time) error {
		n, err := place(ctx, rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(i))))
		if err == nil {
			events.Add(int64(n))
		}
		return err
	}); err != nil {
		return nil, err
	}
	fr.events = int(events.Load())
	if err := waitProjected(ctx, e, relay); err != nil {
		return nil, err
	}
	after, err := freshnessSnapshot(ctx, client, relay, projectors)
	if err != nil {
		return nil, err
	}
	fr.all, fr.orders, fr.relay = after.all.minus(before.all), after.orders.minus(before.orders), after.relay.minus(before.relay)
	fr.handled = after.handled.minus(before.handled)
	consumers, err := e.redis.XInfoConsumers(ctx, e.keys.EventStream(domain.OrderAggregate), streams.DefaultConsumerGroup).Result()
	if err != nil {
		return nil, fmt.Errorf("consumers of the order stream: %w", err)
	}
	fr.consumers = len(consumers)
	e.printf("  freshness over %s events: p50 %.2f ms, p99 %.2f ms (order events p99 %.2f ms); relay append → XADD p99 %.2f ms",
		thousands(fr.all.count), 1000*fr.all.quantile(0.5), 1000*fr.all.quantile(0.99), 1000*fr.orders.quantile(0.99), 1000*fr.relay.quantile(0.99))
	return fr, nil
}

// createGroupsAtEnd creates the projectors' consumer group at the end of
// every event stream, so that projectors started next skip what is already
// there (the log a suite built) and project only what follows.
func createGroupsAtEnd(ctx context.Context, e *env) error {
	for _, stream := range e.keys.EventStreams() {
		if err := e.redis.XGroupCreateMkStream(ctx, stream, streams.DefaultConsumerGroup, "$").Err(); err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create the consumer group on %s: %w", stream, err)
		}
	}
	return nil
}

// freshnessHistograms is one reading of the projectors' and the relay's histograms.
type freshnessHistograms struct {
	all, orders, relay, handled histogram
}

func freshnessSnapshot(ctx context.Context, client *http.Client, relay *process.Process, projectors []*process.Process) (freshnessHistograms, error) {
	const freshnessName = "orderflow_projector_freshness_seconds"
	var h freshnessHistograms
	for _, p := range projectors {
		fams, err := scrape(ctx, client, p.URL())
		if err != nil {
			return h, err
		}
		h.all = h.all.plus(fams.histogram(freshnessName, nil))
		h.orders = h.orders.plus(fams.histogram(freshnessName, map[string]string{"aggregate_type": domain.OrderAggregate}))
		h.handled = h.handled.plus(fams.histogram("orderflow_projector_handler_duration_seconds", map[string]string{"aggregate_type": domain.OrderAggregate}))
	}
	fams, err := scrape(ctx, client, relay.URL())
	if err != nil {
		return h, err
	}
	h.relay = fams.histogram("orderflow_relay_commit_to_publish_seconds", nil)
	return h, nil
}

// waitProjected waits until the relay published everything committed so far
// and the consumer group has nothing left to deliver or acknowledge.
func waitProjected(ctx context.Context, e *env, relay *process.Process) error {
	_, last, err := logBounds(ctx, e.db.pool)
	if err != nil {
		return err
	}
	if _, err := waitCheckpoint(ctx, e, relay, last, last, 0, time.Now(), time.Minute); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		lags, err := streams.ConsumerLag(ctx, e.redis, e.keys, streams.DefaultConsumerGroup)
		if err != nil {
			return err
		}
		busy := false
		for _, l := range lags {
			busy = busy || l.Lag != 0 || l.Pending != 0
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("projectors still behind after 2 minutes: %+v", lags)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// parseCount reads a count printed with thousands separators; 0 when it is
// not one.
func parseCount(s string) int64 {
	n, _ := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	return n
}

// A payloadRewrite is SQL that rewrites, in place, the log's events of the
// types whose shape changed since schema 1.
type payloadRewrite struct {
	name, products, orders string
}

// schemaOnePayloads turns today's ProductCreated and OrderPlaced into their
// schema 1 payloads, as a log written before the change holds them.
var schemaOnePayloads = payloadRewrite{
	name: "schema 1",
	products: `UPDATE events SET schema_version = 1,
	       data = (data - 'price') || jsonb_build_object('priceCents', data->'price'->'amount', 'currency', data->'price'->'currency')
	 WHERE event_type = 'ProductCreated' AND schema_version = 2`,
	orders: `UPDATE events SET schema_version = 1,
	       data = jsonb_set(data, '{lines}', (
	           SELECT COALESCE(jsonb_agg(l - 'currency' ORDER BY i), '[]'::jsonb)
	             FROM jsonb_array_elements(data->'lines') WITH ORDINALITY AS x(l, i)))
	 WHERE event_type = 'OrderPlaced' AND schema_version = 2`,
}

// todaysPayloads is schemaOnePayloads undone: what this build writes.
var todaysPayloads = payloadRewrite{
	name: "today's schemas",
	products: `UPDATE events SET schema_version = 2,
	       data = (data - 'priceCents' - 'currency') || jsonb_build_object('price', jsonb_build_object('amount', data->'priceCents', 'currency', data->'currency'))
	 WHERE event_type = 'ProductCreated' AND schema_version = 1`,
	orders: `UPDATE events SET schema_version = 2,
	       data = jsonb_set(data, '{lines}', (
	           SELECT COALESCE(jsonb_agg(l || jsonb_build_object('currency', data->'currency') ORDER BY i), '[]'::jsonb)
	             FROM jsonb_array_elements(data->'lines') WITH ORDINALITY AS x(l, i)))
	 WHERE event_type = 'OrderPlaced' AND schema_version = 1`,
}

// rewriteChangedEvents rewrites the bench log's events of every type whose
// shape changed since schema 1 with rw, re-packs the table in log order and
// returns how many events it rewrote. Only the bench does this, on its
// throwaway database: production never rewrites the log.
func rewriteChangedEvents(ctx context.Context, e *env, rw payloadRewrite) (int64, error) {
	e.printf("rewriting ProductCreated and OrderPlaced to their payloads at %s", rw.name)
	var products, orders int64
	err := e.db.pool.QueryRow(ctx, `
		WITH p AS (`+rw.products+` RETURNING 1),
		     o AS (`+rw.orders+` RETURNING 1)
		SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM o)`).Scan(&products, &orders)
	if err != nil {
		return 0, fmt.Errorf("rewrite the log to %s: %w", rw.name, err)
	}
	if products == 0 || orders == 0 {
		return 0, fmt.Errorf("rewrite the log to %s: %d ProductCreated and %d OrderPlaced rewritten, want some of each", rw.name, products, orders)
	}
	// The updates left dead tuples and moved the rewritten rows out of log
	// order: put the table back as appends had laid it out, so the replay
	// measures the payloads and not a bloated, scattered heap.
	if _, err := e.db.pool.Exec(ctx, `CLUSTER events USING events_pkey`); err != nil {
		return 0, fmt.Errorf("re-pack the rewritten log: %w", err)
	}
	if _, err := e.db.pool.Exec(ctx, `ANALYZE events`); err != nil {
		return 0, fmt.Errorf("re-pack the rewritten log: %w", err)
	}
	e.printf("  %s ProductCreated and %s OrderPlaced now at %s", thousands(float64(products)), thousands(float64(orders)), rw.name)
	return products + orders, nil
}
