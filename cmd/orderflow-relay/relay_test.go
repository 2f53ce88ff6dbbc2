package main_test

// These tests run orderflow-relay as a real process (built once per test
// binary by testenv, with the race detector under make test) against real PostgreSQL and Redis, kill it with SIGKILL,
// cut its Redis connection, run two of it at once, and then check against
// the event store that every committed event reached its stream once, each
// aggregate's versions in order.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	apprelay "github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/faultproxy"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is what every relay of one test shares: its database, Redis and
// prefix, and the settings of every relay it starts.
type env struct {
	*testenv.Env
	t        *testing.T
	settings map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{Env: testenv.New(t, testenv.Options{Redis: true}), t: t, settings: map[string]string{}}
}

// relay is one orderflow-relay process.
type relay struct {
	*process.Process
	t *testing.T
}

var relayCount atomic.Int64

// start runs a relay process and waits for its ops server (not for its
// readiness: a standby is never ready).
func (e *env) start(extra map[string]string) *relay {
	e.t.Helper()
	settings := e.Settings()
	maps.Copy(settings, map[string]string{
		"ORDERFLOW_RELAY_BATCH_SIZE":    "500",
		"ORDERFLOW_RELAY_POLL_INTERVAL": "50ms",
		"ORDERFLOW_STREAM_MAXLEN":       "1000000",
	})
	maps.Copy(settings, e.settings)
	maps.Copy(settings, extra)
	p := testenv.StartListening(e.t, process.Spec{
		Name: fmt.Sprintf("relay-%d", relayCount.Add(1)), Path: testenv.Binaries(e.t).Relay,
		Settings: settings, AddrEnv: "ORDERFLOW_RELAY_HTTP_ADDR",
	})
	return &relay{Process: p, t: e.t}
}

// kill ends the relay with SIGKILL and waits for it to be gone.
func (r *relay) kill() { r.Kill() }

// metric reads one unlabelled sample from the relay's /metrics.
func (r *relay) metric(name string) (float64, error) {
	return r.Metric(context.Background(), name)
}

func (r *relay) mustMetric(name string) float64 {
	r.t.Helper()
	v, err := r.metric(name)
	if err != nil {
		r.t.Fatalf("%s: %v", r.Name, err)
	}
	return v
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// readyz returns the status of /readyz.
func (r *relay) readyz() int {
	resp, err := httpClient.Get(r.URL() + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// ---------------------------------------------------------------------------
// writing through the real store

// createProducts creates n products in transactions of up to batch each.
func (e *env) createProducts(ctx context.Context, n, batch int, sku string) ([]string, error) {
	ids := make([]string, 0, n)
	for len(ids) < n {
		size := min(batch, n-len(ids))
		var created []string
		err := e.Store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			created = created[:0]
			aggs := make([]domain.Aggregate, 0, size)
			for i := range size {
				id := uuid.Must(uuid.NewV7()).String()
				p, err := domain.CreateProduct(id, fmt.Sprintf("%s-%d", sku, len(ids)+i), "Product", "", 100, "EUR", 0)
				if err != nil {
					return err
				}
				aggs = append(aggs, p)
				created = append(created, id)
			}
			_, err := tx.Save(ctx, aggs...)
			return err
		})
		if err != nil {
			return nil, err
		}
		ids = append(ids, created...)
	}
	return ids, nil
}

// restock appends one StockAdded to each product, in one transaction.
func (e *env) restock(ctx context.Context, ids []string) error {
	return e.Store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
		products, err := tx.LoadProducts(ctx, ids...)
		if err != nil {
			return err
		}
		aggs := make([]domain.Aggregate, 0, len(ids))
		for _, id := range ids {
			if err := products[id].AddStock(1); err != nil {
				return err
			}
			aggs = append(aggs, products[id])
		}
		_, err = tx.Save(ctx, aggs...)
		return err
	})
}

// writer restocks products in batches from its own goroutine until stopped.
type writer struct {
	stop    chan struct{}
	done    chan error
	batches atomic.Int64
}

func (e *env) startWriter(ids []string, batch int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				w.done <- nil
				return
			default:
			}
			from := (i * batch) % len(ids)
			if err := e.restock(context.Background(), ids[from:min(from+batch, len(ids))]); err != nil {
				w.done <- err
				return
			}
			w.batches.Add(1)
		}
	}()
	e.t.Cleanup(func() {
		select {
		case <-w.stop:
		default:
			close(w.stop)
			<-w.done
		}
	})
	return w
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	if err := <-w.done; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// ---------------------------------------------------------------------------
// checking the streams against the log

// checkpoint reads the relay's checkpoint from Redis: with several stream
// shards, the lowest shard checkpoint.
func (e *env) checkpoint() string {
	e.t.Helper()
	if e.Keys.Shards() > 1 {
		cp, err := streams.NewPublisher(e.Redis, e.Keys, 1).Checkpoint(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if cp == (apprelay.LogPosition{}) {
			return ""
		}
		return cp.String()
	}
	s, err := e.Redis.Get(context.Background(), e.Keys.RelayCheckpoint()).Result()
	if errors.Is(err, redis.Nil) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// lastCommitted is the log position of the last committed event.
func (e *env) lastCommitted() string {
	e.t.Helper()
	var pos apprelay.LogPosition
	var tx int64
	err := e.Pool.QueryRow(context.Background(), `SELECT tx_id::text::bigint, global_position FROM events
		ORDER BY tx_id DESC, global_position DESC LIMIT 1`).Scan(&tx, &pos.Position)
	if err != nil {
		e.t.Fatal(err)
	}
	pos.TxID = uint64(tx)
	return pos.String()
}

// awaitDrained waits until the checkpoint is at the last committed event.
func (e *env) awaitDrained(timeout time.Duration) {
	e.t.Helper()
	last := e.lastCommitted()
	testenv.WaitFor(e.t, timeout, "relay drained", func() (bool, string) {
		cp := e.checkpoint()
		return cp == last, fmt.Sprintf("checkpoint %q, last committed %q", cp, last)
	})
}

// entry is a stream entry as a Watermill subscriber would read it.
type entry struct {
	eventID, aggregateID string
	version              int64
}

// readStream reads a whole stream through Watermill's unmarshaller.
// typeEntries reads an aggregate type's streams of every shard.
func (e *env) typeEntries(aggregateType string) []entry {
	var out []entry
	for shard := range e.Keys.Shards() {
		out = append(out, e.readStream(e.Keys.ShardEventStream(aggregateType, shard))...)
	}
	return out
}

func (e *env) readStream(stream string) []entry {
	e.t.Helper()
	var (
		out   []entry
		start = "-"
	)
	unmarshaller := redisstream.DefaultMarshallerUnmarshaller{}
	for {
		msgs, err := e.Redis.XRangeN(context.Background(), stream, start, "+", 5000).Result()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range msgs {
			msg, err := unmarshaller.Unmarshal(m.Values)
			if err != nil {
				e.t.Fatalf("stream %s entry %s: %v", stream, m.ID, err)
			}
			v, err := strconv.ParseInt(msg.Metadata.Get("version"), 10, 64)
			if err != nil {
				e.t.Fatalf("stream %s entry %s: version %q: %v", stream, m.ID, msg.Metadata.Get("version"), err)
			}
			out = append(out, entry{eventID: msg.UUID, aggregateID: msg.Metadata.Get("aggregate_id"), version: v})
		}
		if len(msgs) < 5000 {
			return out
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// verify checks that every committed event is in its stream, nothing else
// is, and each aggregate's versions rise in stream order; it returns the
// number of duplicate entries.
func (e *env) verify() (events, duplicates int) {
	t := e.t
	t.Helper()
	type logged struct {
		streamType, aggregateID string
		version                 int64
	}
	log := map[string]logged{}
	rows, err := e.Pool.Query(context.Background(), `SELECT event_id::text, stream_type, stream_id::text, version FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var l logged
		if err := rows.Scan(&id, &l.streamType, &l.aggregateID, &l.version); err != nil {
			t.Fatal(err)
		}
		log[id] = l
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	for _, aggregateType := range []string{domain.ProductAggregate, domain.CustomerAggregate, domain.OrderAggregate} {
		last := map[string]int64{}
		for i, en := range e.typeEntries(aggregateType) {
			l, ok := log[en.eventID]
			switch {
			case !ok:
				t.Fatalf("%s stream entry %d: event %s is not in the log", aggregateType, i, en.eventID)
			case l.streamType != aggregateType || l.aggregateID != en.aggregateID || l.version != en.version:
				t.Fatalf("%s stream entry %d: event %s says %s %s v%d, the log %s %s v%d", aggregateType, i, en.eventID,
					aggregateType, en.aggregateID, en.version, l.streamType, l.aggregateID, l.version)
			case seen[en.eventID]:
				duplicates++
				continue
			}
			seen[en.eventID] = true
			if en.version <= last[en.aggregateID] {
				t.Errorf("%s stream entry %d: aggregate %s version %d after version %d", aggregateType, i, en.aggregateID, en.version, last[en.aggregateID])
			}
			last[en.aggregateID] = en.version
		}
	}
	missing := 0
	for id := range log {
		if !seen[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d committed events are missing from the streams", missing, len(log))
	}
	return len(log), duplicates
}

// ---------------------------------------------------------------------------
// the tests

// 8 writers append 20,000 events over 1,000 products while the relay is
// killed with SIGKILL at random moments and restarted, 10 times. Afterwards
// every committed event is in the stream, in order per aggregate, and none
// twice: the batch and the checkpoint move in one Lua script, so a relay
// that dies before the script ran publishes nothing, one that dies after it
// finds the checkpoint past the batch, and one whose reply was lost is
// refused by the checkpoint compare-and-set.
func TestRelaySurvivesKill9Loop(t *testing.T) {
	e := newEnv(t)
	e.settings["ORDERFLOW_RELAY_LEAD_RETRY"] = "100ms"
	const (
		writers         = 8
		productsPerW    = 125 // 1,000 products
		batch           = 25
		restocksPerProd = 19 // 1,000 creations + 19,000 restocks = 20,000 events
		kills           = 10
	)
	total := writers * productsPerW * (1 + restocksPerProd)
	// Each writer owns its 125 products, so writers never wait for one
	// another's row locks: contention on one aggregate is what the outbox
	// ordering tests in adapters/postgres cover.

	current := e.start(nil)
	var (
		wg        sync.WaitGroup
		written   atomic.Int64 // events committed so far
		finished  atomic.Int64 // writers through
		writeErrs = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer finished.Add(1)
			ctx := context.Background()
			ids, err := e.createProducts(ctx, productsPerW, batch, fmt.Sprintf("K%d", w))
			if err != nil {
				writeErrs <- err
				return
			}
			written.Add(productsPerW)
			for range restocksPerProd {
				for i := 0; i < len(ids); i += batch {
					if err := e.restock(ctx, ids[i:i+batch]); err != nil {
						writeErrs <- err
						return
					}
					written.Add(batch)
				}
			}
		}()
	}

	var killedAt []string // events written and checkpoint at each kill
	for k := range kills {
		// Spread the kills over the writes: kill k waits for k/11 of the
		// events to be committed and for the relay to have moved the
		// checkpoint since it started (so it is at work), then for a random
		// moment more.
		since := e.checkpoint()
		testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("kill %d due", k+1), func() (bool, string) {
			due := written.Load() >= int64((k+1)*total/(kills+1)) || finished.Load() == writers
			return due && (e.checkpoint() != since || finished.Load() == writers),
				fmt.Sprintf("%d events written, checkpoint %s", written.Load(), since)
		})
		<-time.After(time.Duration(rand.IntN(100)) * time.Millisecond) // the random kill moment
		current.kill()
		killedAt = append(killedAt, fmt.Sprintf("%d written/%s", written.Load(), e.checkpoint()))
		current = e.start(nil)
	}
	wg.Wait()
	close(writeErrs)
	for err := range writeErrs {
		t.Fatalf("writer: %v", err)
	}

	e.awaitDrained(90 * time.Second)
	events, duplicates := e.verify()
	if events != total {
		t.Errorf("log holds %d events, want %d", events, total)
	}
	t.Logf("kill -9 loop: %d events, %d kills (at %s), %d duplicate stream entries", events, kills, strings.Join(killedAt, ", "), duplicates)
	if duplicates != 0 {
		t.Errorf("%d duplicate stream entries, want 0 (the checkpoint compare-and-set forbids re-publishing)", duplicates)
	}
}

// Two relays: one leads and publishes, the other stands by; killed, the
// leader is replaced within 5 s, and nothing is lost or reordered.
func TestStandbyRelayTakesOverWithin5s(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.start(nil), e.start(nil) // default lead retry (1 s)

	var leader, standby *relay
	testenv.WaitFor(t, 15*time.Second, "one relay active", func() (bool, string) {
		va, errA := a.metric("orderflow_relay_active")
		vb, errB := b.metric("orderflow_relay_active")
		switch {
		case errA != nil || errB != nil:
			return false, fmt.Sprint(errA, errB)
		case va == 1 && vb == 0:
			leader, standby = a, b
		case va == 0 && vb == 1:
			leader, standby = b, a
		case va == 1 && vb == 1:
			t.Fatalf("both relays report active 1")
		}
		return leader != nil, fmt.Sprintf("active %v and %v", va, vb)
	})

	ids, err := e.createProducts(ctx, 50, 25, "TWO")
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := e.restock(ctx, ids); err != nil {
			t.Fatal(err)
		}
	}
	e.awaitDrained(30 * time.Second)
	if got := leader.mustMetric("orderflow_relay_published_total"); got != 550 {
		t.Errorf("leader published_total = %v, want 550", got)
	}
	if got := standby.mustMetric("orderflow_relay_published_total"); got != 0 {
		t.Errorf("standby published_total = %v, want 0", got)
	}
	if got := standby.mustMetric("orderflow_relay_active"); got != 0 {
		t.Errorf("standby active = %v, want 0", got)
	}
	if got := leader.mustMetric("orderflow_relay_active"); got != 1 {
		t.Errorf("leader active = %v, want 1", got)
	}

	w := e.startWriter(ids, 10)
	testenv.WaitFor(t, 30*time.Second, "writes under way", func() (bool, string) {
		return w.batches.Load() >= 5, fmt.Sprint(w.batches.Load(), " batches")
	})
	leader.kill()
	killedAt := time.Now()
	testenv.WaitFor(t, 10*time.Second, "standby active", func() (bool, string) {
		v, err := standby.metric("orderflow_relay_active")
		return err == nil && v == 1, fmt.Sprint(v, err)
	})
	if took := time.Since(killedAt); took > 5*time.Second {
		t.Errorf("standby took over %s after the leader's death, want within 5 s", took)
	} else {
		t.Logf("standby took over %s after the leader's death", took.Round(time.Millisecond))
	}
	before := w.batches.Load()
	testenv.WaitFor(t, 30*time.Second, "writes after take-over", func() (bool, string) {
		return w.batches.Load() >= before+5, fmt.Sprint(w.batches.Load(), " batches")
	})
	w.finish(t)
	e.awaitDrained(30 * time.Second)
	if got := standby.mustMetric("orderflow_relay_published_total"); got <= 0 {
		t.Errorf("new leader published_total = %v, want > 0", got)
	}
	_, duplicates := e.verify()
	if duplicates != 0 {
		t.Errorf("%d duplicate stream entries, want 0", duplicates)
	}
}

// With Redis unreachable for about 10 s (its connections cut by a proxy)
// while writes go on, readiness reports the outage; once Redis is back the
// relay recovers by itself and nothing is lost.
func TestRelayRecoversFromRedisOutage(t *testing.T) {
	if redistest.Cluster(t) {
		t.Skip("the proxy stands in for one server; a cluster's clients follow the nodes' own addresses (the single-node pass runs this)")
	}
	e := newEnv(t)
	ctx := context.Background()
	target, err := url.Parse(e.RedisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, target.Host)
	viaProxy := *target
	viaProxy.Host = proxy.Addr()
	r := e.start(map[string]string{"ORDERFLOW_REDIS_URL": viaProxy.String()})

	ids, err := e.createProducts(ctx, 40, 20, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	w := e.startWriter(ids[10:], 10) // the loop below writes ids[:10]
	testenv.WaitFor(t, 30*time.Second, "relay publishing", func() (bool, string) {
		return e.checkpoint() != "" && r.readyz() == http.StatusOK, fmt.Sprintf("checkpoint %q", e.checkpoint())
	})

	proxy.Cut()
	cutAt := time.Now()
	testenv.WaitFor(t, 10*time.Second, "readiness shows the outage", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusServiceUnavailable, fmt.Sprint("/readyz ", code)
	})
	atOutage := w.batches.Load()
	for time.Now().Before(cutAt.Add(10 * time.Second)) { // the outage lasts 10 s; writes go on
		if err := e.restock(ctx, ids[:10]); err != nil {
			t.Fatal(err)
		}
	}
	if w.batches.Load() == atOutage {
		t.Fatal("no writes during the outage")
	}
	if code := r.readyz(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz at the end of the outage = %d, want 503", code)
	}
	proxy.Restore()
	testenv.WaitFor(t, 30*time.Second, "readiness after Redis is back", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusOK, fmt.Sprint("/readyz ", code)
	})
	w.finish(t)
	e.awaitDrained(30 * time.Second)
	events, duplicates := e.verify()
	t.Logf("Redis outage: %d events, %d duplicates", events, duplicates)
	if duplicates != 0 {
		t.Errorf("%d duplicate stream entries, want 0", duplicates)
	}
}

// An unrelated transaction left open with an id holds back every later
// commit, and the relay's gauge shows its age; once it ends, everything is
// delivered.
func TestOpenTransactionDelaysButLosesNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r := e.start(nil)
	ids, err := e.createProducts(ctx, 10, 10, "OPEN")
	if err != nil {
		t.Fatal(err)
	}
	e.awaitDrained(30 * time.Second)
	published := e.checkpoint()
	streamLen := len(e.typeEntries(domain.ProductAggregate))

	conn, err := e.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	open, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx)
	if _, err := open.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	openedAt := time.Now()
	for range 3 {
		if err := e.restock(ctx, ids); err != nil {
			t.Fatal(err)
		}
	}
	committed := time.Since(openedAt).Seconds()

	// Once the gauge reads a second past the commits, the relay (woken by
	// their notifications, and polling every 50 ms) has read many times
	// since: the commits must still be held back.
	testenv.WaitFor(t, 30*time.Second, "oldest in-flight transaction gauge", func() (bool, string) {
		v, err := r.metric("orderflow_relay_oldest_inflight_transaction_seconds")
		return err == nil && v > committed+1, fmt.Sprint(v, err)
	})
	if got := r.mustMetric("orderflow_relay_oldest_inflight_transaction_seconds"); got <= 0 {
		t.Errorf("oldest_inflight_transaction_seconds = %v while a transaction is open, want > 0", got)
	}
	if cp := e.checkpoint(); cp != published {
		t.Errorf("checkpoint moved from %s to %s while an older transaction was open", published, cp)
	}
	if n := len(e.typeEntries(domain.ProductAggregate)); n != streamLen {
		t.Errorf("stream grew from %d to %d entries while an older transaction was open", streamLen, n)
	}

	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	e.awaitDrained(30 * time.Second)
	events, duplicates := e.verify()
	if events != 40 || duplicates != 0 {
		t.Errorf("delivered %d events with %d duplicates, want 40 and 0", events, duplicates)
	}
}

// A checkpoint that the log does not hold (PostgreSQL restored from a dump,
// its transaction ids restarted below it) would make the relay skip every
// event that sorts below it; the relay refuses, says so on /readyz, and
// resumes by itself once the operator resets the checkpoint.
func TestRelayRefusesACheckpointOutsideTheLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ahead := apprelay.LogPosition{TxID: 1 << 40, Position: 1 << 40}.String()
	for shard := range e.Keys.Shards() {
		if err := e.Redis.Set(ctx, e.Keys.ShardCheckpoint(shard), ahead, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := e.start(nil)
	ids, err := e.createProducts(ctx, 5, 5, "AHEAD")
	if err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "readiness shows the checkpoint outside the log", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusServiceUnavailable, fmt.Sprint("/readyz ", code)
	})
	if got := e.typeEntries("product"); len(got) != 0 {
		t.Fatalf("the relay published %d entries past a checkpoint outside the log", len(got))
	}

	for shard := range e.Keys.Shards() { // the runbook's reset: relay the whole log again
		if err := e.Redis.Del(ctx, e.Keys.ShardCheckpoint(shard)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.awaitDrained(30 * time.Second)
	if got := e.typeEntries("product"); len(got) != len(ids) { // one ProductCreated each
		t.Errorf("after the reset the product streams hold %d entries, want %d", len(got), len(ids))
	}
	testenv.WaitFor(t, 30*time.Second, "ready after the reset", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusOK, fmt.Sprint("/readyz ", code)
	})
}
