package systemtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

// TestJWTSecret signs the tokens of every system test; ≥ 32 bytes as the API demands.
const TestJWTSecret = "orderflow-systemtest-secret-0123456789abcdef"

// System is one OrderFlow deployment under test: the binaries, the
// PostgreSQL database and Redis they share, and the key prefix that keeps
// its Redis keys apart from other tests'.
type System struct {
	Bin         process.Binaries
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
func (s *System) NewAPI(name string, own map[string]string) (*process.Process, error) {
	return s.newProcess(name, s.Bin.API, "ORDERFLOW_HTTP_ADDR", nil, own)
}

// NewRelay prepares an orderflow-relay process with its ops server on a free port.
func (s *System) NewRelay(name string, own map[string]string) (*process.Process, error) {
	return s.newProcess(name, s.Bin.Relay, "ORDERFLOW_RELAY_HTTP_ADDR", map[string]string{
		"ORDERFLOW_RELAY_POLL_INTERVAL": "100ms",
		"ORDERFLOW_RELAY_LEAD_RETRY":    "200ms",
	}, own)
}

// NewProjector prepares an orderflow-projector process named name in the
// consumer group, its ops server on a free port. Entries a dead instance
// left pending are claimed by a peer after 3 s (production: 30 s), so a
// test converges soon after a kill.
func (s *System) NewProjector(name string, own map[string]string) (*process.Process, error) {
	return s.newProcess(name, s.Bin.Projector, "ORDERFLOW_PROJECTOR_HTTP_ADDR", map[string]string{
		"ORDERFLOW_CONSUMER":           name,
		"ORDERFLOW_PROJECTOR_WORKERS":  "2",
		"ORDERFLOW_PROJECTOR_MAX_IDLE": "3s",
	}, own)
}

// newProcess prepares a binary with the system's settings, then the
// binary's, then the caller's own, its HTTP server on a free port and its
// output in LogDir/name.log.
func (s *System) newProcess(name, path, addrEnv string, binary, own map[string]string) (*process.Process, error) {
	set := s.settings(binary)
	maps.Copy(set, own)
	return process.New(process.Spec{Name: name, Path: path, Settings: set, AddrEnv: addrEnv,
		LogFile: filepath.Join(s.LogDir, name+".log")})
}

// ErrDrift is returned by Verify when cached projections differ from PostgreSQL.
var ErrDrift = errors.New("cached projections drifted")

// Verify runs `orderflow-projector verify` and returns its report; the
// error wraps ErrDrift when it found drift.
func (s *System) Verify(ctx context.Context) (string, error) {
	p, err := process.New(process.Spec{Name: "orderflow-projector verify", Path: s.Bin.Projector, Args: []string{"verify"},
		Settings: s.settings(nil)})
	if err != nil {
		return "", err
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		return "", err
	}
	err = p.Wait(ctx)
	report := strings.TrimSpace(p.Logs().String())
	if err != nil {
		if strings.Contains(report, "drifted") {
			return report, fmt.Errorf("%w: %s", ErrDrift, report)
		}
		return report, fmt.Errorf("orderflow-projector verify: %w: %s", err, report)
	}
	return report, nil
}
