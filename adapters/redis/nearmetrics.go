package redis

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/app/cache"
)

// NearMetrics exposes the near cache and its backplane.
type NearMetrics struct {
	reg            prometheus.Registerer
	delay          prometheus.Histogram
	up             prometheus.Gauge
	publishFailure prometheus.Counter
}

// NewNearMetrics registers the backplane's metrics on reg; Watch adds the
// near cache's own.
func NewNearMetrics(reg prometheus.Registerer) (*NearMetrics, error) {
	m := &NearMetrics{
		reg: reg,
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "backplane_delay_seconds",
			Help:    "Time from a write's announcement on the near-cache backplane to its receipt by this process.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "backplane_up",
			Help: "1 while this process is subscribed to the near-cache backplane; while 0 its near cache stays empty of older copies.",
		}),
		publishFailure: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "backplane_publish_failures_total",
			Help: "Announcements of written keys that could not be published (other processes' max-stale reads stay older until N).",
		}),
	}
	for _, col := range []prometheus.Collector{m.delay, m.up, m.publishFailure} {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("register near cache metrics: %w", err)
		}
	}
	return m, nil
}

// Watch exposes the near cache's size and hits per family, read from c.
func (m *NearMetrics) Watch(c *cache.Cache) error {
	collectors := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "near_bytes",
			Help: "Bytes held by the near cache (keys, values and bookkeeping, estimated).",
		}, func() float64 { return float64(c.NearStats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "near_max_bytes",
			Help: "The near cache's bound on near_bytes (ORDERFLOW_NEAR_CACHE_BYTES).",
		}, func() float64 { return float64(c.NearStats().MaxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "near_entries",
			Help: "Entries held by the near cache.",
		}, func() float64 { return float64(c.NearStats().Entries) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "near_resets_total",
			Help: "Times the whole near cache was dropped (backplane lost or re-subscribed, generation switched).",
		}, func() float64 { return float64(c.NearStats().Resets) }),
	}
	for _, f := range cache.Families() {
		st := c.Stats(f)
		collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "orderflow", Subsystem: "cache", Name: "near_hits_total",
			Help:        "Hits answered with the near cache's copy, by key family (also counted in reads_total as hits).",
			ConstLabels: prometheus.Labels{"family": string(f)},
		}, func() float64 { return float64(st.NearHits.Load()) }))
	}
	for _, col := range collectors {
		if err := m.reg.Register(col); err != nil {
			return fmt.Errorf("register near cache metrics: %w", err)
		}
	}
	return nil
}

// Handler returns the backplane handler for c that also records these metrics.
func (m *NearMetrics) Handler(c *cache.Cache) BackplaneHandler {
	return BackplaneHandler{
		Forget:    c.ForgetNear,
		ForgetAll: c.ForgetAllNear,
		Delivered: func(d time.Duration) { m.delay.Observe(d.Seconds()) },
		Subscribed: func(up bool) {
			if up {
				m.up.Set(1)
			} else {
				m.up.Set(0)
			}
		},
	}
}

// PublishFailed counts a failed announcement; pass it as cache.NearConfig.OnPublishError.
func (m *NearMetrics) PublishFailed(error) { m.publishFailure.Inc() }
