package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/internal/testenv"
)

// apiCall sends one request to a started API with the admin token and
// decodes a JSON answer into out (when not nil).
func apiCall(t *testing.T, base, method, path, body string, wantStatus int, out any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminToken(t))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// masterKeyspace reads every master's own keyspace figures.
func masterKeyspace(t *testing.T, masters []string) map[string][2]int64 {
	t.Helper()
	out := map[string][2]int64{}
	for _, addr := range masters {
		c := redis.NewClient(&redis.Options{Addr: addr})
		info, err := c.InfoMap(context.Background(), "stats").Result()
		_ = c.Close()
		if err != nil {
			t.Fatalf("INFO stats of %s: %v", addr, err)
		}
		var f [2]int64
		if _, err := fmt.Sscan(info["Stats"]["keyspace_hits"], &f[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Sscan(info["Stats"]["keyspace_misses"], &f[1]); err != nil {
			t.Fatal(err)
		}
		out[addr] = f
	}
	return out
}

// The API binary with ORDERFLOW_STOCK_TTL: a restock is visible on the next
// read though stock is cached. Its cache statistics and /metrics show
// Redis's keyspace hits and misses of every master (all three of a Redis
// Cluster in the cluster pass, ORDERFLOW_TEST_CLUSTER=1), each as that
// master reports them, and the statistics their sum.
func TestAPIStockTTLAndKeyspaceOfEveryMaster(t *testing.T) {
	d := testenv.New(t, testenv.Options{Redis: true})
	api := startAPI(t,
		"ORDERFLOW_DATABASE_URL="+d.DSN,
		"ORDERFLOW_REDIS_URL="+d.RedisURL,
		"ORDERFLOW_KEY_PREFIX="+d.Keys.Prefix,
		"ORDERFLOW_MIGRATE_ON_START=false", // pgtest migrated it
		"ORDERFLOW_STOCK_TTL=10s")
	base := api.URL()

	var product struct {
		ID         string `json:"id"`
		StockLevel int64  `json:"stockLevel"`
		Version    int64  `json:"version"`
	}
	apiCall(t, base, http.MethodPost, "/api/v1/products",
		`{"sku":"TTL-BIN-1","name":"Cached stock","description":"d","priceCents":100,"currency":"EUR","initialStock":4}`, http.StatusCreated, &product)
	path := "/api/v1/products/" + product.ID
	for range 2 {
		apiCall(t, base, http.MethodGet, path, "", http.StatusOK, &product)
		if product.StockLevel != 4 || product.Version != 1 {
			t.Fatalf("read: stock %d at version %d, want 4 at 1", product.StockLevel, product.Version)
		}
	}
	apiCall(t, base, http.MethodPost, path+"/stock", `{"quantity":6}`, http.StatusOK, nil)
	apiCall(t, base, http.MethodGet, path, "", http.StatusOK, &product)
	if product.StockLevel != 10 || product.Version != 2 {
		t.Fatalf("read after a restock: stock %d at version %d, want 10 at 2", product.StockLevel, product.Version)
	}

	masters := redistest.Masters(t)
	type node struct {
		Addr           string `json:"addr"`
		KeyspaceHits   int64  `json:"keyspaceHits"`
		KeyspaceMisses int64  `json:"keyspaceMisses"`
	}
	var stats struct {
		Redis struct {
			KeyspaceHits   int64  `json:"keyspaceHits"`
			KeyspaceMisses int64  `json:"keyspaceMisses"`
			Nodes          []node `json:"nodes"`
			Error          string `json:"error"`
		} `json:"redis"`
	}
	before := masterKeyspace(t, masters)
	apiCall(t, base, http.MethodGet, "/api/v1/admin/cache/stats", "", http.StatusOK, &stats)
	after := masterKeyspace(t, masters)
	rs := stats.Redis
	if rs.Error != "" {
		t.Fatalf("stats: redis error %q", rs.Error)
	}
	var addrs []string
	var hits, misses int64
	for _, n := range rs.Nodes {
		addrs = append(addrs, n.Addr)
		b, a := before[n.Addr], after[n.Addr]
		if n.KeyspaceHits < b[0] || n.KeyspaceHits > a[0] || n.KeyspaceMisses < b[1] || n.KeyspaceMisses > a[1] {
			t.Errorf("stats: %s hits %d, misses %d; the node said hits %d..%d, misses %d..%d", n.Addr, n.KeyspaceHits, n.KeyspaceMisses, b[0], a[0], b[1], a[1])
		}
		hits, misses = hits+n.KeyspaceHits, misses+n.KeyspaceMisses
	}
	if !slices.Equal(addrs, masters) {
		t.Fatalf("stats list nodes %v, want every master %v", addrs, masters)
	}
	if rs.KeyspaceHits != hits || rs.KeyspaceMisses != misses {
		t.Errorf("stats: sum hits %d, misses %d; the nodes add up to %d and %d", rs.KeyspaceHits, rs.KeyspaceMisses, hits, misses)
	}

	before = masterKeyspace(t, masters)
	page := testenv.Scrape(t, base)
	after = masterKeyspace(t, masters)
	for _, addr := range masters {
		label := fmt.Sprintf(`node="%s"`, addr)
		h, okH := testenv.MetricSum(t, page, "orderflow_redis_keyspace_hits_total", label)
		m, okM := testenv.MetricSum(t, page, "orderflow_redis_keyspace_misses_total", label)
		b, a := before[addr], after[addr]
		if !okH || !okM || int64(h) < b[0] || int64(h) > a[0] || int64(m) < b[1] || int64(m) > a[1] {
			t.Errorf("/metrics for %s: hits %v (%v), misses %v (%v); the node said hits %d..%d, misses %d..%d", addr, h, okH, m, okM, b[0], a[0], b[1], a[1])
		}
	}
}
