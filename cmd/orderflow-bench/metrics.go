package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricFamilies is one scrape of a process's /metrics.
type metricFamilies map[string]*dto.MetricFamily

// scrape reads baseURL/metrics in the Prometheus text format.
func scrape(ctx context.Context, client *http.Client, baseURL string) (metricFamilies, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s/metrics: %w", baseURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s/metrics: HTTP %d", baseURL, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s/metrics: %w", baseURL, err)
	}
	return fams, nil
}

// matches reports whether m carries every label of want.
func matches(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// value sums the counters or gauges named name whose labels match want.
func (f metricFamilies) value(name string, want map[string]string) float64 {
	fam := f[name]
	if fam == nil {
		return 0
	}
	var sum float64
	for _, m := range fam.GetMetric() {
		if !matches(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum
}

// histogram is a Prometheus histogram's cumulative bucket counts, merged
// over the series that were asked for.
type histogram struct {
	upper []float64 // bucket upper bounds, ascending, without +Inf
	cum   []float64 // cumulative counts per bound
	count float64
	sum   float64
}

// histogram merges the histograms named name whose labels match want.
func (f metricFamilies) histogram(name string, want map[string]string) histogram {
	var h histogram
	fam := f[name]
	if fam == nil {
		return h
	}
	for _, m := range fam.GetMetric() {
		if m.Histogram == nil || !matches(m, want) {
			continue
		}
		var one histogram
		for _, b := range m.GetHistogram().GetBucket() {
			if math.IsInf(b.GetUpperBound(), 1) {
				continue
			}
			one.upper = append(one.upper, b.GetUpperBound())
			one.cum = append(one.cum, float64(b.GetCumulativeCount()))
		}
		one.count, one.sum = float64(m.GetHistogram().GetSampleCount()), m.GetHistogram().GetSampleSum()
		h = h.plus(one)
	}
	return h
}

// plus adds o's counts; both must have the same buckets (or h none yet).
func (h histogram) plus(o histogram) histogram {
	if len(h.upper) == 0 {
		return histogram{upper: append([]float64(nil), o.upper...), cum: append([]float64(nil), o.cum...), count: o.count, sum: o.sum}
	}
	out := histogram{upper: h.upper, cum: make([]float64, len(h.cum)), count: h.count + o.count, sum: h.sum + o.sum}
	for i := range h.cum {
		out.cum[i] = h.cum[i]
		if i < len(o.cum) {
			out.cum[i] += o.cum[i]
		}
	}
	return out
}

// minus is what was observed between the snapshot o and h.
func (h histogram) minus(o histogram) histogram {
	out := histogram{upper: h.upper, cum: make([]float64, len(h.cum)), count: h.count - o.count, sum: h.sum - o.sum}
	for i := range h.cum {
		out.cum[i] = h.cum[i]
		if i < len(o.cum) {
			out.cum[i] -= o.cum[i]
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus's histogram_quantile does:
// linear interpolation within the bucket that holds the rank. A rank above
// the highest bound returns that bound; NaN when nothing was observed.
func (h histogram) quantile(q float64) float64 {
	if h.count <= 0 || len(h.upper) == 0 {
		return math.NaN()
	}
	rank := q * h.count
	i := sort.Search(len(h.cum), func(i int) bool { return h.cum[i] >= rank })
	if i == len(h.cum) {
		return h.upper[len(h.upper)-1]
	}
	lower, below := 0.0, 0.0
	if i > 0 {
		lower, below = h.upper[i-1], h.cum[i-1]
	}
	inBucket := h.cum[i] - below
	if inBucket <= 0 {
		return h.upper[i]
	}
	return lower + (h.upper[i]-lower)*(rank-below)/inBucket
}

// atMost is the share of observations at or below bound, which must be one
// of the bucket bounds.
func (h histogram) atMost(bound float64) float64 {
	if h.count <= 0 {
		return math.NaN()
	}
	for i, u := range h.upper {
		if u == bound {
			return h.cum[i] / h.count
		}
	}
	return math.NaN()
}
