package main

// One suite per file: the relay suite (draining a backlog, commit-to-XADD
// latency) and its report rows; past 400 lines because both phases share
// the log and the relay process they start.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// The relay suite answers the questions of the "orderflow-relay" issue:
//
//  1. How fast does the relay drain a backlog, compared with how fast this
//     PostgreSQL can append events at all (the bare-append ceiling)?
//  2. How long after its commit is an event on its stream, under a steady
//     write load at half the maximum rate?
func runRelay(ctx context.Context, e *env, r *Report) (err error) {
	pool := e.db.pool
	store := postgres.NewStore(pool)
	if _, err := pool.Exec(ctx, `CREATE TABLE bench_events (LIKE events INCLUDING ALL)`); err != nil {
		return fmt.Errorf("create bench_events: %w", err)
	}

	backlog := e.cfg.RelayBacklog()
	products, built, err := buildRestockLog(ctx, e, store, backlog)
	if err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	first, target, err := logBounds(ctx, pool)
	if err != nil {
		return err
	}

	// Bare append, drain, bare append: the two halves around the drain hit
	// linear drift of the machine as the drain does.
	bareAppend := func(ctx context.Context, _ int, rng *rand.Rand) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO bench_events (event_id, stream_type, stream_id, version, event_type, schema_version, data, metadata, occurred_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				uuid.Must(uuid.NewV7()), domain.ProductAggregate, uuid.Must(uuid.NewV7()), 1, "StockAdded", 1,
				fmt.Appendf(nil, `{"quantity":%d}`, 1+rng.IntN(100)), fmt.Appendf(nil, `{"correlationId":"%s"}`, uuid.New()), time.Now().UTC())
			return err
		})
	}
	half := e.cfg.Duration() / 2
	e.printf("bare append for %s, relay drain of %s events, bare append for %s", half, thousands(float64(backlog)), half)
	bare, err := runClosedLoop(ctx, e.out, "bare append 1/2", e.cfg.Clients, half, e.cfg.ProgressPeriod, bareAppend)
	if err != nil {
		return err
	}
	relay, err := startProcess(ctx, e, processSpec{bin: "orderflow-relay", addrEnv: "ORDERFLOW_RELAY_HTTP_ADDR", noWait: true})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, relay.Stop(stopWithin)) }()
	d, err := drainLog(ctx, e, relay, first, target, backlog)
	if err != nil {
		return err
	}
	bare2, err := runClosedLoop(ctx, e.out, "bare append 2/2", e.cfg.Clients, half, e.cfg.ProgressPeriod, bareAppend)
	if err != nil {
		return err
	}
	bare = bare.merge(bare2)

	lat, err := commitToXAdd(ctx, e, relay, store, products)
	if err != nil {
		return err
	}

	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rss, err := relay.PeakRSS()
	if err != nil {
		return fmt.Errorf("orderflow-relay memory: %w", err)
	}
	bareRow := figure("bare append (BEGIN; INSERT one event row; COMMIT)", bare.Rate(), "events/s")
	xaddP50 := figure("bare XADD p50 (open loop, same rate)", ms(lat.xadd.Percentile(0.50)), "ms")
	xaddP99 := figure("bare XADD p99 (open loop, same rate)", ms(lat.xadd.Percentile(0.99)), "ms")
	r.add(
		bareRow,
		figure(fmt.Sprintf("relay drain of a %s-event backlog (exec to last checkpoint)", thousands(float64(backlog))), float64(backlog)/d.took.Seconds(), "events/s").
			against(bareRow).goal("ratio", ">=", 5),
		figure("relay drain, last tenth of the backlog", float64(backlog)/10/d.lastTenth.Seconds(), "events/s").
			against(figure("first tenth", float64(backlog)/10/d.firstTenth.Seconds(), "events/s")),
		figure("orderflow-relay start-up to /readyz", ms(relay.Startup()), "ms").goal("value", "<=", 2000),
		figure("maximum write rate (restocks through the store, closed loop)", lat.max.Rate(), "tx/s").against(bareRow),
		figure("open-loop writer at half of it (achieved)", lat.writes.Rate(), "tx/s").against(figure("target", lat.writes.Target, "tx/s")),
		xaddP50,
		xaddP99,
		figure("commit → XADD p50 (stream entry ids)", ms(lat.commitP(0.50)), "ms").against(xaddP50),
		figure("commit → XADD p99 (stream entry ids)", ms(lat.commitP(0.99)), "ms").against(xaddP99).goal("value", "<=", 10),
		figure("scheduled send → XADD p99 (end to end, no coordinated omission)", ms(lat.scheduledP(0.99)), "ms").against(xaddP99),
		figure("relay's own histogram, append → XADD p99 (commit_to_publish_seconds)", 1000*lat.hist.quantile(0.99), "ms").against(xaddP99),
		figure("restock latency from scheduled send p99", ms(lat.writes.Percentile(0.99)), "ms").against(figure("closed loop at the maximum rate", ms(lat.max.Percentile(0.99)), "ms")),
		figure("open-loop events found on the stream", float64(len(lat.commit)), "").correct(float64(lat.writes.OK)),
		figure("orderflow-relay peak RSS", rss, "MiB").goal("value", "<=", 150),
		figure("orderflow-relay CPU during the drain", 100*cpuShare(d.relayCPU, d.took), "%"),
		figure("machine CPU busy during the drain", 100*d.machine.Busy(), "%"),
		figure("machine CPU busy during the open loop", 100*lat.writes.Machine.Busy(), "%"),
	)
	r.note("Backlog: %s events appended through the store before the relay started, in transactions of up to %d events (%d products created and restocked %d times each, %d builders), at %s events/s. The drain is timed from the relay's exec to its checkpoint reaching the last committed (tx id, position): %s, %s of it start-up.",
		thousands(float64(backlog)), restockChunk, len(products), restocksPerProduct-1, restockBuilders, thousands(float64(backlog)/built.Seconds()), d.took.Round(time.Millisecond), relay.Startup().Round(time.Millisecond))
	r.note("The first tenth of the drain (start-up included) took %s, the last tenth %s: a relay whose reads cost the same whatever the backlog drains at a steady rate; a last tenth much faster than the first means each batch's read costs time in proportion to the backlog left.",
		d.firstTenth.Round(time.Millisecond), d.lastTenth.Round(time.Millisecond))
	r.note("Bare append: %d clients, %s transactions of one StockAdded-sized row into bench_events, a copy of the events table with its indexes (the relay must not see them), %s before and %s after the drain.",
		bare.Clients, thousands(float64(bare.OK)), half, half)
	r.note("Commit → XADD: restocks through the store (app.RestockProduct, one event per transaction) scheduled at %s/s, half the closed-loop maximum of %s/s, in %d rounds alternating (ABBA) with an open-loop XADD of a real entry's fields to a scratch stream at the same rate. Latency is the stream entry id's millisecond (+0.5 ms, its resolution) minus the time the commit returned to the writer; the relay's own histogram measures from the event's occurred-at, taken before the commit, with buckets of 1, 2.5, 5, 10 ms.",
		thousands(lat.writes.Target), thousands(lat.max.Rate()), e.cfg.Rounds())
	if lat.writes.Failed > 0 {
		r.note("Open-loop restocks failed: %d (%v): %s", lat.writes.Failed, lat.writes.ErrorKinds, strings.Join(lat.writes.ErrorSamples, " | "))
	}
	return nil
}

// The relay's backlog: every transaction creates restockProducts products
// and restocks each, so the events spread over many streams.
const (
	restockChunk       = 1_000
	restocksPerProduct = 200 // events per product per transaction, its creation included
	restockBuilders    = 4
)

// buildRestockLog appends n events through the real store and returns the
// products they belong to and the time it took.
func buildRestockLog(ctx context.Context, e *env, store *postgres.Store, n int) ([]string, time.Duration, error) {
	start := time.Now()
	txs := (n + restockChunk - 1) / restockChunk
	ids := make([][]string, txs)
	e.printf("appending %s events through the store, %d builders, transactions of up to %s events", thousands(float64(n)), restockBuilders, thousands(restockChunk))
	err := runCount(ctx, e.out, "backlog transactions", txs, restockBuilders, func(ctx context.Context, tx int) error {
		events := min(restockChunk, n-tx*restockChunk)
		var aggs []domain.Aggregate
		for k := 0; events > 0; k++ {
			id := uuid.Must(uuid.NewV7()).String()
			p, err := domain.CreateProduct(id, fmt.Sprintf("R%06d-%d", tx, k), fmt.Sprintf("Relay product %d-%d", tx, k), "Restocked by the relay benchmark.", 500+int64(k), "EUR", 1_000_000)
			if err != nil {
				return err
			}
			for range min(restocksPerProduct, events) - 1 {
				if err := p.AddStock(1); err != nil {
					return err
				}
			}
			events -= min(restocksPerProduct, events)
			aggs = append(aggs, p)
			ids[tx] = append(ids[tx], id)
		}
		return store.Update(ctx, func(ctx context.Context, t app.Tx) error {
			_, err := t.Save(ctx, aggs...)
			return err
		})
	})
	if err != nil {
		return nil, 0, err
	}
	return slices.Concat(ids...), time.Since(start), nil
}

// logBounds is the commit-order position of the log's first and last events.
func logBounds(ctx context.Context, pool *pgxpool.Pool) (first, last apprelay.LogPosition, err error) {
	var ftx, ltx string
	err = pool.QueryRow(ctx, `SELECT
		(SELECT tx_id::text || ':' || global_position FROM events ORDER BY tx_id, global_position LIMIT 1),
		(SELECT tx_id::text || ':' || global_position FROM events ORDER BY tx_id DESC, global_position DESC LIMIT 1)`).Scan(&ftx, &ltx)
	if err != nil {
		return first, last, fmt.Errorf("log bounds: %w", err)
	}
	if first, err = apprelay.ParseLogPosition(ftx); err != nil {
		return first, last, err
	}
	last, err = apprelay.ParseLogPosition(ltx)
	return first, last, err
}

// drained is what a drain measured.
type drained struct {
	took     time.Duration
	relayCPU time.Duration
	machine  machineCPU
	// firstTenth and lastTenth are how long the first and the last tenth
	// of the backlog took: equal when a batch costs the same however much
	// is left.
	firstTenth, lastTenth time.Duration
}

// drainLog waits until the relay's checkpoint reaches target, printing
// progress, and waits for the relay to be ready. The time counts from the
// relay's start.
func drainLog(ctx context.Context, e *env, relay *process.Process, first, target apprelay.LogPosition, events int) (*drained, error) {
	machine0 := readMachineCPU()
	ready := make(chan error, 1)
	go func() { ready <- relay.WaitReady(ctx, e.cfg.ReadyTimeout) }()
	took, tenths, err := waitCheckpointTenths(ctx, e, relay, first, target, events, relay.Started(), 10*time.Minute)
	if err != nil {
		return nil, err
	}
	d := &drained{took: took, machine: readMachineCPU().sub(machine0), firstTenth: tenths[0], lastTenth: tenths[9] - tenths[8]}
	if err := <-ready; err != nil {
		return nil, err
	}
	if d.relayCPU, err = relay.CPU(); err != nil {
		return nil, fmt.Errorf("orderflow-relay CPU: %w", err)
	}
	e.printf("  relay drained %s events in %s from its start (%s events/s); ready after %s; relay CPU %.0f%% of the machine, machine busy %.0f%%",
		thousands(float64(events)), took.Round(time.Millisecond), thousands(float64(events)/took.Seconds()), relay.Startup().Round(time.Millisecond),
		100*cpuShare(d.relayCPU, took), 100*d.machine.Busy())
	return d, nil
}

// waitCheckpoint polls the relay's checkpoint every 2 ms until it reaches
// target and returns the time since since. Progress is estimated from the
// global positions between first and target.
func waitCheckpoint(ctx context.Context, e *env, relay *process.Process, first, target apprelay.LogPosition, events int, since time.Time, limit time.Duration) (time.Duration, error) {
	took, _, err := waitCheckpointTenths(ctx, e, relay, first, target, events, since, limit)
	return took, err
}

// waitCheckpointTenths is waitCheckpoint that also returns when the
// checkpoint passed each tenth of the way from first to target (by global
// position, since since).
func waitCheckpointTenths(ctx context.Context, e *env, relay *process.Process, first, target apprelay.LogPosition, events int, since time.Time, limit time.Duration) (time.Duration, [10]time.Duration, error) {
	var tenths [10]time.Duration
	passed := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	// The count is estimated from global positions: "about" so many events.
	bar := progress.New(e.out, progress.Config{Label: "  relay: about", Total: int64(events), Unit: "events published", Every: e.cfg.ProgressPeriod})
	defer bar.Stop()
	deadline := time.Now().Add(limit)
	for {
		s, err := e.redis.Get(ctx, e.keys.RelayCheckpoint()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, tenths, fmt.Errorf("read the relay checkpoint: %w", err)
		}
		cp, err := apprelay.ParseLogPosition(s)
		if err != nil {
			return 0, tenths, err
		}
		share := 1.0
		if span := target.Position - first.Position; span > 0 {
			share = min(max(float64(cp.Position-first.Position)/float64(span), 0), 1)
		}
		if !target.After(cp) {
			share = 1
		}
		for ; passed < 10 && share >= float64(passed+1)/10; passed++ {
			tenths[passed] = time.Since(since)
		}
		if !target.After(cp) {
			return time.Since(since), tenths, nil
		}
		bar.Set(int64(share * float64(events)))
		if time.Now().After(deadline) {
			return 0, tenths, fmt.Errorf("the relay's checkpoint %s did not reach %s within %s", cp, target, limit)
		}
		select {
		case <-ctx.Done():
			return 0, tenths, ctx.Err()
		case <-relay.Done():
			return 0, tenths, fmt.Errorf("orderflow-relay exited: %v", relay.Err())
		case <-tick.C:
		}
	}
}

// latencies is what the commit → XADD phase measured.
type latencies struct {
	max, writes, xadd *loadResult
	// commit and scheduled are, per event found on the stream, the time
	// from its commit (from its scheduled send) to its XADD; sorted.
	commit, scheduled []time.Duration
	hist              histogram
}

func (l *latencies) commitP(p float64) time.Duration    { return percentile(l.commit, p) }
func (l *latencies) scheduledP(p float64) time.Duration { return percentile(l.scheduled, p) }

// percentile is the nearest-rank percentile of sorted ds, 0 when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// committed is one open-loop write: when it was scheduled and when its
// commit returned.
type committed struct {
	scheduled, at time.Time
}

// commitToXAdd finds the maximum restock rate with the relay running, then
// writes at half of it in an open loop, in rounds alternating with an
// open-loop XADD baseline, and matches every written event with its stream
// entry.
func commitToXAdd(ctx context.Context, e *env, relay *process.Process, store *postgres.Store, products []string) (*latencies, error) {
	application, err := wire.New(store, store, nil)
	if err != nil {
		return nil, err
	}
	restock := func(ctx context.Context, id string) (int64, error) {
		p, err := application.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: id, Quantity: 1})
		return p.Version, err
	}
	l := &latencies{}
	e.printf("maximum write rate: restocks through the store, %d clients, closed loop for %s, relay running", e.cfg.Clients, e.cfg.Calibration())
	if l.max, err = runClosedLoop(ctx, e.out, "restocks", e.cfg.Clients, e.cfg.Calibration(), e.cfg.ProgressPeriod, func(ctx context.Context, _ int, rng *rand.Rand) error {
		_, err := restock(ctx, products[rng.IntN(len(products))])
		return err
	}); err != nil {
		return nil, err
	}
	rate := l.max.Rate() / 2
	_, last, err := logBounds(ctx, e.db.pool)
	if err != nil {
		return nil, err
	}
	if _, err := waitCheckpoint(ctx, e, relay, last, last, 0, time.Now(), time.Minute); err != nil {
		return nil, err
	}
	sample, err := e.redis.XRevRangeN(ctx, e.keys.EventStream(domain.ProductAggregate), "+", "-", 1).Result()
	if err != nil || len(sample) == 0 {
		return nil, fmt.Errorf("read an entry of the product stream: %v", err)
	}
	scratch := e.keys.Prefix + "bench:xadd"

	var (
		mu      sync.Mutex
		commits = map[string]committed{}
	)
	write := func(ctx context.Context, i int, scheduled time.Time) error {
		id := products[i%len(products)]
		version, err := restock(ctx, id)
		if err != nil {
			return err
		}
		at := time.Now()
		mu.Lock()
		commits[id+"/"+strconv.FormatInt(version, 10)] = committed{scheduled: scheduled, at: at}
		mu.Unlock()
		return nil
	}
	xadd := func(ctx context.Context, _ int, _ time.Time) error {
		return e.redis.XAdd(ctx, &redis.XAddArgs{Stream: scratch, MaxLen: 100_000, Approx: true, Values: sample[0].Values}).Err()
	}
	hist0, err := scrape(ctx, newHTTPClient(1), relay.URL())
	if err != nil {
		return nil, err
	}
	rounds := e.cfg.Rounds()
	slice := e.cfg.OpenLoop() / time.Duration(rounds)
	streamStart := time.Now()
	e.printf("commit → XADD: %d rounds of %s each of open-loop restocks and open-loop XADD at %s/s", rounds, slice.Round(time.Millisecond), thousands(rate))
	for i := range rounds {
		writesFirst := i%2 == 0
		for _, writes := range []bool{writesFirst, !writesFirst} {
			if writes {
				res, err := runOpenLoop(ctx, e.out, fmt.Sprintf("restocks %d/%d", i+1, rounds), rate, slice, e.cfg.ProgressPeriod, write)
				if err != nil {
					return nil, err
				}
				l.writes = l.writes.merge(res)
				continue
			}
			res, err := runOpenLoop(ctx, e.out, fmt.Sprintf("XADD %d/%d", i+1, rounds), rate, slice, e.cfg.ProgressPeriod, xadd)
			if err != nil {
				return nil, err
			}
			l.xadd = l.xadd.merge(res)
		}
	}
	if _, last, err = logBounds(ctx, e.db.pool); err != nil {
		return nil, err
	}
	if _, err := waitCheckpoint(ctx, e, relay, last, last, 0, time.Now(), time.Minute); err != nil {
		return nil, err
	}
	hist1, err := scrape(ctx, newHTTPClient(1), relay.URL())
	if err != nil {
		return nil, err
	}
	const histName = "orderflow_relay_commit_to_publish_seconds"
	l.hist = hist1.histogram(histName, nil).minus(hist0.histogram(histName, nil))

	// Match every entry written since the open loop began with its commit.
	stream := e.keys.EventStream(domain.ProductAggregate)
	start := strconv.FormatInt(streamStart.UnixMilli(), 10) + "-0"
	for {
		entries, err := e.redis.XRangeN(ctx, stream, start, "+", 10_000).Result()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", stream, err)
		}
		for _, entry := range entries {
			msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(entry.Values)
			if err != nil {
				return nil, fmt.Errorf("entry %s: %w", entry.ID, err)
			}
			c, ok := commits[msg.Metadata.Get(streams.MetaAggregateID)+"/"+msg.Metadata.Get(streams.MetaVersion)]
			if !ok {
				continue
			}
			msText, _, _ := strings.Cut(entry.ID, "-")
			ms, err := strconv.ParseInt(msText, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("entry id %s: %w", entry.ID, err)
			}
			// The id has millisecond resolution: take the middle of its millisecond.
			xaddAt := time.UnixMicro(ms*1000 + 500)
			l.commit = append(l.commit, xaddAt.Sub(c.at))
			l.scheduled = append(l.scheduled, xaddAt.Sub(c.scheduled))
		}
		if len(entries) < 10_000 {
			break
		}
		start = "(" + entries[len(entries)-1].ID
	}
	slices.Sort(l.commit)
	slices.Sort(l.scheduled)
	e.printf("  commit → XADD over %s events: p50 %s, p99 %s, max %s; relay histogram p99 %.2f ms; bare XADD p99 %s",
		thousands(float64(len(l.commit))), l.commitP(0.5).Round(10*time.Microsecond), l.commitP(0.99).Round(10*time.Microsecond),
		percentile(l.commit, 1).Round(10*time.Microsecond), 1000*l.hist.quantile(0.99), l.xadd.Percentile(0.99).Round(time.Microsecond))
	return l, nil
}
