package http

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// unmatchedRoute labels requests that matched no route, so that scanners
// probing random paths add one series, not one per path.
const unmatchedRoute = "unmatched"

// httpMetrics are the API's rate, errors and latency (docs/metrics.md).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "orderflow",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "orderflow",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to answer HTTP requests, by method and route template.",
			Buckets:   prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("http: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *httpMetrics) observe(method, route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// routeLabel is the matched route template (c.Path()), never the raw URL.
func (s *Server) routeLabel(c echo.Context) string {
	if p := c.Path(); s.routePaths[p] {
		return p
	}
	return unmatchedRoute
}

// methodLabel keeps the method label to the standard methods; anything else a
// client invents is "other".
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	default:
		return "other"
	}
}

// handleMetrics serves the Prometheus exposition of the configured gatherer.
func (s *Server) handleMetrics(c echo.Context) error {
	s.metricsPage.ServeHTTP(c.Response(), c.Request())
	return nil
}
