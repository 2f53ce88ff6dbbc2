package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/app/cache"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
)

// An entry is a hash: v = version, t = 1 for a tombstone, w = written-at in
// Unix milliseconds, d = the value (kept by a tombstone for stale serving),
// x = when a value expires in Unix milliseconds (sliding.go).
// One key per entry keeps every script single-key, hence cluster-safe.

// setFenced stores a value unless a newer value or tombstone is there. An
// equal-version value is left as is; an equal-version tombstone gives way,
// since a value loaded at version v is as fresh as the eviction at v.
var setFenced = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 't')
if cur[1] then
  local have, want = tonumber(cur[1]), tonumber(ARGV[1])
  if have > want then return 0 end
  if have == want and cur[2] == '0' then return 1 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', '0', 'w', ARGV[2], 'd', ARGV[3], 'x', tonumber(ARGV[2]) + tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`)

// tombstone replaces anything older than the version; a value or tombstone
// at a newer version, or a value at the same version, stays.
var tombstone = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 't')
if cur[1] then
  local have, want = tonumber(cur[1]), tonumber(ARGV[1])
  if have > want then return 0 end
  if have == want and cur[2] == '0' then return 0 end
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 't', '1', 'w', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// releaseLease deletes the lease only if it still holds the caller's token,
// so a holder whose lease expired cannot delete its successor's.
var releaseLease = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// CacheStore implements cache.Store.
type CacheStore struct {
	client  redis.UniversalClient
	breaker *gobreaker.CircuitBreaker[any]
	now     func() time.Time
	// failingSince is when the current run of failed calls began (unix
	// nanoseconds), 0 after a success.
	failingSince atomic.Int64
}

// BreakerConfig tunes when the circuit opens and how long it stays open.
type BreakerConfig struct {
	// ConsecutiveFailures opens the circuit, provided failures are also at
	// least half of the calls in the current Window.
	ConsecutiveFailures uint32
	// Window is how long the closed circuit counts calls before starting
	// over. A dead Redis fails every call and opens the circuit after
	// ConsecutiveFailures; a stall of a busy machine fails only the calls in
	// flight during it, which is no reason to send every read to PostgreSQL
	// for OpenFor.
	Window time.Duration
	// FailingFor is how long the failures in a row must have lasted too
	// (default 250 ms). A burst of a thousand reads on a busy 2-core machine
	// makes every reply late for a moment (the client's goroutines wait for
	// a CPU past the call timeout): that opened the breaker in CI and sent
	// the burst to PostgreSQL. A dead Redis keeps failing and opens it
	// after this long.
	FailingFor time.Duration
	// OpenFor is how long calls fail fast before one probe is let through.
	OpenFor time.Duration
	// OnStateChange observes transitions, for logs and metrics.
	OnStateChange func(from, to string)
}

// NewCacheStore returns a cache store over client. The client's own
// timeouts bound each call; the breaker makes calls fail at once while Redis
// is known to be down.
func NewCacheStore(client redis.UniversalClient, cfg BreakerConfig) *CacheStore {
	if cfg.ConsecutiveFailures == 0 {
		cfg.ConsecutiveFailures = 3
	}
	if cfg.OpenFor == 0 {
		cfg.OpenFor = time.Second
	}
	if cfg.Window == 0 {
		cfg.Window = time.Second
	}
	if cfg.FailingFor == 0 {
		cfg.FailingFor = 250 * time.Millisecond
	}
	s := &CacheStore{client: client, now: time.Now}
	settings := gobreaker.Settings{
		Name:        "redis-cache",
		MaxRequests: 1,
		Interval:    cfg.Window,
		Timeout:     cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			since := s.failingSince.Load()
			return c.ConsecutiveFailures >= cfg.ConsecutiveFailures && c.TotalFailures >= c.TotalSuccesses &&
				since != 0 && s.now().UnixNano()-since >= int64(cfg.FailingFor)
		},
		IsSuccessful: succeeded,
	}
	if cfg.OnStateChange != nil {
		settings.OnStateChange = func(_ string, from, to gobreaker.State) { cfg.OnStateChange(from.String(), to.String()) }
	}
	s.breaker = gobreaker.NewCircuitBreaker[any](settings)
	return s
}

// succeeded tells a call that reached Redis from one that did not.
func succeeded(err error) bool {
	return err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled)
}

// Available reports whether the breaker lets calls through.
func (s *CacheStore) Available() bool { return s.breaker.State() != gobreaker.StateOpen }

// do runs one Redis call through the breaker; failures to reach Redis
// match cache.ErrUnavailable.
func (s *CacheStore) do(call func() (any, error)) (any, error) {
	v, err := s.breaker.Execute(func() (any, error) {
		v, err := call()
		if succeeded(err) {
			s.failingSince.Store(0)
		} else {
			s.failingSince.CompareAndSwap(0, s.now().UnixNano())
		}
		return v, err
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return v, fmt.Errorf("%w: %w", cache.ErrUnavailable, err)
	}
	return v, err
}

// unavailable marks an error of a call made without the breaker as the
// store being unreachable.
func unavailable(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %w", cache.ErrUnavailable, err)
	}
	return nil
}

// Get returns the entry at key.
func (s *CacheStore) Get(ctx context.Context, key string) (cache.Entry, error) {
	v, err := s.do(func() (any, error) { return s.client.HMGet(ctx, key, "v", "t", "w", "d").Result() })
	if err != nil {
		return cache.Entry{}, err
	}
	return entryOf(v.([]any)), nil
}

// entryOf reads an entry from its fields v, t, w, d as HMGET returns them.
func entryOf(fields []any) cache.Entry {
	if len(fields) != 4 {
		return cache.Entry{}
	}
	version, ok := fields[0].(string)
	if !ok {
		return cache.Entry{}
	}
	e := cache.Entry{Found: true, Tombstone: fields[1] == "1"}
	var err error
	if e.Version, err = strconv.ParseInt(version, 10, 64); err != nil {
		return cache.Entry{} // not an entry this build wrote: a miss
	}
	if w, ok := fields[2].(string); ok {
		if ms, err := strconv.ParseInt(w, 10, 64); err == nil {
			e.WrittenAt = time.UnixMilli(ms)
		}
	}
	if d, ok := fields[3].(string); ok {
		e.Data = []byte(d)
	}
	return e
}

// SetFenced stores data at version unless something newer is there.
func (s *CacheStore) SetFenced(ctx context.Context, key string, version int64, data []byte, ttl time.Duration) (bool, error) {
	v, err := s.do(func() (any, error) {
		return setFenced.Run(ctx, s.client, []string{key}, version, s.now().UnixMilli(), data, ttl.Milliseconds()).Int()
	})
	if err != nil {
		return false, err
	}
	return v.(int) == 1, nil
}

// SetFencedMany runs the fenced set of every write in one pipeline.
func (s *CacheStore) SetFencedMany(ctx context.Context, writes []cache.FencedWrite) error {
	_, err := s.do(func() (any, error) {
		// A pipeline cannot fall back from EVALSHA to EVAL, so the script
		// must be loaded first (a fresh or restarted Redis has none).
		if err := setFenced.Load(ctx, s.client).Err(); err != nil {
			return nil, err
		}
		now := s.now().UnixMilli()
		pipe := s.client.Pipeline()
		for _, w := range writes {
			setFenced.Run(ctx, pipe, []string{w.Key}, w.Version, now, w.Data, w.TTL.Milliseconds())
		}
		return pipe.Exec(ctx)
	})
	return err
}

// Tombstone fences out values older than version. It is tried even while
// the breaker is open: this process may have given up on Redis while other
// processes still read it, and they must not keep serving what the write
// made stale.
func (s *CacheStore) Tombstone(ctx context.Context, key string, version int64, ttl time.Duration) error {
	return unavailable(tombstone.Run(ctx, s.client, []string{key}, version, s.now().UnixMilli(), ttl.Milliseconds()).Err())
}

// AcquireLease sets key to token unless it exists.
func (s *CacheStore) AcquireLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	v, err := s.do(func() (any, error) { return s.client.SetNX(ctx, key, token, ttl).Result() })
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// ReleaseLease deletes key only while it holds token.
func (s *CacheStore) ReleaseLease(ctx context.Context, key, token string) error {
	_, err := s.do(func() (any, error) { return releaseLease.Run(ctx, s.client, []string{key}, token).Int() })
	return err
}

// LeaseHeld reports whether the lease key exists.
func (s *CacheStore) LeaseHeld(ctx context.Context, key string) (bool, error) {
	v, err := s.do(func() (any, error) { return s.client.Exists(ctx, key).Result() })
	if err != nil {
		return false, err
	}
	return v.(int64) == 1, nil
}

// TagVersion returns a tag's version, 0 when never bumped.
func (s *CacheStore) TagVersion(ctx context.Context, key string) (int64, error) {
	v, err := s.do(func() (any, error) { return s.client.Get(ctx, key).Int64() })
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return v.(int64), nil
}

// Pointers reads string keys in one MGET; a missing key reads as "".
func (s *CacheStore) Pointers(ctx context.Context, keys ...string) ([]string, error) {
	v, err := s.do(func() (any, error) { return s.client.MGet(ctx, keys...).Result() })
	if err != nil {
		return nil, err
	}
	out := make([]string, len(keys))
	for i, x := range v.([]any) {
		if str, ok := x.(string); ok {
			out[i] = str
		}
	}
	return out, nil
}

// BumpTag increments a tag's version, which makes every entry under it
// stale at once. Like Tombstone, it bypasses the breaker.
func (s *CacheStore) BumpTag(ctx context.Context, key string) error {
	return unavailable(s.client.Incr(ctx, key).Err())
}

// ScanPrefix lists every key under prefix in batches, on every master of a
// cluster. It implements projections.KeyScanner.
func (s *CacheStore) ScanPrefix(ctx context.Context, prefix string, each func(keys []string) error) error {
	pattern := escapeGlob(prefix) + "*"
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		batch := make([]string, 0, 1000)
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == cap(batch) {
				if err := each(batch); err != nil {
					return err
				}
				batch = batch[:0]
			}
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(batch) > 0 {
			return each(batch)
		}
		return nil
	}
	switch c := s.client.(type) {
	case *redis.ClusterClient:
		// Masters are scanned concurrently; the caller's callback is not.
		var mu sync.Mutex
		serial := each
		each = func(keys []string) error {
			mu.Lock()
			defer mu.Unlock()
			return serial(keys)
		}
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	default:
		return fmt.Errorf("scan: unsupported client %T", s.client)
	}
}

// escapeGlob quotes the characters SCAN's MATCH treats as a pattern.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// SetPointer sets a string key with no expiry; it implements projections.GenerationControl.
func (s *CacheStore) SetPointer(ctx context.Context, key, value string) error {
	return s.client.Set(ctx, key, value, 0).Err()
}

// DeletePointer deletes a string key.
func (s *CacheStore) DeletePointer(ctx context.Context, key string) error {
	return s.client.Del(ctx, key).Err()
}

// DeletePrefix unlinks every key under prefix, in batches.
func (s *CacheStore) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	var n int64
	err := s.ScanPrefix(ctx, prefix, func(keys []string) error {
		// One UNLINK per key: keys of a batch may sit in different cluster slots.
		pipe := s.client.Pipeline()
		for _, k := range keys {
			pipe.Unlink(ctx, k)
		}
		_, err := pipe.Exec(ctx)
		n += int64(len(keys))
		return err
	})
	return n, err
}
