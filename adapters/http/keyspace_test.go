package http_test

import (
	"context"
	"net/http"
	"testing"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
)

// redisStats reads Redis's keyspace figures for the stats endpoint, as
// cmd/orderflow-api wires it.
func redisStats(store *orderflowredis.CacheStore) func(context.Context) (orderflowhttp.RedisKeyspace, error) {
	return func(ctx context.Context) (orderflowhttp.RedisKeyspace, error) {
		s, err := store.KeyspaceStats(ctx)
		out := orderflowhttp.RedisKeyspace{Hits: s.Hits, Misses: s.Misses}
		for _, n := range s.Nodes {
			out.Nodes = append(out.Nodes, orderflowhttp.RedisNodeKeyspace{Addr: n.Addr, Hits: n.Hits, Misses: n.Misses})
		}
		return out, err
	}
}

// The stats endpoint lists each Redis server it summed (here the test's
// one server) with its own figures, and the sum is theirs.
func TestCacheStatsListRedisNodes(t *testing.T) {
	a := newCachedAPI(t, cachedAPIOptions{})
	r := a.must(http.MethodGet, "/api/v1/admin/cache/stats", "")
	expect(t, r, http.StatusOK)
	type statsBody struct {
		Redis struct {
			KeyspaceHits   int64 `json:"keyspaceHits"`
			KeyspaceMisses int64 `json:"keyspaceMisses"`
			Nodes          []struct {
				Addr           string  `json:"addr"`
				KeyspaceHits   int64   `json:"keyspaceHits"`
				KeyspaceMisses int64   `json:"keyspaceMisses"`
				HitRatio       float64 `json:"hitRatio"`
			} `json:"nodes"`
			Error string `json:"error"`
		} `json:"redis"`
	}
	body := decode[statsBody](t, r)
	masters := redistest.Masters(t)
	if len(body.Redis.Nodes) != len(masters) {
		t.Fatalf("nodes %+v, want the servers %v", body.Redis.Nodes, masters)
	}
	var hits, misses int64
	for i, n := range body.Redis.Nodes {
		if n.Addr != masters[i] {
			t.Errorf("node %d is %s, want %s", i, n.Addr, masters[i])
		}
		hits, misses = hits+n.KeyspaceHits, misses+n.KeyspaceMisses
	}
	if hits != body.Redis.KeyspaceHits || misses != body.Redis.KeyspaceMisses {
		t.Errorf("sum %d hits, %d misses; nodes add up to %d and %d", body.Redis.KeyspaceHits, body.Redis.KeyspaceMisses, hits, misses)
	}
}
