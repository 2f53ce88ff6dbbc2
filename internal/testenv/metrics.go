package testenv

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scrape reads the Prometheus page at baseURL/metrics.
func Scrape(tb testing.TB, baseURL string) string {
	tb.Helper()
	res, err := (&http.Client{Timeout: 10 * time.Second}).Get(baseURL + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s/metrics: %d, %v", baseURL, res.StatusCode, err)
	}
	return string(body)
}

// MetricSum adds up the samples of metric name whose line contains label
// ("" for all), as Prometheus's text format shows them; found is false
// when there are none. An unreadable sample fails tb.
func MetricSum(tb testing.TB, page, name, label string) (sum float64, found bool) {
	tb.Helper()
	for line := range strings.Lines(page) {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') || !strings.Contains(line, label) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			tb.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
		found = true
	}
	return sum, found
}
