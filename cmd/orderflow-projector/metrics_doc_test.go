package main

import (
	"testing"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/cmd/internal/metricsdoc"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// TestMetricsDoc checks docs/metrics.md against the registry run builds:
// service.NewRegistry, the cache metrics, the projector's own, then its
// cache (which registers nothing more). Keep the two in step. Nothing here
// dials Redis.
func TestMetricsDoc(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	registry := service.NewRegistry()
	rec := metricsdoc.NewRecorder(registry)
	cacheMetrics, err := orderflowredis.NewCacheMetrics(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newProjectorMetrics(rec); err != nil {
		t.Fatal(err)
	}
	m := &Main{}
	if _, _, err := m.newCache(&deps{keys: streams.Keys{Prefix: cache.DefaultKeyPrefix}, cacheClient: client}, cacheMetrics); err != nil {
		t.Fatal(err)
	}
	for _, err := range metricsdoc.CheckBinary("orderflow-projector", rec, registry) {
		t.Error(err)
	}
}
