package testenv

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/app/wire"
)

// Options says what New wires besides the database.
type Options struct {
	// Redis gives the Env a client of the test Redis and a key prefix of
	// its own (with the stream shard count of the test pass).
	Redis bool
	// Cache wires the cache engine over its own Redis client (as the API
	// and the projector have one); it implies Redis. The Application
	// evicts through it unless Uncached is set.
	Cache bool
	// CacheConfig tunes the cache; New fills in its Keys.
	CacheConfig cache.Config
	// Uncached builds the Application without the cache, as a writer that
	// leaves eviction to the projector.
	Uncached bool
}

// Env is one test's deployment in-process: a fresh migrated database and,
// when asked, a Redis keyspace of its own and the cache engine, with the
// Application over them. Everything is released when the test ends.
type Env struct {
	DSN   string
	Pool  *pgxpool.Pool
	Store *postgres.Store
	App   *app.Application

	// Redis, RedisURL, Keys and CacheKeys are set with Options.Redis or
	// Options.Cache; both key sets share one prefix, as in the binaries.
	Redis     redis.UniversalClient
	RedisURL  string
	Keys      streams.Keys
	CacheKeys cache.Keyspace

	// CacheRedis, CacheStore and Cache are set with Options.Cache: the
	// cache store has a client of its own, as in the binaries.
	CacheRedis redis.UniversalClient
	CacheStore *orderflowredis.CacheStore
	Cache      *cache.Cache
}

// New wires an Env for tb.
func New(tb testing.TB, opts Options) *Env {
	tb.Helper()
	e := &Env{}
	e.Pool, e.DSN = pgtest.NewPool(tb)
	e.Store = postgres.NewStore(e.Pool)
	if opts.Redis || opts.Cache {
		var prefix string
		e.Redis, prefix = redistest.New(tb)
		e.RedisURL = redistest.URL(tb)
		e.Keys = streams.Keys{Prefix: prefix, StreamShards: redistest.StreamShards(tb)}
		e.CacheKeys = cache.Keyspace{Prefix: prefix}
	}
	var err error
	if opts.Cache {
		e.CacheRedis = redistest.NewClient(tb, orderflowredis.PoolOptions{})
		e.CacheStore = orderflowredis.NewCacheStore(e.CacheRedis, orderflowredis.BreakerConfig{})
		cfg := opts.CacheConfig
		cfg.Keys = e.CacheKeys
		if e.Cache, err = cache.New(e.CacheStore, cfg); err != nil {
			tb.Fatalf("testenv: cache: %v", err)
		}
	}
	evictor := e.Cache
	if opts.Uncached {
		evictor = nil
	}
	if e.App, err = wire.New(e.Store, e.Store, evictor); err != nil {
		tb.Fatalf("testenv: application: %v", err)
	}
	return e
}

// Settings are the ORDERFLOW_ variables that point a binary at the Env's
// database (already migrated) and, with Redis, at its keyspace.
func (e *Env) Settings() map[string]string {
	s := map[string]string{
		"ORDERFLOW_DATABASE_URL":     e.DSN,
		"ORDERFLOW_MIGRATE_ON_START": "false", // pgtest migrated it
	}
	if e.Redis != nil {
		s["ORDERFLOW_REDIS_URL"] = e.RedisURL
		s["ORDERFLOW_KEY_PREFIX"] = e.Keys.Prefix
		s["ORDERFLOW_STREAM_SHARDS"] = strconv.Itoa(e.Keys.Shards())
	}
	return s
}

// Entry reads a cache entry as the cache engine stored it, bypassing it.
func (e *Env) Entry(tb testing.TB, key cache.Key) cache.Entry {
	tb.Helper()
	entry, err := e.CacheStore.Get(context.Background(), e.CacheKeys.Key("", key))
	if err != nil {
		tb.Fatalf("read %s: %v", key.Name, err)
	}
	return entry
}

// EventsAfter counts the committed events after cp.
func (e *Env) EventsAfter(tb testing.TB, cp relay.LogPosition) int64 {
	tb.Helper()
	var n int64
	err := e.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2)`,
		strconv.FormatUint(cp.TxID, 10), cp.Position).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// Committed reads the events committed after cp, in commit order, as the
// relay reads them from the outbox, each payload also decoded into Event
// as the projector's edge decodes it. The outbox holds events back while
// any older transaction on the server is open (another test's, in another
// database), so it waits until every event committed after cp is readable.
// It returns them and the position of the last one (cp when none).
func (e *Env) Committed(tb testing.TB, cp relay.LogPosition) ([]relay.CommittedEvent, relay.LogPosition) {
	tb.Helper()
	ctx := context.Background()
	outbox := postgres.NewOutbox(e.Pool)
	codec := app.NewEventCodec()
	var out []relay.CommittedEvent
	WaitFor(tb, RelayWait, "every committed event readable", func() (bool, string) {
		events, err := outbox.ReadCommitted(ctx, cp, 1000)
		if err != nil {
			tb.Fatal(err)
		}
		for _, ev := range events {
			if ev.Event, err = codec.Decode(ev.Type, ev.SchemaVersion, ev.Data); err != nil {
				tb.Fatalf("decode %s: %v", ev.Type, err)
			}
			out = append(out, ev)
			cp = ev.At
		}
		left := e.EventsAfter(tb, cp)
		return left == 0, fmt.Sprintf("%d committed events after %v not readable yet", left, cp)
	})
	return out, cp
}

// RelayWait bounds RelayAll and Committed.
const RelayWait = 60 * time.Second

// RelayAll publishes every committed event onto the streams in-process,
// exactly as the relay does, and returns once none is left.
func (e *Env) RelayAll(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	outbox := postgres.NewOutbox(e.Pool)
	pub := streams.NewPublisher(e.Redis, e.Keys, 1_000_000)
	WaitFor(tb, RelayWait, "every event relayed", func() (bool, string) {
		cp, err := pub.Checkpoint(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		events, err := outbox.ReadCommitted(ctx, cp, 500)
		if err != nil {
			tb.Fatal(err)
		}
		if len(events) > 0 {
			if err := pub.Publish(ctx, cp, events); err != nil {
				tb.Fatal(err)
			}
			return false, "publishing"
		}
		left := e.EventsAfter(tb, cp)
		return left == 0, fmt.Sprintf("%d committed events after %v not readable yet", left, cp)
	})
}
