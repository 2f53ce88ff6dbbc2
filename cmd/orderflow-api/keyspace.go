package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
)

// keyspaceScrapeTimeout bounds the INFO stats calls of one /metrics scrape.
const keyspaceScrapeTimeout = time.Second

// registerKeyspaceMetrics exports Redis's keyspace hits and misses of every
// master (orderflow_redis_keyspace_*_total) on reg.
func registerKeyspaceMetrics(reg prometheus.Registerer, store *orderflowredis.CacheStore) error {
	return reg.Register(orderflowredis.NewKeyspaceCollector(store, keyspaceScrapeTimeout))
}

// redisKeyspace reads Redis's keyspace figures for the cache statistics
// endpoint: summed over every master, with each master's own.
func redisKeyspace(store *orderflowredis.CacheStore) func(context.Context) (orderflowhttp.RedisKeyspace, error) {
	return func(ctx context.Context) (orderflowhttp.RedisKeyspace, error) {
		s, err := store.KeyspaceStats(ctx)
		out := orderflowhttp.RedisKeyspace{Hits: s.Hits, Misses: s.Misses}
		for _, n := range s.Nodes {
			out.Nodes = append(out.Nodes, orderflowhttp.RedisNodeKeyspace{Addr: n.Addr, Hits: n.Hits, Misses: n.Misses})
		}
		return out, err
	}
}
