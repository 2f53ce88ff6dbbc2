package systemtest_test

import (
	"strings"
	"testing"

	"github.com/orderflow/orderflow/cmd/internal/systemtest"
)

func TestStreamReportOK(t *testing.T) {
	tests := []struct {
		name   string
		report systemtest.StreamReport
		want   bool
	}{
		{"every event once, in order", systemtest.StreamReport{Events: 10}, true},
		{"an event missing", systemtest.StreamReport{Events: 10, Missing: 1}, false},
		{"an event published twice", systemtest.StreamReport{Events: 10, Duplicates: 1}, false},
		{"an entry not in the log", systemtest.StreamReport{Events: 10, Foreign: 1}, false},
		{"an aggregate's events out of order", systemtest.StreamReport{Events: 10, OutOfOrder: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.report.OK(); got != tt.want {
			t.Errorf("%s: OK() = %t, want %t (%s)", tt.name, got, tt.want, tt.report)
		}
	}
	// The failure message must show the duplicates that made it fail.
	if s := (systemtest.StreamReport{Events: 10, Duplicates: 3}).String(); !strings.Contains(s, "3 duplicated") {
		t.Errorf("String() = %q, want the duplicates counted", s)
	}
}
