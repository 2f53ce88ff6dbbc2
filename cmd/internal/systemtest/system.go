package systemtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
)

// TestJWTSecret signs the tokens of every system test; ≥ 32 bytes as the API demands.
const TestJWTSecret = "orderflow-systemtest-secret-0123456789abcdef"

// System is one OrderFlow deployment under test: the binaries, the
// PostgreSQL database and Redis they share, and the key prefix that keeps
// its Redis keys apart from other tests'.
type System struct {
	Bin         Binaries
	DatabaseURL string
	RedisURL    string
	KeyPrefix   string
	// StreamShards is the event stream shard count of the relay and the
	// projectors (0 or 1: one shard).
	StreamShards int
	// LogDir receives one log file per process.
	LogDir string
	// Settings are extra ORDERFLOW_ variables for every process; a
	// process's own settings win.
	Settings map[string]string

	keys *jwt.Keys
}

// Keys is the Redis keyspace of the system's prefix.
func (s *System) Keys() streams.Keys {
	return streams.Keys{Prefix: s.KeyPrefix, StreamShards: s.StreamShards}
}

// AdminToken mints a bearer token with the admin role, valid for ttl.
func (s *System) AdminToken(ttl time.Duration) (string, error) {
	if s.keys == nil {
		k, err := jwt.NewKeys([]byte(TestJWTSecret))
		if err != nil {
			return "", err
		}
		s.keys = k
	}
	return s.keys.Mint(app.Principal{Subject: "systemtest-admin", Role: app.RoleAdmin}, ttl)
}

func (s *System) settings(own map[string]string) map[string]string {
	m := map[string]string{
		"ORDERFLOW_DATABASE_URL": s.DatabaseURL,
		"ORDERFLOW_REDIS_URL":    s.RedisURL,
		"ORDERFLOW_KEY_PREFIX":   s.KeyPrefix,
		"ORDERFLOW_LOG_FORMAT":   "json",
		"ORDERFLOW_JWT_SECRET":   TestJWTSecret,
		// The limiter would throttle the load generator, which is one client.
		"ORDERFLOW_RATE_LIMIT": "0",
	}
	if s.StreamShards > 1 {
		m["ORDERFLOW_STREAM_SHARDS"] = strconv.Itoa(s.StreamShards)
	}
	maps.Copy(m, s.Settings)
	maps.Copy(m, own)
	return m
}

// NewAPI prepares an orderflow-api process on a free port.
func (s *System) NewAPI(name string, own map[string]string) (*Process, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	set := s.settings(map[string]string{"ORDERFLOW_HTTP_ADDR": addr})
	maps.Copy(set, own)
	return NewProcess(name, addr, s.Bin.API, nil, set, s.LogDir)
}

// NewRelay prepares an orderflow-relay process with its ops server on a free port.
func (s *System) NewRelay(name string, own map[string]string) (*Process, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	set := s.settings(map[string]string{
		"ORDERFLOW_RELAY_HTTP_ADDR":     addr,
		"ORDERFLOW_RELAY_POLL_INTERVAL": "100ms",
		"ORDERFLOW_RELAY_LEAD_RETRY":    "200ms",
	})
	maps.Copy(set, own)
	return NewProcess(name, addr, s.Bin.Relay, nil, set, s.LogDir)
}

// NewProjector prepares an orderflow-projector process named name in the
// consumer group, its ops server on a free port. Entries a dead instance
// left pending are claimed by a peer after 3 s (production: 30 s), so a
// test converges soon after a kill.
func (s *System) NewProjector(name string, own map[string]string) (*Process, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	set := s.settings(map[string]string{
		"ORDERFLOW_PROJECTOR_HTTP_ADDR": addr,
		"ORDERFLOW_CONSUMER":            name,
		"ORDERFLOW_PROJECTOR_WORKERS":   "2",
		"ORDERFLOW_PROJECTOR_MAX_IDLE":  "3s",
	})
	maps.Copy(set, own)
	return NewProcess(name, addr, s.Bin.Projector, nil, set, s.LogDir)
}

// ErrDrift is returned by Verify when cached projections differ from PostgreSQL.
var ErrDrift = errors.New("cached projections drifted")

// Verify runs `orderflow-projector verify` and returns its report; the
// error wraps ErrDrift when it found drift.
func (s *System) Verify(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, s.Bin.Projector, "verify")
	var env []string
	for k, v := range s.settings(nil) {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	report := strings.TrimSpace(string(out))
	if err != nil {
		if strings.Contains(report, "drifted") {
			return report, fmt.Errorf("%w: %s", ErrDrift, report)
		}
		return report, fmt.Errorf("orderflow-projector verify: %w: %s", err, report)
	}
	return report, nil
}
