package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// The API binary as it is deployed: separate processes sharing one
// PostgreSQL database and one Redis keyspace.

// waitLimit bounds every wait for a condition.
const waitLimit = 60 * time.Second

func TestMain(m *testing.M) { testenv.Main(m) }

// startAPI runs orderflow-api serve (built without the race detector: these
// tests are about timing across processes) with settings as KEY=VALUE pairs
// on a free loopback port, waits until it is ready, and stops it with
// SIGTERM on cleanup.
func startAPI(t *testing.T, env ...string) *process.Process {
	t.Helper()
	settings := map[string]string{
		"ORDERFLOW_JWT_SECRET": testSecret,
		"ORDERFLOW_RATE_LIMIT": "0",
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		settings[k] = v
	}
	return testenv.StartProcess(t, process.Spec{Name: "orderflow-api", Path: testenv.BinariesWithoutRace(t).API,
		Args: []string{"serve"}, Settings: settings, AddrEnv: "ORDERFLOW_HTTP_ADDR"})
}

// mustMetricSum is testenv.MetricSum over every process, failing t when one has no sample.
func mustMetricSum(t *testing.T, procs []*process.Process, name, label string) float64 {
	t.Helper()
	var total float64
	for _, p := range procs {
		v, found := testenv.MetricSum(t, testenv.Scrape(t, p.URL()), name, label)
		if !found {
			t.Fatalf("%s/metrics has no %s with %s", p.URL(), name, label)
		}
		total += v
	}
	return total
}

// fireErrs runs call(0..n-1) at once, each on its own goroutine, and
// returns the errors.
func fireErrs(n int, call func(i int) error) []error {
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := call(i); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// fire is fireErrs that fails t on any error.
func fire(t *testing.T, n int, call func(i int) error) {
	t.Helper()
	if errs := fireErrs(n, call); len(errs) > 0 {
		t.Fatalf("%d of %d calls failed, first: %v", len(errs), n, errs[0])
	}
}

// waitingForLock counts the queries of this database that wait for a lock.
func waitingForLock(ctx context.Context, t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var waiting int
	err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&waiting)
	if err != nil {
		t.Fatal(err)
	}
	return waiting
}

// TestStampedeAcrossProcesses: 1000 concurrent misses of one product,
// spread over two API processes, load it from PostgreSQL exactly once.
func TestStampedeAcrossProcesses(t *testing.T) {
	d := testenv.New(t, testenv.Options{Redis: true})
	dsn, redisClient, prefix := d.DSN, d.Redis, d.Keys.Prefix
	env := []string{
		"ORDERFLOW_DATABASE_URL=" + dsn,
		"ORDERFLOW_REDIS_URL=" + d.RedisURL,
		"ORDERFLOW_KEY_PREFIX=" + prefix,
		"ORDERFLOW_MIGRATE_ON_START=false", // pgtest migrated it
	}
	procs := []*process.Process{startAPI(t, env...), startAPI(t, env...)}

	req, err := http.NewRequest(http.MethodPost, procs[0].URL()+"/api/v1/products",
		strings.NewReader(`{"sku":"STAMPEDE-1","name":"Hot item","description":"d","priceCents":4200,"currency":"EUR","initialStock":100}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken(t))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var product app.Product
	err = json.NewDecoder(res.Body).Decode(&product)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated || product.ID == "" {
		t.Fatalf("create product: %d, %+v, %v", res.StatusCode, product, err)
	}

	// Cold: the creation left a tombstone (or nothing) at the details key.
	key := cache.Keyspace{Prefix: prefix}.Key("", cache.ProductKey(product.ID))
	entry, err := orderflowredis.NewCacheStore(redisClient, orderflowredis.BreakerConfig{}).Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if entry.Found && !entry.Tombstone {
		t.Fatalf("%s holds a value before any read: %+v", key, entry)
	}

	const n = 1000
	client := &http.Client{
		Timeout:   waitLimit,
		Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n},
	}
	t.Cleanup(client.CloseIdleConnections)
	// Open the connections first, so that the reads below start together
	// instead of trickling in behind TCP handshakes.
	fire(t, n, func(i int) error {
		res, err := client.Get(procs[i%len(procs)].URL() + "/healthz")
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		return res.Body.Close()
	})

	// Hold the products table locked while the reads arrive: the one load
	// waits in PostgreSQL, so every read overlaps it, and every load
	// attempted shows up as a query waiting for the lock.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE products IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(func() {
		if err := tx.Commit(ctx); err != nil {
			t.Errorf("unlock products: %v", err)
		}
	})
	t.Cleanup(unlock)

	type result struct {
		status int
		xCache string
		price  int64
	}
	results := make([]result, n)
	reads := make(chan []error, 1)
	go func() {
		reads <- fireErrs(n, func(i int) error {
			res, err := client.Get(procs[i%len(procs)].URL() + "/api/v1/products/" + product.ID)
			if err != nil {
				return err
			}
			defer res.Body.Close()
			r := &results[i]
			r.status, r.xCache = res.StatusCode, res.Header.Get("X-Cache")
			var p app.Product
			if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
				return fmt.Errorf("status %d: %w", res.StatusCode, err)
			}
			r.price = p.PriceCents
			return nil
		})
	}()

	// Every read has looked into Redis, and the one load is waiting.
	// Loads give up after the API's load timeout (5 s), so the lock is
	// released after a while even when the reads arrive slowly; the count
	// of loads below holds either way.
	holdUntil := time.Now().Add(2 * time.Second)
	allIn := false
	for !allIn && time.Now().Before(holdUntil) {
		var looked float64
		for _, p := range procs {
			v, _ := testenv.MetricSum(t, testenv.Scrape(t, p.URL()), "orderflow_cache_redis_duration_seconds_count", `family="product"`)
			looked += v
		}
		allIn = looked >= n && waitingForLock(ctx, t, conn) >= 1
		if !allIn {
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("every read arrived while the load was held up: %v", allIn)
	if waiting := waitingForLock(ctx, t, conn); waiting != 1 {
		t.Errorf("%d queries wait for the products table during the stampede, want exactly 1 (the one load)", waiting)
	}
	unlock()
	if errs := <-reads; len(errs) > 0 {
		t.Fatalf("%d of %d reads failed, first: %v", len(errs), n, errs[0])
	}

	served := map[string]int{}
	for i, r := range results {
		if r.status != http.StatusOK || r.price != 4200 {
			t.Fatalf("read %d: status %d price %d", i, r.status, r.price)
		}
		served[r.xCache]++
	}
	if served["HIT"]+served["MISS"] != n {
		t.Errorf("X-Cache of the %d reads: %v, want HIT or MISS only", n, served)
	}

	loads := mustMetricSum(t, procs, "orderflow_cache_loads_total", `family="product"`)
	counted := mustMetricSum(t, procs, "orderflow_cache_reads_total", `family="product"`)
	if counted != n {
		t.Errorf("the processes counted %v product reads, want %d", counted, n)
	}
	if loads != 1 {
		t.Errorf("%d concurrent misses over two processes loaded the product %v times, want exactly 1 (X-Cache %v)\nlogs of the first process:\n%s",
			n, loads, served, procs[0].Logs())
	}
	t.Logf("X-Cache: %v", served)
}
