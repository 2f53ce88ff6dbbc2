package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/cmd/internal/service"
	"github.com/orderflow/orderflow/migrations"
)

// Config is orderflow-projector's settings.
type Config struct {
	service.Stores
	HTTPAddr        string
	KeyPrefix       string
	StreamShards    int
	Consumer        string
	ConsumerGroup   string
	MaxRetries      int
	Workers         int
	MaxIdleTime     time.Duration
	ShutdownTimeout time.Duration
	DLQAll          bool
	ReplayFrom      string
	Online          bool
	Logging         service.Logging
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Consumer == "" {
		errs = append(errs, errors.New("consumer name is required"))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, errors.New("projector-workers must be 1 to 64"))
	}
	if c.StreamShards < 1 || c.StreamShards > 64 {
		errs = append(errs, errors.New("stream-shards must be 1 to 64"))
	}
	if c.MaxRetries < 0 || c.MaxRetries > 20 {
		errs = append(errs, errors.New("projector-max-retries must be 0 to 20"))
	}
	if c.ReplayFrom != "auto" && c.ReplayFrom != "streams" && c.ReplayFrom != "store" {
		errs = append(errs, errors.New("from must be auto, streams or store"))
	}
	if c.MaxIdleTime < time.Second || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("projector-max-idle must be at least 1s and shutdown-timeout positive"))
	}
	return errors.Join(errs...)
}

// Main is one run of orderflow-projector.
type Main struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	Config Config
	// Ready, when set, receives the ops server's bound address.
	Ready func(net.Addr)

	conns *service.Conns
}

// NewMain returns a Main reading settings from lookupEnv and flags.
func NewMain(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *Main {
	return &Main{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
}

// Close releases what Run opened.
func (m *Main) Close() error {
	m.conns.Close()
	return nil
}

const usage = `orderflow-projector keeps the Redis read models current from the event
streams. Any number of instances share the work as one consumer group.

Usage:
  orderflow-projector [run] [flags]            consume the streams until SIGTERM
  orderflow-projector replay [flags]           rebuild every projection into a new key generation,
                                               then switch readers to it (--from=auto|streams|store);
                                               --online: ask a running projector to do it and follow it
  orderflow-projector verify [flags]           compare every cached projection with PostgreSQL;
                                               exit 1 on drift
  orderflow-projector dlq list [flags]         show parked (dead-letter) entries
  orderflow-projector dlq replay [flags] IDS   re-drive parked entries (--all for every one)
  orderflow-projector dlq drop [flags] IDS     delete parked entries (--all for every one)

Every flag can also be set by the environment variable named beside it.

Flags:
`

// ParseFlags reads the subcommand and settings; it returns the command and
// its remaining arguments.
func (m *Main) ParseFlags(args []string) (string, []string, error) {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run", "verify", "replay":
	case "dlq":
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return "", nil, errors.New("dlq needs list, replay or drop")
		}
		cmd, args = "dlq "+args[0], args[1:]
		switch cmd {
		case "dlq list", "dlq replay", "dlq drop":
		default:
			return "", nil, fmt.Errorf("unknown command %q", cmd)
		}
	case "help":
		args = []string{"--help"}
	default:
		return "", nil, fmt.Errorf("unknown command %q (want run, verify or dlq)", cmd)
	}
	host, _ := os.Hostname()
	fs := service.NewFlags("orderflow-projector", m.lookupEnv)
	fs.Explain(m.stderr, usage)
	c := &m.Config
	c.Stores.Register(fs)
	fs.String(&c.HTTPAddr, "projector-http-addr", "127.0.0.1:8082", "address of /healthz, /readyz and /metrics")
	fs.String(&c.KeyPrefix, "key-prefix", cache.DefaultKeyPrefix, "prefix of every Redis key")
	fs.Int(&c.StreamShards, "stream-shards", 1, "event stream shards; every relay and projector must use the same")
	fs.String(&c.Consumer, "consumer", host, "this instance's stable name in the consumer group")
	fs.String(&c.ConsumerGroup, "consumer-group", streams.DefaultConsumerGroup, "the consumer group all instances share")
	fs.Int(&c.Workers, "projector-workers", 4, "entries of each stream this instance projects at once (each a consumer of its own)")
	fs.Int(&c.MaxRetries, "projector-max-retries", 3, "re-runs of a failing handler before its entry is parked in the dead-letter stream")
	fs.Duration(&c.MaxIdleTime, "projector-max-idle", 30*time.Second, "how long an entry may stay pending before a peer claims it")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long running handlers may take to finish on SIGTERM")
	fs.Bool(&c.DLQAll, "all", false, "dlq replay/drop: every parked entry")
	fs.String(&c.ReplayFrom, "from", "auto", "replay: read the streams, the event store, or auto (streams; the store when they were trimmed)")
	fs.Bool(&c.Online, "online", false, "replay: ask a running projector to replay (one at a time across the deployment) and follow its progress")
	c.Logging.Register(fs)
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	return cmd, fs.Args(), c.Validate()
}

// deps are what every subcommand uses.
type deps struct {
	logger *slog.Logger
	pool   *pgxpool.Pool
	keys   streams.Keys
	// cacheClient serves the cache service; the subscriber and the
	// dead-letter publisher get their own, since closing them closes their client.
	cacheClient redis.UniversalClient
	redisURL    string
}

// Run parses args and runs the subcommand until ctx ends.
func (m *Main) Run(ctx context.Context, args []string) error {
	cmd, rest, err := m.ParseFlags(args)
	if err != nil {
		return err
	}
	d := &deps{keys: streams.Keys{Prefix: m.Config.KeyPrefix, StreamShards: m.Config.StreamShards}}
	if d.logger, err = m.Config.Logging.NewLogger(m.stderr); err != nil {
		return err
	}
	if err := migrations.Up(ctx, m.Config.DatabaseURL); err != nil {
		return err
	}
	if m.conns, err = m.Config.Stores.Open(ctx, service.OpenOptions{}); err != nil {
		return err
	}
	defer m.Close()
	d.pool, d.cacheClient, d.redisURL = m.conns.Pool, m.conns.Redis, m.Config.RedisURL
	if err := streams.AwaitStreamShards(ctx, d.logger, d.cacheClient, d.keys); err != nil {
		return err
	}

	switch cmd {
	case "verify":
		return m.verify(ctx, d)
	case "replay":
		return m.replay(ctx, d)
	case "dlq list", "dlq replay", "dlq drop":
		return m.deadLetters(ctx, d, cmd, rest)
	default:
		if len(rest) > 0 {
			return fmt.Errorf("unexpected arguments: %v", rest)
		}
		return m.run(ctx, d)
	}
}

func (m *Main) newCache(d *deps, metrics *orderflowredis.CacheMetrics) (*cache.Cache, *orderflowredis.CacheStore, error) {
	cfg := orderflowredis.BreakerConfig{}
	keys := cache.Keyspace{Prefix: d.keys.Prefix}
	// The projector keeps no near cache, but announces what it writes to
	// the APIs' near caches.
	appCfg := cache.Config{Keys: keys, Near: cache.NearConfig{Backplane: orderflowredis.NewBackplane(d.cacheClient, keys.Backplane(), nil)}}
	if metrics != nil {
		cfg.OnStateChange = metrics.BreakerChanged
		appCfg.OnStoreGet = metrics.ObserveRedis
		appCfg.OnLoad = metrics.ObserveLoad
	}
	store := orderflowredis.NewCacheStore(d.cacheClient, cfg)
	cache, err := cache.New(store, appCfg)
	return cache, store, err
}
