package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/cmd/internal/service"
	"github.com/orderflow/orderflow/migrations"
)

// Config is orderflow-relay's settings.
type Config struct {
	service.Stores
	HTTPAddr        string
	KeyPrefix       string
	StreamShards    int
	BatchSize       int
	PollInterval    time.Duration
	StreamMaxLen    int
	LeadRetry       time.Duration
	ShutdownTimeout time.Duration
	Logging         service.Logging
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if err := c.Stores.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.BatchSize < 1 || c.BatchSize > 5000 {
		errs = append(errs, errors.New("batch-size must be 1 to 5000"))
	}
	if c.StreamShards < 1 || c.StreamShards > 64 {
		errs = append(errs, errors.New("stream-shards must be 1 to 64"))
	}
	if c.StreamMaxLen < 1000 {
		errs = append(errs, errors.New("stream-maxlen must be at least 1000"))
	}
	if c.PollInterval <= 0 || c.LeadRetry <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("poll-interval, lead-retry and shutdown-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Main is one run of orderflow-relay.
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

const usage = `orderflow-relay moves every committed event from PostgreSQL's log onto
Redis Streams (one stream per aggregate type), in commit order, none lost.
Run several: one holds a PostgreSQL advisory lock and relays, the others
stand by and take over within a second of its death.

Usage:
  orderflow-relay [flags]

Every flag can also be set by the environment variable named beside it.

Flags:
`

// ParseFlags reads settings from args and the environment.
func (m *Main) ParseFlags(args []string) error {
	fs := service.NewFlags("orderflow-relay", m.lookupEnv)
	fs.Explain(m.stderr, usage)
	c := &m.Config
	c.Stores.Register(fs)
	fs.String(&c.HTTPAddr, "relay-http-addr", "127.0.0.1:8081", "address of /healthz, /readyz and /metrics")
	fs.String(&c.KeyPrefix, "key-prefix", cache.DefaultKeyPrefix, "prefix of every Redis key (streams: <prefix>{events}:stream:<aggregate type>)")
	fs.Int(&c.StreamShards, "stream-shards", 1, "event stream shards (an aggregate's events go to shard CRC-32(id) mod N); every relay and projector must use the same")
	fs.Int(&c.BatchSize, "relay-batch-size", 1000, "events read and published at once")
	fs.Duration(&c.PollInterval, "relay-poll-interval", 250*time.Millisecond, "longest wait between reads when no notification arrives")
	fs.Int(&c.StreamMaxLen, "stream-maxlen", 1_000_000, "approximate number of entries each stream keeps (the log stays the source of truth)")
	fs.Duration(&c.LeadRetry, "relay-lead-retry", time.Second, "how often a standby tries to take over")
	fs.Duration(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long the ops server may take to stop")
	c.Logging.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c.Validate()
}

// Run relays until ctx ends.
func (m *Main) Run(ctx context.Context, args []string) error {
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	logger, err := m.Config.Logging.NewLogger(m.stderr)
	if err != nil {
		return err
	}
	if err := migrations.Up(ctx, m.Config.DatabaseURL); err != nil {
		return err
	}
	if m.conns, err = m.Config.Stores.Open(ctx, service.OpenOptions{}); err != nil {
		return err
	}
	defer m.Close()
	pool, client := m.conns.Pool, m.conns.Redis

	registry := service.NewRegistry()
	metrics, err := newRelayMetrics(registry)
	if err != nil {
		return err
	}
	keys := streams.Keys{Prefix: m.Config.KeyPrefix, StreamShards: m.Config.StreamShards}
	if err := streams.AwaitStreamShards(ctx, logger, client, keys); err != nil {
		return err
	}
	outbox := postgres.NewOutbox(pool)
	publisher := streams.NewPublisher(client, keys, int64(m.Config.StreamMaxLen))
	r, err := relay.New(outbox, publisher, relay.Config{
		BatchSize:    m.Config.BatchSize,
		PollInterval: m.Config.PollInterval,
		Observe:      metrics.observeBatch,
		Healthy: func(err error) {
			if err != nil {
				logger.Warn("relay round failed; retrying with backoff", "err", err)
			}
		},
	})
	if err != nil {
		return err
	}

	ready := func(ctx context.Context) error {
		if err := r.Health(); err != nil {
			return err
		}
		return errors.Join(pool.Ping(ctx), client.Ping(ctx).Err())
	}
	ops, err := service.StartOps(ctx, service.Ops{Addr: m.Config.HTTPAddr, Logger: logger, Ready: ready, Gatherer: registry, Drain: m.Config.ShutdownTimeout, Listening: m.Ready})
	if err != nil {
		return err
	}
	defer ops.Stop()

	beat := &relayBeat{}
	go beat.publish(ctx, client, m.Config.KeyPrefix, m.Config.HTTPAddr)
	go relay.SampleBacklog(ctx, time.Second, publisher, outbox, func(b relay.Backlog) {
		metrics.observeBacklog(b)
		beat.observeBacklog(b)
	})
	return r.RunAsLeader(ctx, postgres.NewRelayLock(m.Config.DatabaseURL), relay.LeaderConfig{
		Retry: m.Config.LeadRetry,
		Active: func(on bool) {
			metrics.observeActive(on)
			beat.observeActive(on)
		},
		Logger: logger,
	})
}
