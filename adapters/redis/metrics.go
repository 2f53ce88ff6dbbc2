package redis

import (
	"fmt"
	"time"

	"github.com/orderflow/orderflow/app/cache"
	"github.com/prometheus/client_golang/prometheus"
)

// CacheMetrics exposes the cache service's behaviour per key family.
type CacheMetrics struct {
	reg              prometheus.Registerer
	loadDuration     *prometheus.HistogramVec
	redisDuration    *prometheus.HistogramVec
	invalidateFailed *prometheus.CounterVec
	breakerOpen      prometheus.Gauge
}

// NewCacheMetrics registers the cache's histograms and counters on reg.
func NewCacheMetrics(reg prometheus.Registerer) (*CacheMetrics, error) {
	m := &CacheMetrics{
		reg: reg,
		loadDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "load_duration_seconds",
			Help:    "Time to load a missed entry from PostgreSQL, by key family.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}, []string{"family"}),
		redisDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "redis_duration_seconds",
			Help:    "Time of the Redis read of a cached entry, by key family.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1},
		}, []string{"family"}),
		invalidateFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "invalidation_failures_total",
			Help: "Fast-path evictions after a command that failed (the projector repairs them), by key family.",
		}, []string{"family"}),
		breakerOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "breaker_open",
			Help: "1 while the Redis circuit breaker is open and reads go straight to PostgreSQL.",
		}),
	}
	for _, c := range []prometheus.Collector{m.loadDuration, m.redisDuration, m.invalidateFailed, m.breakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register cache metrics: %w", err)
		}
	}
	return m, nil
}

// ObserveLoad records a load's duration; pass it as cache.Config.OnLoad.
func (m *CacheMetrics) ObserveLoad(f cache.Family, d time.Duration) {
	m.loadDuration.WithLabelValues(string(f)).Observe(d.Seconds())
}

// ObserveRedis records a Redis read's duration; pass it as cache.Config.OnStoreGet.
func (m *CacheMetrics) ObserveRedis(f cache.Family, d time.Duration) {
	m.redisDuration.WithLabelValues(string(f)).Observe(d.Seconds())
}

// InvalidateFailed counts a failed eviction; pass it as cache.Config.OnInvalidateError.
func (m *CacheMetrics) InvalidateFailed(inv cache.Invalidation, _ error) {
	family := string(inv.Key.Family)
	if inv.Tag != "" {
		family = string(cache.FamilyOutput)
	}
	m.invalidateFailed.WithLabelValues(family).Inc()
}

// BreakerChanged tracks the breaker; pass it as BreakerConfig.OnStateChange.
func (m *CacheMetrics) BreakerChanged(_, to string) {
	if to == "open" {
		m.breakerOpen.Set(1)
	} else {
		m.breakerOpen.Set(0)
	}
}

// Watch exposes the cache's served counts per family and result (hit, miss,
// stale) and its loads, read from the counters the cache keeps.
func (m *CacheMetrics) Watch(c *cache.Cache) error {
	for _, f := range cache.Families() {
		st := c.Stats(f)
		for result, counter := range map[string]func() int64{
			"hit": st.Hits.Load, "miss": st.Misses.Load, "stale": st.Stale.Load,
		} {
			err := m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Namespace: "orderflow", Subsystem: "cache", Name: "reads_total",
				Help:        "Cached reads by key family and how they were served (hit, miss, stale).",
				ConstLabels: prometheus.Labels{"family": string(f), "result": result},
			}, func() float64 { return float64(counter()) }))
			if err != nil {
				return fmt.Errorf("register cache reads: %w", err)
			}
		}
		err := m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "loads_total",
			Help:        "Loads from PostgreSQL after a miss, by key family.",
			ConstLabels: prometheus.Labels{"family": string(f)},
		}, func() float64 { return float64(st.Loads.Load()) }))
		if err != nil {
			return fmt.Errorf("register cache loads: %w", err)
		}
	}
	return nil
}
