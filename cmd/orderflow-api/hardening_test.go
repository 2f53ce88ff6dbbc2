package main

import (
	"io"
	"testing"
	"time"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

func TestRateLimitAndTimeoutSettings(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := parseSettings(t, map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		if c.RateLimit != orderflowhttp.DefaultRateLimit || c.RateBurst != orderflowhttp.DefaultRateBurst || c.HTTPTimeouts != service.DefaultHTTPTimeouts() {
			t.Fatalf("rate %d burst %d timeouts %+v", c.RateLimit, c.RateBurst, c.HTTPTimeouts)
		}
	})
	t.Run("EnvironmentAndFlags", func(t *testing.T) {
		c, err := parseSettings(t, map[string]string{"ORDERFLOW_RATE_LIMIT": "0", "ORDERFLOW_RATE_BURST": "7"}, "--http-write-timeout=2s")
		if err != nil {
			t.Fatal(err)
		}
		if c.RateLimit != 0 || c.RateBurst != 7 || c.HTTPTimeouts.Write != 2*time.Second {
			t.Fatalf("rate %d burst %d write timeout %s", c.RateLimit, c.RateBurst, c.HTTPTimeouts.Write)
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, args := range [][]string{{"--rate-limit=-1"}, {"--rate-burst=0"}, {"--http-read-header-timeout=0s"}} {
			if _, err := parseSettings(t, map[string]string{}, args...); err == nil {
				t.Errorf("%v accepted", args)
			}
		}
	})
}

// parseSettings parses the settings of `orderflow-api migrate` from env
// (a database URL added) and args, as the API would at start.
func parseSettings(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	env["ORDERFLOW_DATABASE_URL"] = "postgres://127.0.0.1/x"
	m := NewMain(io.Discard, io.Discard, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	_, err := m.ParseFlags(append([]string{"migrate"}, args...))
	return m.Config, err
}
