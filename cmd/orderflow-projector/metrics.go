package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orderflow/orderflow/adapters/streams"
)

// projectorMetrics are the projector's lag and latency figures.
type projectorMetrics struct {
	handled     *prometheus.HistogramVec
	freshness   *prometheus.HistogramVec
	lag         *prometheus.GaugeVec
	pending     *prometheus.GaugeVec
	deadLetters prometheus.Gauge
}

func newProjectorMetrics(reg prometheus.Registerer) (*projectorMetrics, error) {
	m := &projectorMetrics{
		handled: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "projector", Name: "handler_duration_seconds",
			Help:    "Time to project one event, by aggregate type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}}, []string{"aggregate_type"}),
		freshness: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "orderflow", Subsystem: "projector", Name: "freshness_seconds",
			Help:    "Time from an event's commit to its projections being written, by aggregate type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"aggregate_type"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "projector", Name: "consumer_lag_entries",
			Help: "Entries of a stream not yet delivered to the consumer group (XINFO GROUPS lag)."}, []string{"stream"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "projector", Name: "pending_entries",
			Help: "Entries delivered to the group but not yet acknowledged."}, []string{"stream"}),
		deadLetters: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "orderflow", Subsystem: "projector", Name: "dead_letter_entries",
			Help: "Entries parked in the dead-letter stream."}),
	}
	for _, c := range []prometheus.Collector{m.handled, m.freshness, m.lag, m.pending, m.deadLetters} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Projected records one event's projection; it implements streams.Observer.
func (m *projectorMetrics) Projected(aggregateType string, occurredAt time.Time, took time.Duration) {
	m.handled.WithLabelValues(aggregateType).Observe(took.Seconds())
	m.freshness.WithLabelValues(aggregateType).Observe(time.Since(occurredAt).Seconds())
}

// observeLag sets the lag gauges of every stream from one measure.
func (m *projectorMetrics) observeLag(lags []streams.GroupLag) {
	for _, l := range lags {
		m.lag.WithLabelValues(l.Stream).Set(float64(l.Lag))
		m.pending.WithLabelValues(l.Stream).Set(float64(l.Pending))
	}
}

// observeDeadLetters sets the count of parked entries.
func (m *projectorMetrics) observeDeadLetters(n int64) { m.deadLetters.Set(float64(n)) }
