package redis_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
)

// nodeKeyspace reads one server's keyspace_hits and keyspace_misses over a
// connection of its own.
func nodeKeyspace(t *testing.T, addr string) (hits, misses int64) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer func() { _ = c.Close() }()
	info, err := c.InfoMap(context.Background(), "stats").Result()
	if err != nil {
		t.Fatalf("INFO stats of %s: %v", addr, err)
	}
	if _, err := fmt.Sscan(info["Stats"]["keyspace_hits"], &hits); err != nil {
		t.Fatalf("%s keyspace_hits: %v", addr, err)
	}
	if _, err := fmt.Sscan(info["Stats"]["keyspace_misses"], &misses); err != nil {
		t.Fatalf("%s keyspace_misses: %v", addr, err)
	}
	return hits, misses
}

// figures are every master's keyspace figures, keyed by address.
type figures map[string][2]int64

func mastersKeyspace(t *testing.T, masters []string) figures {
	t.Helper()
	out := figures{}
	for _, addr := range masters {
		h, m := nodeKeyspace(t, addr)
		out[addr] = [2]int64{h, m}
	}
	return out
}

// within checks a node's reported figures against what the node itself
// said before and after: other tests share the server, so its counters
// move meanwhile.
func within(t *testing.T, what, addr string, hits, misses int64, before, after figures) {
	t.Helper()
	b, a := before[addr], after[addr]
	if hits < b[0] || hits > a[0] || misses < b[1] || misses > a[1] {
		t.Errorf("%s: %s reported hits %d, misses %d; the node said hits %d..%d, misses %d..%d",
			what, addr, hits, misses, b[0], a[0], b[1], a[1])
	}
}

// KeyspaceStats reads every master of a Redis Cluster (the one server
// otherwise): its nodes are exactly the masters CLUSTER NODES lists, each
// with the figures that master reports itself, and the sum is theirs.
// The Prometheus collector exports the same per node. Run it with
// ORDERFLOW_TEST_CLUSTER=1 for the cluster.
func TestKeyspaceStatsSumEveryMaster(t *testing.T) {
	client, prefix := redistest.New(t)
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{})
	ctx := context.Background()
	masters := redistest.Masters(t)

	// Hits and misses on every master: 64 hash tags spread over the slots.
	for i := range 64 {
		key := fmt.Sprintf("%sks:{%d}", prefix, i)
		if err := client.Set(ctx, key, "x", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.Get(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		_ = client.Get(ctx, key+":missing").Err()
	}

	before := mastersKeyspace(t, masters)
	got, err := store.KeyspaceStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := mastersKeyspace(t, masters)

	var addrs []string
	var hits, misses int64
	for _, n := range got.Nodes {
		addrs = append(addrs, n.Addr)
		within(t, "KeyspaceStats", n.Addr, n.Hits, n.Misses, before, after)
		hits, misses = hits+n.Hits, misses+n.Misses
	}
	if !slices.Equal(addrs, masters) {
		t.Fatalf("KeyspaceStats read %v, want every master %v", addrs, masters)
	}
	if got.Hits != hits || got.Misses != misses {
		t.Errorf("sum hits %d, misses %d; the nodes add up to %d and %d", got.Hits, got.Misses, hits, misses)
	}
	var sumBefore [2]int64
	for _, f := range before {
		if f[0] == 0 || f[1] == 0 {
			t.Fatalf("a master has no hits or misses (%v): the test cannot tell one node from all", before)
		}
		sumBefore[0], sumBefore[1] = sumBefore[0]+f[0], sumBefore[1]+f[1]
	}
	if got.Hits < sumBefore[0] || got.Misses < sumBefore[1] {
		t.Errorf("sum hits %d, misses %d; the masters had %d and %d before", got.Hits, got.Misses, sumBefore[0], sumBefore[1])
	}

	// The collector: one hits and one misses counter per master.
	reg := prometheus.NewRegistry()
	reg.MustRegister(orderflowredis.NewKeyspaceCollector(store, 5*time.Second))
	before = mastersKeyspace(t, masters)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	after = mastersKeyspace(t, masters)
	series := map[string]map[string]int64{} // node → metric → value
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetCounter() == nil || len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "node" {
				t.Fatalf("%s: %v, want a counter labelled node", mf.GetName(), m)
			}
			node := m.GetLabel()[0].GetValue()
			if series[node] == nil {
				series[node] = map[string]int64{}
			}
			series[node][mf.GetName()] = int64(m.GetCounter().GetValue())
		}
	}
	if len(series) != len(masters) {
		t.Fatalf("metrics for nodes %v, want every master %v", series, masters)
	}
	for _, addr := range masters {
		s := series[addr]
		within(t, "metrics", addr, s["orderflow_redis_keyspace_hits_total"], s["orderflow_redis_keyspace_misses_total"], before, after)
	}
}

// A scrape that cannot reach Redis leaves the counters out instead of
// failing the whole /metrics page.
func TestKeyspaceCollectorWithoutRedis(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(orderflowredis.NewKeyspaceCollector(orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{}), time.Second))
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 0 {
		t.Errorf("gather without Redis: %v, %v; want nothing and no error", mfs, err)
	}
}
