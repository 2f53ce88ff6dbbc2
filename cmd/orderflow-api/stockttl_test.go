package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

// ORDERFLOW_STOCK_TTL and --stock-ttl: live by default, up to 10 s, a flag
// wins over the variable, and anything else fails before the API starts.
func TestStockTTLSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want time.Duration
	}{
		{"Default", map[string]string{}, nil, 0},
		{"Environment", map[string]string{"ORDERFLOW_STOCK_TTL": "2s"}, nil, 2 * time.Second},
		{"FlagWins", map[string]string{"ORDERFLOW_STOCK_TTL": "2s"}, []string{"--stock-ttl=500ms"}, 500 * time.Millisecond},
		{"Maximum", map[string]string{"ORDERFLOW_STOCK_TTL": "10s"}, nil, 10 * time.Second},
		{"Zero", map[string]string{}, []string{"--stock-ttl=0s"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseSettings(t, tc.env, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if c.StockTTL != tc.want {
				t.Errorf("stock TTL %s, want %s", c.StockTTL, tc.want)
			}
		})
	}
	for _, env := range []string{"10001ms", "11s", "-1s", "5", "soon"} {
		t.Run("Refuses "+env, func(t *testing.T) {
			_, err := parseSettings(t, map[string]string{"ORDERFLOW_STOCK_TTL": env})
			if err == nil || !strings.Contains(err.Error(), "ORDERFLOW_STOCK_TTL") && !strings.Contains(err.Error(), "stock-ttl") {
				t.Errorf("ORDERFLOW_STOCK_TTL=%s: error %v, want one naming the setting", env, err)
			}
		})
	}
	t.Run("Help", func(t *testing.T) {
		var help bytes.Buffer
		m := NewMain(io.Discard, &help, func(string) (string, bool) { return "", false })
		if _, err := m.ParseFlags([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("--help: %v", err)
		}
		if !strings.Contains(help.String(), "-stock-ttl") || !strings.Contains(help.String(), "ORDERFLOW_STOCK_TTL") {
			t.Errorf("--help does not list --stock-ttl with its variable:\n%s", help.String())
		}
	})
}
