package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
)

// Stores are the settings of the two servers OrderFlow keeps its state in;
// each binary's Config embeds them.
type Stores struct {
	// DatabaseURL is PostgreSQL: the event log, the outbox, the read tables.
	DatabaseURL string
	// RedisURL is one Redis, or a Redis Cluster's comma-separated nodes:
	// the cache and the event streams.
	RedisURL string
}

// Register adds --database-url and --redis-url to fs.
func (s *Stores) Register(fs *Flags) {
	fs.String(&s.DatabaseURL, "database-url", "", "PostgreSQL URL, e.g. postgres://user@127.0.0.1:5432/orderflow")
	fs.String(&s.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL, or a Redis Cluster's comma-separated nodes")
}

// Validate reports a missing database URL, which has no default: a binary
// that guessed one could write a deployment's events to the wrong log.
func (s Stores) Validate() error {
	if s.DatabaseURL == "" {
		return errors.New("database URL is required (ORDERFLOW_DATABASE_URL or --database-url)")
	}
	return nil
}

// OpenOptions size the connections Open makes; zero values keep the
// drivers' defaults.
type OpenOptions struct {
	// MaxConns caps the PostgreSQL pool.
	MaxConns int
	Redis    orderflowredis.PoolOptions
}

// Conns are the connections a binary opened to its stores.
type Conns struct {
	Pool  *pgxpool.Pool
	Redis redis.UniversalClient
}

// Open opens a PostgreSQL pool and a Redis client; on an error nothing
// stays open.
func (s Stores) Open(ctx context.Context, opts OpenOptions) (*Conns, error) {
	poolCfg, err := pgxpool.ParseConfig(s.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if opts.MaxConns > 0 {
		poolCfg.MaxConns = int32(opts.MaxConns)
	}
	c := &Conns{}
	if c.Pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if c.Redis, err = orderflowredis.NewClient(s.RedisURL, opts.Redis); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close releases the connections; it may be called on a nil Conns, as a
// Main's Close does after a failed Open.
func (c *Conns) Close() {
	if c == nil {
		return
	}
	if c.Redis != nil {
		_ = c.Redis.Close()
	}
	if c.Pool != nil {
		c.Pool.Close()
	}
}
