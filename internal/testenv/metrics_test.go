package testenv_test

import (
	"testing"

	"github.com/orderflow/orderflow/internal/testenv"
)

func TestMetricSum(t *testing.T) {
	page := `# HELP x_total A counter.
# TYPE x_total counter
x_total{family="product",outcome="hit"} 3
x_total{family="product",outcome="miss"} 2
x_total{family="customer",outcome="hit"} 7
x_total_extra{family="product"} 100
y 1.5
`
	for _, tc := range []struct {
		name, metric, label string
		want                float64
		found               bool
	}{
		{"labelled, filtered", "x_total", `family="product"`, 5, true},
		{"labelled, all", "x_total", "", 12, true},
		{"unlabelled", "y", "", 1.5, true},
		{"absent", "z", "", 0, false},
		{"a longer name is another metric", "x_total", `outcome="none"`, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found := testenv.MetricSum(t, page, tc.metric, tc.label)
			if got != tc.want || found != tc.found {
				t.Errorf("MetricSum = %v, %v; want %v, %v", got, found, tc.want, tc.found)
			}
		})
	}
}
