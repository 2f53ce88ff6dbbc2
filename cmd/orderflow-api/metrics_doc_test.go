package main

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/cmd/internal/metricsdoc"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// TestMetricsDoc checks docs/metrics.md against the registry Run and serve
// build with the cache on (the default): service.NewRegistry, the cache
// metrics with Watch, then the HTTP server's. newCache takes the concrete
// *prometheus.Registry, which cannot list its collectors, so the recorded
// registry repeats newCache's registrations; the registry the real newCache
// builds must then gather exactly the same families. Nothing here dials
// Redis or PostgreSQL.
func TestMetricsDoc(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = client.Close() })
	m := &Main{
		Config: Config{Cache: true, KeyPrefix: cache.DefaultKeyPrefix, LeaseTTL: 3 * time.Second},
		logger: slog.New(slog.DiscardHandler),
		conns:  &service.Conns{Redis: client},
	}

	// As the binary builds it.
	built := service.NewRegistry()
	builtCache, _, err := m.newCache(built)
	if err != nil {
		t.Fatal(err)
	}
	newTestServer(t, built, built, builtCache)

	// The same, through a recorder, so that empty vectors count.
	registry := service.NewRegistry()
	rec := metricsdoc.NewRecorder(registry)
	metrics, err := orderflowredis.NewCacheMetrics(rec)
	if err != nil {
		t.Fatal(err)
	}
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{
		OnStateChange: func(from, to string) { metrics.BreakerChanged(from, to) },
	})
	recCache, err := cache.New(store, cache.Config{
		Keys:              cache.Keyspace{Prefix: m.Config.KeyPrefix},
		LeaseTTL:          m.Config.LeaseTTL,
		OnLoad:            metrics.ObserveLoad,
		OnStoreGet:        metrics.ObserveRedis,
		OnInvalidateError: metrics.InvalidateFailed,
		StockTTL:          m.Config.StockTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := metrics.Watch(recCache); err != nil {
		t.Fatal(err)
	}
	near, err := orderflowredis.NewNearMetrics(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := near.Watch(recCache); err != nil {
		t.Fatal(err)
	}
	if err := registerKeyspaceMetrics(rec, store); err != nil {
		t.Fatal(err)
	}
	newTestServer(t, rec, registry, recCache)

	want, err := metricsdoc.Gathered(built)
	if err != nil {
		t.Fatal(err)
	}
	got, err := metricsdoc.Gathered(registry)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the test's copy of newCache gathers %v, newCache %v: bring the test in step", got, want)
	}
	for _, err := range metricsdoc.CheckBinary("orderflow-api", rec, registry) {
		t.Error(err)
	}
}

// newTestServer builds the API as serve does, on a zero Application: only
// its metric registrations matter here.
func newTestServer(t *testing.T, reg prometheus.Registerer, g prometheus.Gatherer, cache *cache.Cache) {
	t.Helper()
	_, err := orderflowhttp.NewServer(orderflowhttp.Config{
		App:        &app.Application{},
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: reg,
		Gatherer:   g,
		Cache:      cache,
		Ready:      func(context.Context) error { return nil },
		AuthOff:    true, // no metric depends on it
	})
	if err != nil {
		t.Fatal(err)
	}
}
