package main

import (
	"testing"

	"github.com/orderflow/orderflow/cmd/internal/metricsdoc"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// TestMetricsDoc checks docs/metrics.md against the registry Run builds:
// service.NewRegistry, then newRelayMetrics. Keep the two in step.
func TestMetricsDoc(t *testing.T) {
	registry := service.NewRegistry()
	rec := metricsdoc.NewRecorder(registry)
	if _, err := newRelayMetrics(rec); err != nil {
		t.Fatal(err)
	}
	for _, err := range metricsdoc.CheckBinary("orderflow-relay", rec, registry) {
		t.Error(err)
	}
}
