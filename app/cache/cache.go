package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/orderflow/orderflow/app"
)

// ErrUnavailable means the cache store cannot be reached (or its circuit
// breaker is open); reads then go to PostgreSQL.
var ErrUnavailable = errors.New("cache unavailable")

// Entry is what the cache store holds at a key: a value or a tombstone,
// each carrying the version it was written for.
type Entry struct {
	Found     bool
	Tombstone bool
	Version   int64
	WrittenAt time.Time
	// Data is the value; a tombstone keeps the value it replaced, which may
	// be served marked stale while PostgreSQL is down.
	Data []byte
}

// Store is the fenced key-value store behind the cache service,
// implemented by adapters/redis. Every method touches one key, so it works
// on Redis Cluster. Failures to reach the store match ErrUnavailable.
type Store interface {
	Get(ctx context.Context, key string) (Entry, error)
	// GetIfChanged is Get for a caller that holds the value at version
	// have: while the key holds a value (not a tombstone) at that version it
	// answers unchanged, without the value, in the same one round trip.
	// With a window > 0 it renews a value's life as GetSliding does.
	GetIfChanged(ctx context.Context, key string, have int64, window, limit time.Duration) (entry Entry, unchanged bool, err error)
	// SetFenced stores data at version unless the key holds a value or a
	// tombstone of a newer version; an equal version is a no-op success. It
	// reports whether the key now holds this version's value.
	SetFenced(ctx context.Context, key string, version int64, data []byte, ttl time.Duration) (bool, error)
	// SetFencedMany is SetFenced for many keys in one round trip.
	SetFencedMany(ctx context.Context, writes []FencedWrite) error
	// Tombstone replaces a value older than version (or nothing) with a
	// tombstone carrying version; a newer value or tombstone stays.
	Tombstone(ctx context.Context, key string, version int64, ttl time.Duration) error
	// AcquireLease sets key to token unless it exists.
	AcquireLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// ReleaseLease deletes key only if it still holds token.
	ReleaseLease(ctx context.Context, key, token string) error
	// LeaseHeld reports whether key exists.
	LeaseHeld(ctx context.Context, key string) (bool, error)
	// GetSliding is Get that, when it finds a value (not a tombstone),
	// extends the key's life to window from now, never shortening it and
	// never past limit from the entry's WrittenAt, in the same round trip.
	GetSliding(ctx context.Context, key string, window, limit time.Duration) (Entry, error)
	// TagVersion returns a tag's version, 0 when never bumped.
	TagVersion(ctx context.Context, key string) (int64, error)
	// GetTagged reads an entry and the version of the tag it is kept under
	// in one round trip; both keys are in one slot.
	GetTagged(ctx context.Context, key, tagKey string) (entry Entry, tagVersion int64, err error)
	// Pointers reads string keys; a missing key reads as "".
	Pointers(ctx context.Context, keys ...string) ([]string, error)
	// BumpTag increments a tag's version.
	BumpTag(ctx context.Context, key string) error
	// Available reports whether the store is believed reachable (its
	// circuit breaker is closed); a failed call while it is says a call was
	// slow, not that the store is gone.
	Available() bool
}

// FencedWrite is one value for SetFencedMany.
type FencedWrite struct {
	Key     string
	Version int64
	Data    []byte
	TTL     time.Duration
}

// Config tunes the cache service.
type Config struct {
	Keys Keyspace
	// LeaseTTL bounds how long a crashed loader holds up others.
	LeaseTTL time.Duration
	// WaitFor bounds how long a reader waits for another's load before it
	// loads by itself.
	WaitFor time.Duration
	// LoadTimeout bounds one load from PostgreSQL; it must stay far below
	// TombstoneTTL so no slow loader outlives the tombstone that fences it.
	LoadTimeout time.Duration
	// OnLoad observes each load's duration, for metrics.
	OnLoad func(family Family, d time.Duration)
	// OnStoreGet observes each read of an entry from the store, for metrics.
	OnStoreGet func(family Family, d time.Duration)
	// OnInvalidateError observes a failed fast-path eviction; the projector
	// repairs it.
	OnInvalidateError func(inv Invalidation, err error)
	// Near configures the in-process near cache (off unless MaxBytes > 0)
	// and the backplane writes are announced on (near.go).
	Near NearConfig
	// StockTTL is how long product reads may take a stock level from the
	// cache (at most MaxStockTTL); 0 reads it live (docs/adr/0016-stock-ttl-and-sliding-expiry.md).
	StockTTL time.Duration
}

func (c *Config) setDefaults() {
	if c.Keys.Prefix == "" {
		c.Keys.Prefix = DefaultKeyPrefix
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 3 * time.Second
	}
	if c.WaitFor == 0 {
		c.WaitFor = c.LeaseTTL + time.Second
	}
	if c.LoadTimeout == 0 {
		c.LoadTimeout = 5 * time.Second
	}
}

// FamilyStats counts how one family's reads were served.
type FamilyStats struct {
	Hits, Misses, Stale, Loads atomic.Int64
	// NearHits counts the hits answered with the near cache's copy (after
	// Redis confirmed its version, or within a read's max-stale); they are
	// counted in Hits too.
	NearHits atomic.Int64
}

// Cache is the one typed cache service: get, version-fenced set, evict with
// a tombstone, and get-or-load with stampede protection (singleflight in the
// process, a Redis lease across processes).
type Cache struct {
	store Store
	cfg   Config
	group singleflight.Group
	fresh freshLoads
	stats map[Family]*FamilyStats
	gens  atomic.Pointer[generations]
	// near is nil when the near cache is off.
	near *nearCache
}

// New returns a cache service over store.
func New(store Store, cfg Config) (*Cache, error) {
	if store == nil {
		return nil, errors.New("cache: store is required")
	}
	cfg.setDefaults()
	if cfg.LoadTimeout >= TombstoneTTL {
		return nil, fmt.Errorf("cache: load timeout %s must stay below the tombstone TTL %s", cfg.LoadTimeout, TombstoneTTL)
	}
	if err := ValidateStockTTL(cfg.StockTTL); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	stats := make(map[Family]*FamilyStats)
	for _, f := range Families() {
		stats[f] = &FamilyStats{}
	}
	near, err := newNearCache(cfg.Near)
	if err != nil {
		return nil, fmt.Errorf("cache: near cache: %w", err)
	}
	c := &Cache{store: store, cfg: cfg, stats: stats, near: near}
	c.gens.Store(&generations{})
	return c, nil
}

// Entry reads the entry at a full store key, as the store holds it.
func (c *Cache) Entry(ctx context.Context, storeKey string) (Entry, error) {
	return c.store.Get(ctx, storeKey)
}

// SetFencedMany writes many values, each fenced by its version, in one
// round trip; replay fills a generation with it.
func (c *Cache) SetFencedMany(ctx context.Context, writes []FencedWrite) error {
	return c.store.SetFencedMany(ctx, writes)
}

// Stats returns the live counters of a family.
func (c *Cache) Stats(f Family) *FamilyStats { return c.stats[f] }

// Keys returns the keyspace the cache writes to.
func (c *Cache) Keys() Keyspace { return c.cfg.Keys }

func (c *Cache) count(f Family, s app.CacheStatus) {
	st := c.stats[f]
	switch s {
	case app.CacheHit:
		st.Hits.Add(1)
	case app.CacheMiss:
		st.Misses.Add(1)
	case app.CacheStale:
		st.Stale.Add(1)
	}
}

// Loader reads a value and the version that fences it from the system of record.
type Loader[T any] func(ctx context.Context) (T, int64, error)

// rawLoader is a Loader whose value is already encoded.
type rawLoader func(ctx context.Context) ([]byte, int64, error)

// GetOrLoad returns the cached value at key, or loads it once across every
// process and caches it fenced by its version. When the load fails for
// another reason than not-found and a stale copy exists, the copy is served
// as CacheStale.
func GetOrLoad[T any](ctx context.Context, c *Cache, key Key, load Loader[T]) (T, app.CacheStatus, error) {
	var v T
	enc, status, err := c.getOrLoad(ctx, key, encodeLoader(load))
	if err != nil {
		return v, "", err
	}
	if err := json.Unmarshal(enc.data, &v); err != nil {
		return v, "", fmt.Errorf("decode cached %s: %w", key.Name, err)
	}
	return v, status, nil
}

// GetOrLoadView is GetOrLoad without decoding: the view holds the JSON as
// the cache holds it, so a transport answers a hit without decoding and
// encoding it again.
func GetOrLoadView[T any](ctx context.Context, c *Cache, key Key, load Loader[T]) (app.View[T], app.CacheStatus, error) {
	enc, status, err := c.getOrLoad(ctx, key, encodeLoader(load))
	if err != nil {
		return app.View[T]{}, "", err
	}
	return app.ViewOfJSON[T](enc.data, enc.version), status, nil
}

// encoded is a value in its JSON form with the version that fences it.
type encoded struct {
	data    []byte
	version int64
}

// encodeLoader turns a typed loader into one that returns JSON.
func encodeLoader[T any](load Loader[T]) rawLoader {
	return func(ctx context.Context) ([]byte, int64, error) {
		v, version, err := load(ctx)
		if err != nil {
			return nil, 0, err
		}
		data, err := json.Marshal(v)
		return data, version, err
	}
}

func (c *Cache) getOrLoad(ctx context.Context, key Key, load rawLoader) (encoded, app.CacheStatus, error) {
	redisKey := c.cfg.Keys.Key(c.generation(), key)
	copied, hasCopy := c.near.get(redisKey)
	if hasCopy {
		if opts := app.ReadOptionsFrom(ctx); opts != nil && opts.MaxStale > 0 {
			if age := time.Since(copied.checkedAt()); age <= opts.MaxStale {
				opts.Age = age
				c.stats[key.Family].NearHits.Add(1)
				return c.served(key, copied.data, copied.version, app.CacheHitNear)
			}
		}
	}
	start := time.Now()
	var (
		entry     Entry
		err       error
		unchanged bool
	)
	if hasCopy {
		e := key.Family.Expiry()
		entry, unchanged, err = c.store.GetIfChanged(ctx, redisKey, copied.version, e.Sliding, e.TTL)
	} else {
		entry, err = c.read(ctx, key.Family, redisKey)
	}
	if c.cfg.OnStoreGet != nil {
		c.cfg.OnStoreGet(key.Family, time.Since(start))
	}
	if err == nil && unchanged {
		copied.confirm(start)
		c.stats[key.Family].NearHits.Add(1)
		return c.served(key, copied.data, copied.version, app.CacheHit)
	}
	if err != nil && c.store.Available() {
		entry, err = c.getAgain(ctx, redisKey)
	}
	if err != nil {
		// The store is down or too slow: PostgreSQL answers, nothing is
		// cached, and concurrent readers share loads that began after they
		// arrived.
		data, version, err := c.fresh.do(ctx, redisKey, func(ctx context.Context) ([]byte, int64, error) {
			return c.timedLoad(ctx, key.Family, load)
		})
		if err != nil {
			return encoded{}, "", err
		}
		return c.served(key, data, version, app.CacheMiss)
	}
	if entry.Found && !entry.Tombstone {
		c.near.put(redisKey, newNearEntry(entry.Data, entry.Version, start))
		return c.served(key, entry.Data, entry.Version, app.CacheHit)
	}
	// A reader may join only a load that cannot be older than what it must
	// see. Every write that was acknowledged before this read left a
	// tombstone at its version or a newer one, so the version this reader
	// saw names it: flights are keyed by it, and a load started by a reader
	// that saw the same tombstone began after that write committed. A load
	// that began earlier (keyed by an older version, or by none) is never
	// joined, even if it is still finishing (docs/adr/0012-read-your-writes.md).
	flight := redisKey + "@" + strconv.FormatInt(entry.Version, 10)
	res, err, _ := c.group.Do(flight, func() (any, error) {
		return c.loadOnce(context.WithoutCancel(ctx), key, redisKey, load)
	})
	if err != nil {
		if !errors.Is(err, app.ErrNotFound) && len(entry.Data) > 0 {
			return c.served(key, entry.Data, entry.Version, app.CacheStale)
		}
		return encoded{}, "", err
	}
	out := res.(encoded)
	return c.served(key, out.data, out.version, app.CacheMiss)
}

// getAgain reads an entry whose first read failed while the store is still
// believed up. On a busy machine a burst of readers makes replies late
// (the client's goroutines wait for a CPU past the call timeout) before the
// breaker decides anything; a reader that went to PostgreSQL then would
// turn one busy moment into a stampede (a 1,000-read burst on a cold key made
// three loads instead of one in CI). So it reads again, briefly, until the
// breaker says Redis is down.
func (c *Cache) getAgain(ctx context.Context, redisKey string) (Entry, error) {
	deadline := time.Now().Add(getAgainFor)
	pause := 2 * time.Millisecond
	for {
		time.Sleep(pause)
		pause = min(pause*2, 25*time.Millisecond)
		entry, err := c.store.Get(ctx, redisKey)
		if err == nil || !c.store.Available() || time.Now().After(deadline) || ctx.Err() != nil {
			return entry, err
		}
	}
}

// getAgainFor bounds getAgain: a Redis that stays slow that long opens the
// breaker anyway.
const getAgainFor = time.Second

func (c *Cache) served(key Key, data []byte, version int64, status app.CacheStatus) (encoded, app.CacheStatus, error) {
	c.count(key.Family, status)
	return encoded{data: data, version: version}, status, nil
}

// loadOnce takes the key's lease and loads, or waits for the lease holder's
// value. A holder that dies leaves its lease to expire, after which a waiter
// takes it; a waiter that waited WaitFor in all loads by itself.
func (c *Cache) loadOnce(ctx context.Context, key Key, redisKey string, load rawLoader) (encoded, error) {
	leaseKey := c.cfg.Keys.Lease(c.generation(), key)
	token := newLeaseToken()
	deadline := time.Now().Add(c.cfg.WaitFor)
	pause := 2 * time.Millisecond
	wait := func() bool {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(pause*2, 25*time.Millisecond)
		return true
	}
	// A call that fails while the store is still believed up is a slow
	// reply in a burst, not Redis gone: loading by ourselves then would turn
	// one busy moment into a stampede on PostgreSQL, so such a waiter keeps
	// waiting. Once the breaker opens, the store is down and PostgreSQL answers.
	storeDown := func(err error) bool { return err != nil && !c.store.Available() }
	for {
		got, err := c.store.AcquireLease(ctx, leaseKey, token, c.cfg.LeaseTTL)
		if storeDown(err) {
			return c.loadAndSet(ctx, key, redisKey, load)
		}
		if err == nil && got {
			defer func() { _ = c.store.ReleaseLease(context.WithoutCancel(ctx), leaseKey, token) }()
			// The previous holder may have filled the key just before we got the lease.
			if entry, err := c.store.Get(ctx, redisKey); err == nil && entry.Found && !entry.Tombstone {
				return encoded{data: entry.Data, version: entry.Version}, nil
			}
			return c.loadAndSet(ctx, key, redisKey, load)
		}
		// Another process is loading: wait for its value, bounded.
		for {
			if !wait() {
				return c.loadAndSet(ctx, key, redisKey, load)
			}
			entry, err := c.store.Get(ctx, redisKey)
			if storeDown(err) {
				return c.loadAndSet(ctx, key, redisKey, load)
			}
			if err != nil {
				continue
			}
			if entry.Found && !entry.Tombstone {
				return encoded{data: entry.Data, version: entry.Version}, nil
			}
			held, err := c.store.LeaseHeld(ctx, leaseKey)
			if err == nil && !held {
				break // the holder finished without a value we may use, or died: try to take over
			}
		}
	}
}

// loadAndSet loads from the system of record and writes the value fenced by
// its version. A refused write (a newer version was committed and evicted
// while the load ran) still answers the readers of this flight: they all
// saw the key before that eviction.
func (c *Cache) loadAndSet(ctx context.Context, key Key, redisKey string, load rawLoader) (encoded, error) {
	data, version, err := c.timedLoad(ctx, key.Family, load)
	if err != nil {
		return encoded{}, err
	}
	// A failed write leaves the key to the next reader; the value is as
	// fresh as the load either way.
	_, _ = c.store.SetFenced(ctx, redisKey, version, data, c.writeTTL(key.Family))
	return encoded{data: data, version: version}, nil
}

func (c *Cache) timedLoad(ctx context.Context, f Family, load rawLoader) ([]byte, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LoadTimeout)
	defer cancel()
	start := time.Now()
	data, version, err := load(ctx)
	c.stats[f].Loads.Add(1)
	if c.cfg.OnLoad != nil {
		c.cfg.OnLoad(f, time.Since(start))
	}
	return data, version, err
}

func newLeaseToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
