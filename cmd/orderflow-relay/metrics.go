package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/app/relay"
)

// relayMetrics are the relay's gauges and counters (README "Metrics").
type relayMetrics struct {
	active         prometheus.Gauge
	published      prometheus.Counter
	batchSize      prometheus.Histogram
	commitToXAdd   prometheus.Histogram
	backlog        prometheus.Gauge
	lag            prometheus.Gauge
	oldestInFlight prometheus.Gauge
}

func newRelayMetrics(reg prometheus.Registerer) (*relayMetrics, error) {
	m := &relayMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "relay", Name: "active",
			Help: "1 while this relay holds the lock and relays; 0 while it stands by."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "orderflow", Subsystem: "relay", Name: "published_total",
			Help: "Events appended to the streams by this relay."}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "relay", Name: "batch_size",
			Help: "Events per published batch.", Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000}}),
		commitToXAdd: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "relay", Name: "commit_to_publish_seconds",
			Help:    "Time from an event's append to its XADD.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "relay", Name: "backlog_events",
			Help: "Committed events not yet published (capped at 1,000,000)."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "relay", Name: "lag_seconds",
			Help: "Age of the oldest committed event not yet published; 0 when none."}),
		oldestInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "relay", Name: "oldest_inflight_transaction_seconds",
			Help: "Age of the oldest open transaction holding an id: it holds back every event committed after it began."}),
	}
	for _, c := range []prometheus.Collector{m.active, m.published, m.batchSize, m.commitToXAdd, m.backlog, m.lag, m.oldestInFlight} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *relayMetrics) observeBatch(batch []relay.CommittedEvent, _ time.Duration) {
	now := time.Now()
	m.published.Add(float64(len(batch)))
	m.batchSize.Observe(float64(len(batch)))
	for _, e := range batch {
		m.commitToXAdd.Observe(now.Sub(e.OccurredAt).Seconds())
	}
}

// observeActive tracks whether this relay holds the lock and relays.
func (m *relayMetrics) observeActive(on bool) {
	if on {
		m.active.Set(1)
	} else {
		m.active.Set(0)
	}
}

// observeBacklog sets the backlog gauges from one measure.
func (m *relayMetrics) observeBacklog(b relay.Backlog) {
	m.backlog.Set(float64(b.Backlog))
	if b.OldestUnpublished.IsZero() {
		m.lag.Set(0)
	} else {
		m.lag.Set(time.Since(b.OldestUnpublished).Seconds())
	}
	m.oldestInFlight.Set(b.OldestInFlight.Seconds())
}
