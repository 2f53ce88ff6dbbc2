package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	orderflowhttp "github.com/orderflow/orderflow/adapters/http"
	"github.com/orderflow/orderflow/adapters/jwt"
	"github.com/orderflow/orderflow/adapters/postgres"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/cmd/internal/seed"
	"github.com/orderflow/orderflow/cmd/internal/service"
	"github.com/orderflow/orderflow/migrations"
)

// Config is orderflow-api's settings.
type Config struct {
	service.Stores
	DatabaseConns   int
	RedisTimeout    time.Duration
	RedisConns      int
	Cache           bool
	KeyPrefix       string
	LeaseTTL        time.Duration
	NearCache       bool
	NearCacheMiB    int
	StockTTL        time.Duration
	HTTPAddr        string
	ShutdownTimeout time.Duration
	MigrateOnStart  bool
	Logging         service.Logging
	Seed            seed.Config
	RateLimit       int
	RateBurst       int
	HTTPTimeouts    service.HTTPTimeouts
	GC              service.GC
	// Auth is "jwt" (bearer tokens signed with JWTSecret) or "off" (every
	// route open, for local experiments).
	Auth      string
	JWTSecret string
	Token     TokenConfig
}

// The API's garbage collector: collect after the heap grew by 4× the live
// heap, within a soft limit that keeps it under its 150 MiB budget with the
// default near cache (64 MiB) full; nearCacheHeadroomMiB is what the rest
// of the API needs beside the near cache (docs/adr/0018-gc-tuning.md).
const (
	defaultGCPercent      = 400
	defaultMemoryLimitMiB = 128
	nearCacheHeadroomMiB  = 48
)

// Authentication modes of --auth.
const (
	authJWT = "jwt"
	authOff = "off"
)

// Validate reports settings that cannot work, before anything starts.
func (c Config) Validate() error {
	var errs []error
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseConns < 1 {
		errs = append(errs, errors.New("database-conns must be at least 1"))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, errors.New("redis-timeout must be positive"))
	}
	if c.RedisConns < 1 {
		errs = append(errs, errors.New("redis-conns must be at least 1"))
	}
	if c.LeaseTTL <= 0 {
		errs = append(errs, errors.New("cache-lease-ttl must be positive"))
	}
	if c.NearCacheMiB < 1 || c.NearCacheMiB > 4096 {
		errs = append(errs, errors.New("near-cache-mib must be between 1 and 4096"))
	}
	if err := cache.ValidateStockTTL(c.StockTTL); err != nil {
		errs = append(errs, fmt.Errorf("stock-ttl: %w", err))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("shutdown-timeout must be positive"))
	}
	if c.RateLimit < 0 || c.RateBurst < 1 {
		errs = append(errs, errors.New("rate-limit must not be negative and rate-burst must be at least 1"))
	}
	if err := c.HTTPTimeouts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.GC.Validate(); err != nil {
		errs = append(errs, err)
	}
	// The near cache lives in the heap the limit bounds: leave the rest of
	// the API room, or the collector would run all the time.
	if c.NearCache && c.GC.MemoryLimitMiB < c.NearCacheMiB+nearCacheHeadroomMiB {
		errs = append(errs, fmt.Errorf("memory-limit-mib %d leaves the near cache of %d MiB under %d MiB of headroom: raise memory-limit-mib or lower near-cache-mib",
			c.GC.MemoryLimitMiB, c.NearCacheMiB, nearCacheHeadroomMiB))
	}
	if c.Auth != authJWT && c.Auth != authOff {
		errs = append(errs, fmt.Errorf("auth %q: want jwt or off", c.Auth))
	}
	return errors.Join(errs...)
}

// validateAuth checks what serving with authentication needs; migrate and
// seed need no secret. The secret itself never appears in a message.
func (c Config) validateAuth() error {
	switch c.Auth {
	case authOff:
		return nil
	case authJWT:
		if c.JWTSecret == "" {
			return fmt.Errorf("jwt-secret is required with --auth=jwt: set ORDERFLOW_JWT_SECRET to a random string of at least %d bytes (e.g. openssl rand -hex 32), or ORDERFLOW_AUTH=off to open every route", jwt.MinSecretLength)
		}
		if len(c.JWTSecret) < jwt.MinSecretLength {
			return fmt.Errorf("jwt-secret must be at least %d bytes, got %d", jwt.MinSecretLength, len(c.JWTSecret))
		}
		return nil
	default:
		return fmt.Errorf("auth %q: want jwt or off", c.Auth)
	}
}

// Main is one run of orderflow-api: its settings, then its dependencies once
// opened. Tests drive it as the binary would be driven.
type Main struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	Config Config
	logger *slog.Logger
	conns  *service.Conns
	// nearMetrics observes the near cache's backplane; nil without a cache.
	nearMetrics *orderflowredis.NearMetrics

	// Ready, when set, receives the API's bound address once it listens.
	Ready func(net.Addr)
}

// NewMain returns a Main reading settings from lookupEnv and flags.
func NewMain(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *Main {
	return &Main{stdout: stdout, stderr: stderr, lookupEnv: lookupEnv}
}

const usage = `orderflow-api serves OrderFlow's REST API.

Usage:
  orderflow-api [serve] [flags]   serve the API (applies migrations first unless --migrate-on-start=false)
  orderflow-api migrate [flags]   apply database migrations and exit
  orderflow-api seed [flags]      load demo data through the command handlers (skipped when products exist)
  orderflow-api events stats [flags]
                                  print, per event type, how many events the log holds at each schema version
  orderflow-api token --role admin|customer --sub ID [--ttl 1h]
                                  print a bearer token signed with the JWT secret, e.g.
                                  curl -H "Authorization: Bearer $(orderflow-api token --role admin --sub ops)" ...
                                  a customer's --sub is its customer id (see orderflow-api token --help)

Every flag can also be set by the environment variable named beside it;
a flag given on the command line wins.

Flags:
`

// ParseFlags reads the subcommand and settings from args and the environment.
func (m *Main) ParseFlags(args []string) (string, error) {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve", "migrate", "seed":
	case "events":
		if len(args) == 0 || args[0] != "stats" {
			return "", fmt.Errorf("events: want the subcommand stats")
		}
		cmd, args = "events stats", args[1:]
	case "token":
		return cmd, m.parseTokenFlags(args)
	case "help":
		args = []string{"--help"}
	default:
		return "", fmt.Errorf("unknown command %q (want serve, migrate, seed, events stats or token)", cmd)
	}
	fs := service.NewFlags("orderflow-api", m.lookupEnv)
	fs.Explain(m.stderr, usage)
	c := &m.Config
	c.Stores.Register(fs)
	fs.Int(&c.DatabaseConns, "database-conns", 16, "maximum PostgreSQL connections in the pool")
	fs.Duration(&c.RedisTimeout, "redis-timeout", 100*time.Millisecond, "timeout of one Redis call; past it (or while the breaker is open) reads go to PostgreSQL")
	fs.Int(&c.RedisConns, "redis-conns", 64, "maximum Redis connections in the pool")
	fs.Bool(&c.Cache, "cache", true, "serve reads cache-aside from Redis (false: every read from PostgreSQL)")
	fs.String(&c.KeyPrefix, "key-prefix", cache.DefaultKeyPrefix, "prefix of every cache key in Redis")
	fs.Duration(&c.LeaseTTL, "cache-lease-ttl", 3*time.Second, "how long a crashed loader can hold up others' loads of the same key")
	fs.Bool(&c.NearCache, "near-cache", false, "keep an in-process copy of the Redis entries read (near cache); default reads confirm its version in Redis, Cache-Control: max-stale=N reads may skip Redis")
	fs.Int(&c.NearCacheMiB, "near-cache-mib", 64, "memory bound of the near cache in MiB (keys and values)")
	fs.Duration(&c.StockTTL, "stock-ttl", 0, "how long product reads may take a stock level and version from the cache, evicted by every write to the product (0: live; at most 10s; ignored with --cache=false)")
	fs.String(&c.HTTPAddr, "http-addr", "127.0.0.1:8080", "address the API listens on")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	fs.Bool(&c.MigrateOnStart, "migrate-on-start", true, "apply migrations before serving")
	fs.Int(&c.RateLimit, "rate-limit", orderflowhttp.DefaultRateLimit, "mutations per second one client (token subject, else address) may make; 0 turns the limit off")
	fs.Int(&c.RateBurst, "rate-burst", orderflowhttp.DefaultRateBurst, "mutations one client may make at once before rate-limit applies")
	c.HTTPTimeouts.Register(fs)
	c.GC.Register(fs, defaultGCPercent, defaultMemoryLimitMiB)
	fs.String(&c.Auth, "auth", authJWT, "authentication: jwt (bearer tokens signed with the JWT secret) or off (every route open; local experiments only)")
	secret := registerSecret(fs, m.lookupEnv)
	c.Logging.Register(fs)
	registerSeed(fs, &c.Seed)
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	c.JWTSecret = secret()
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	err := c.Validate()
	if cmd == "serve" {
		err = errors.Join(err, c.validateAuth())
	}
	return cmd, err
}

// Run parses args, opens the dependencies and runs the subcommand until ctx ends.
func (m *Main) Run(ctx context.Context, args []string) (err error) {
	cmd, err := m.ParseFlags(args)
	if err != nil {
		return err
	}
	if cmd == "token" {
		return m.printToken()
	}
	if m.logger, err = m.Config.Logging.NewLogger(m.stderr); err != nil {
		return err
	}
	// events stats only reads, and reads a log of any migration level.
	if cmd == "migrate" || (m.Config.MigrateOnStart && cmd != "events stats") {
		if err := migrations.Up(ctx, m.Config.DatabaseURL); err != nil {
			return err
		}
		m.logger.Info("migrations applied")
		if cmd == "migrate" {
			return nil
		}
	}
	m.Config.GC.Apply(m.lookupEnv, m.logger)
	defer m.Close()
	if err := m.open(ctx); err != nil {
		return err
	}
	store := postgres.NewStore(m.conns.Pool)
	if cmd == "events stats" {
		return m.eventsStats(ctx, store)
	}
	registry := service.NewRegistry()
	cache, cacheStore, err := m.newCache(registry)
	if err != nil {
		return err
	}
	application, err := wire.New(store, store, cache)
	if err != nil {
		return err
	}
	switch cmd {
	case "seed":
		return seed.Run(ctx, application, store, m.Config.Seed, m.stdout)
	default:
		return m.serve(ctx, application, store, cache, cacheStore, registry)
	}
}

// newCache builds the cache service and its metrics; nil when caching is off.
func (m *Main) newCache(registry *prometheus.Registry) (*cache.Cache, *orderflowredis.CacheStore, error) {
	if !m.Config.Cache {
		return nil, nil, nil
	}
	metrics, err := orderflowredis.NewCacheMetrics(registry)
	if err != nil {
		return nil, nil, err
	}
	store := orderflowredis.NewCacheStore(m.conns.Redis, orderflowredis.BreakerConfig{
		OnStateChange: func(from, to string) {
			m.logger.Warn("redis circuit breaker", "from", from, "to", to)
			metrics.BreakerChanged(from, to)
		},
	})
	keys := cache.Keyspace{Prefix: m.Config.KeyPrefix}
	nearMetrics, err := orderflowredis.NewNearMetrics(registry)
	if err != nil {
		return nil, nil, err
	}
	near := cache.NearConfig{
		Backplane:      orderflowredis.NewBackplane(m.conns.Redis, keys.Backplane(), nearMetrics.PublishFailed),
		OnPublishError: nearMetrics.PublishFailed,
	}
	if m.Config.NearCache {
		near.MaxBytes = int64(m.Config.NearCacheMiB) << 20
	}
	cache, err := cache.New(store, cache.Config{
		Near:       near,
		Keys:       keys,
		LeaseTTL:   m.Config.LeaseTTL,
		StockTTL:   m.Config.StockTTL,
		OnLoad:     metrics.ObserveLoad,
		OnStoreGet: metrics.ObserveRedis,
		OnInvalidateError: func(inv cache.Invalidation, err error) {
			m.logger.Warn("cache invalidation failed; the projector repairs it", "key", inv.Key.Name, "tag", inv.Tag, "err", err)
			metrics.InvalidateFailed(inv, err)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := metrics.Watch(cache); err != nil {
		return nil, nil, err
	}
	if err := nearMetrics.Watch(cache); err != nil {
		return nil, nil, err
	}
	m.nearMetrics = nearMetrics
	if err := registerKeyspaceMetrics(registry, store); err != nil {
		return nil, nil, err
	}
	return cache, store, nil
}

func (m *Main) open(ctx context.Context) (err error) {
	// Short timeouts and no retries: a slow Redis must cost a read little
	// more than the PostgreSQL query it then falls back to. Waiting for a
	// pooled connection is not Redis being slow: a burst of requests must
	// queue for the pool, not trip the breaker, so the pool is large and its
	// wait is not bounded by the call timeout.
	m.conns, err = m.Config.Stores.Open(ctx, service.OpenOptions{MaxConns: m.Config.DatabaseConns, Redis: orderflowredis.PoolOptions{
		DialTimeout:  2 * m.Config.RedisTimeout,
		ReadTimeout:  m.Config.RedisTimeout,
		WriteTimeout: m.Config.RedisTimeout,
		PoolSize:     m.Config.RedisConns,
		PoolTimeout:  time.Second,
		MaxRetries:   -1,
	}})
	return err
}

// Close releases what Run opened.
func (m *Main) Close() error {
	m.conns.Close()
	return nil
}

func (m *Main) serve(ctx context.Context, application *app.Application, store *postgres.Store,
	cache *cache.Cache, cacheStore *orderflowredis.CacheStore, registry *prometheus.Registry) error {
	tokens, err := m.tokenKeys()
	if err != nil {
		return err
	}
	if tokens == nil {
		m.logger.Warn("authentication is off: every route is open to anyone (ORDERFLOW_AUTH=off)")
	}
	cfg := orderflowhttp.Config{
		AuthOff:    tokens == nil,
		Tokens:     tokens,
		App:        application,
		Logger:     m.logger,
		Registerer: registry,
		Gatherer:   registry,
		Cache:      cache,
		RateLimit:  float64(m.Config.RateLimit),
		RateBurst:  m.Config.RateBurst,
		// PostgreSQL is required; Redis only degrades the instance, which
		// then answers from PostgreSQL.
		Ready: store.Ping,
		Degraded: func(ctx context.Context) []string {
			if err := m.conns.Redis.Ping(ctx).Err(); err != nil {
				return []string{"redis"}
			}
			return nil
		},
	}
	if cacheStore != nil {
		cfg.RedisStats = redisKeyspace(cacheStore)
	}
	if cache != nil {
		go cache.WatchGenerations(ctx)
		if m.Config.NearCache {
			bp := orderflowredis.NewBackplane(m.conns.Redis, cache.Keys().Backplane(), nil)
			go func() { _ = bp.Listen(ctx, m.nearMetrics.Handler(cache), m.logger) }()
		}
	}
	var keyspace func(ctx context.Context) (int64, int64, error)
	if cfg.RedisStats != nil {
		keyspace = func(ctx context.Context) (int64, int64, error) {
			k, err := cfg.RedisStats(ctx)
			return k.Hits, k.Misses, err
		}
	}
	if cfg.Console, err = m.newConsole(ctx, cache, cacheStore, keyspace); err != nil {
		return err
	}
	server, err := orderflowhttp.NewServer(cfg)
	if err != nil {
		return err
	}
	return service.ListenAndServeWith(ctx, m.logger, m.Config.HTTPAddr, server.Handler(), m.Config.ShutdownTimeout, m.Config.HTTPTimeouts, m.Ready)
}
