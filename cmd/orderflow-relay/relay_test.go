package main_test

// These tests run orderflow-relay as a real process (built once, with the
// race detector) against real PostgreSQL and Redis, kill it with SIGKILL,
// cut its Redis connection, run two of it at once, and then check against
// the event store that every committed event reached its stream once, each
// aggregate's versions in order.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/adapters/tcpproxy"
	"github.com/orderflow/orderflow/app"
	apprelay "github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
)

var (
	buildDir  string
	buildOnce sync.Once
	binary    string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orderflow-relay-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// relayBinary builds orderflow-relay with the race detector, once per test binary.
func relayBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		root := filepath.Dir(strings.TrimSpace(string(out)))
		binary = filepath.Join(buildDir, "orderflow-relay")
		cmd := exec.Command("go", "build", "-race", "-o", binary, "./cmd/orderflow-relay")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// env is what every relay of one test shares: its database, Redis and prefix.
type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	dsn      string
	store    *postgres.Store
	redis    redis.UniversalClient
	redisURL string
	keys     streams.Keys
	settings map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	pool, dsn := pgtest.NewPool(t)
	client, prefix := redistest.New(t)
	return &env{
		t: t, pool: pool, dsn: dsn, store: postgres.NewStore(pool),
		redis: client, redisURL: redistest.URL(t), keys: streams.Keys{Prefix: prefix, StreamShards: redistest.StreamShards(t)},
		settings: map[string]string{},
	}
}

// relay is one orderflow-relay process.
type relay struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	out    *logSink
	addr   string
	exited chan struct{}
}

// logSink collects a process's output and spots the ops server's address.
type logSink struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := s.partial[:i]
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
			select {
			case s.addr <- rec.Addr:
			default:
			}
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

var relayCount atomic.Int64

// start runs a relay process and waits for its ops server.
func (e *env) start(extra map[string]string) *relay {
	t := e.t
	t.Helper()
	bin := relayBinary(t)
	settings := map[string]string{
		"ORDERFLOW_DATABASE_URL":        e.dsn,
		"ORDERFLOW_REDIS_URL":           e.redisURL,
		"ORDERFLOW_RELAY_HTTP_ADDR":     "127.0.0.1:0",
		"ORDERFLOW_KEY_PREFIX":          e.keys.Prefix,
		"ORDERFLOW_STREAM_SHARDS":       strconv.Itoa(e.keys.Shards()),
		"ORDERFLOW_RELAY_BATCH_SIZE":    "500",
		"ORDERFLOW_RELAY_POLL_INTERVAL": "50ms",
		"ORDERFLOW_STREAM_MAXLEN":       "1000000",
		"ORDERFLOW_LOG_FORMAT":          "json",
	}
	for k, v := range e.settings {
		settings[k] = v
	}
	for k, v := range extra {
		settings[k] = v
	}
	var environ []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ORDERFLOW_") {
			environ = append(environ, kv)
		}
	}
	for k, v := range settings {
		environ = append(environ, k+"="+v)
	}
	r := &relay{
		t: t, name: fmt.Sprintf("relay-%d", relayCount.Add(1)),
		out:    &logSink{addr: make(chan string, 1)},
		exited: make(chan struct{}),
	}
	r.cmd = exec.Command(bin)
	r.cmd.Env = environ
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start relay: %v", err)
	}
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(r.cleanup)
	select {
	case r.addr = <-r.out.addr:
	case <-r.exited:
		t.Fatalf("%s exited before serving: %v\n%s", r.name, r.cmd.ProcessState, r.out)
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not serve within 30 s\n%s", r.name, r.out)
	}
	return r
}

// cleanup stops a relay still running (gracefully: its exit must be clean)
// and fails the test on a data race in any relay.
func (r *relay) cleanup() {
	select {
	case <-r.exited:
	default:
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
			if !r.cmd.ProcessState.Success() {
				r.t.Errorf("%s exited with %v after SIGTERM", r.name, r.cmd.ProcessState)
			}
		case <-time.After(20 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
			r.t.Errorf("%s did not stop within 20 s of SIGTERM", r.name)
		}
	}
	logs := r.out.String()
	if strings.Contains(logs, "WARNING: DATA RACE") {
		r.t.Errorf("%s reported a data race:\n%s", r.name, logs)
	} else if r.t.Failed() {
		r.t.Logf("%s output:\n%s", r.name, lastLines(logs, 40))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kill ends the relay with SIGKILL and waits for it to be gone.
func (r *relay) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Kill(); err != nil {
		r.t.Fatalf("kill %s: %v", r.name, err)
	}
	<-r.exited
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// metric reads one unlabelled sample from the relay's /metrics.
func (r *relay) metric(name string) (float64, error) {
	resp, err := httpClient.Get("http://" + r.addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

func (r *relay) mustMetric(name string) float64 {
	r.t.Helper()
	v, err := r.metric(name)
	if err != nil {
		r.t.Fatalf("%s: %v", r.name, err)
	}
	return v
}

// readyz returns the status of /readyz.
func (r *relay) readyz() int {
	resp, err := httpClient.Get("http://" + r.addr + "/readyz")
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s (%s)", what, timeout, state)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of a deadline loop
	}
}

// ---------------------------------------------------------------------------
// writing through the real store

// createProducts creates n products in transactions of up to batch each.
func (e *env) createProducts(ctx context.Context, n, batch int, sku string) ([]string, error) {
	ids := make([]string, 0, n)
	for len(ids) < n {
		size := min(batch, n-len(ids))
		var created []string
		err := e.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
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
	return e.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
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
	if e.keys.Shards() > 1 {
		cp, err := streams.NewPublisher(e.redis, e.keys, 1).Checkpoint(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if cp == (apprelay.LogPosition{}) {
			return ""
		}
		return cp.String()
	}
	s, err := e.redis.Get(context.Background(), e.keys.RelayCheckpoint()).Result()
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
	err := e.pool.QueryRow(context.Background(), `SELECT tx_id::text::bigint, global_position FROM events
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
	waitFor(e.t, timeout, "relay drained", func() (bool, string) {
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
	for shard := range e.keys.Shards() {
		out = append(out, e.readStream(e.keys.ShardEventStream(aggregateType, shard))...)
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
		msgs, err := e.redis.XRangeN(context.Background(), stream, start, "+", 5000).Result()
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
	rows, err := e.pool.Query(context.Background(), `SELECT event_id::text, stream_type, stream_id::text, version FROM events`)
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
		waitFor(t, 60*time.Second, fmt.Sprintf("kill %d due", k+1), func() (bool, string) {
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
	waitFor(t, 15*time.Second, "one relay active", func() (bool, string) {
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
	waitFor(t, 30*time.Second, "writes under way", func() (bool, string) {
		return w.batches.Load() >= 5, fmt.Sprint(w.batches.Load(), " batches")
	})
	leader.kill()
	killedAt := time.Now()
	waitFor(t, 10*time.Second, "standby active", func() (bool, string) {
		v, err := standby.metric("orderflow_relay_active")
		return err == nil && v == 1, fmt.Sprint(v, err)
	})
	if took := time.Since(killedAt); took > 5*time.Second {
		t.Errorf("standby took over %s after the leader's death, want within 5 s", took)
	} else {
		t.Logf("standby took over %s after the leader's death", took.Round(time.Millisecond))
	}
	before := w.batches.Load()
	waitFor(t, 30*time.Second, "writes after take-over", func() (bool, string) {
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
	target, err := url.Parse(e.redisURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := tcpproxy.Start(t, target.Host)
	viaProxy := *target
	viaProxy.Host = proxy.Addr()
	r := e.start(map[string]string{"ORDERFLOW_REDIS_URL": viaProxy.String()})

	ids, err := e.createProducts(ctx, 40, 20, "OUT")
	if err != nil {
		t.Fatal(err)
	}
	w := e.startWriter(ids[10:], 10) // the loop below writes ids[:10]
	waitFor(t, 30*time.Second, "relay publishing", func() (bool, string) {
		return e.checkpoint() != "" && r.readyz() == http.StatusOK, fmt.Sprintf("checkpoint %q", e.checkpoint())
	})

	proxy.Cut()
	cutAt := time.Now()
	waitFor(t, 10*time.Second, "readiness shows the outage", func() (bool, string) {
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
	waitFor(t, 30*time.Second, "readiness after Redis is back", func() (bool, string) {
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

	conn, err := e.pool.Acquire(ctx)
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
	waitFor(t, 30*time.Second, "oldest in-flight transaction gauge", func() (bool, string) {
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
	for shard := range e.keys.Shards() {
		if err := e.redis.Set(ctx, e.keys.ShardCheckpoint(shard), ahead, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	r := e.start(nil)
	ids, err := e.createProducts(ctx, 5, 5, "AHEAD")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "readiness shows the checkpoint outside the log", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusServiceUnavailable, fmt.Sprint("/readyz ", code)
	})
	if got := e.typeEntries("product"); len(got) != 0 {
		t.Fatalf("the relay published %d entries past a checkpoint outside the log", len(got))
	}

	for shard := range e.keys.Shards() { // the runbook's reset: relay the whole log again
		if err := e.redis.Del(ctx, e.keys.ShardCheckpoint(shard)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.awaitDrained(30 * time.Second)
	if got := e.typeEntries("product"); len(got) != len(ids) { // one ProductCreated each
		t.Errorf("after the reset the product streams hold %d entries, want %d", len(got), len(ids))
	}
	waitFor(t, 30*time.Second, "ready after the reset", func() (bool, string) {
		code := r.readyz()
		return code == http.StatusOK, fmt.Sprint("/readyz ", code)
	})
}
