package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/cache"
)

// getIfChanged answers 1 while the key holds a value (not a tombstone) at
// the caller's version, else the entry as Get reads it: a near-cache copy
// is confirmed in one round trip that carries no value. With a window
// (ARGV[3] > 0) it renews a value's life first with getSliding's slide,
// so copies confirmed here keep their Redis entries alive like reads.
//
// KEYS[1] entry; ARGV version held, now (ms), window (ms), limit (ms).
var getIfChanged = redis.NewScript(slideLua + `
local cur = redis.call('HMGET', KEYS[1], 'v', 't', 'w')
slide(KEYS[1], cur, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
if cur[1] == ARGV[1] and cur[2] == '0' then return 1 end
return redis.call('HMGET', KEYS[1], 'v', 't', 'w', 'd')
`)

// GetIfChanged is Get for a caller that holds the value at version have.
func (s *CacheStore) GetIfChanged(ctx context.Context, key string, have int64, window, limit time.Duration) (cache.Entry, bool, error) {
	v, err := s.do(func() (any, error) {
		return getIfChanged.Run(ctx, s.client, []string{key}, strconv.FormatInt(have, 10),
			s.now().UnixMilli(), window.Milliseconds(), limit.Milliseconds()).Result()
	})
	if err != nil {
		return cache.Entry{}, false, err
	}
	if n, ok := v.(int64); ok && n == 1 {
		return cache.Entry{}, true, nil
	}
	fields, ok := v.([]any)
	if !ok || len(fields) != 4 {
		return cache.Entry{}, false, fmt.Errorf("%w: GetIfChanged answered %T", cache.ErrUnavailable, v)
	}
	return entryOf(fields), false, nil
}

// Backplane carries the keys a process wrote to every process's near
// cache over Redis pub/sub. A message is "<unix nanoseconds>|key\nkey…":
// the publish time lets subscribers measure the delivery delay.
type Backplane struct {
	client  redis.UniversalClient
	channel string
}

// NewBackplane returns a backplane on channel; client is used, not owned.
func NewBackplane(client redis.UniversalClient, channel string) *Backplane {
	return &Backplane{client: client, channel: channel}
}

// Publish announces keys. It bypasses the breaker: like an eviction, an
// announcement is worth trying whatever this process thinks of Redis.
func (b *Backplane) Publish(ctx context.Context, keys []string) error {
	msg := strconv.FormatInt(time.Now().UnixNano(), 10) + "|" + strings.Join(keys, "\n")
	if err := b.client.Publish(ctx, b.channel, msg).Err(); err != nil {
		return fmt.Errorf("%w: backplane publish: %w", cache.ErrUnavailable, err)
	}
	return nil
}

// BackplaneHandler is what a subscriber does with what it hears.
type BackplaneHandler struct {
	// Forget drops the near cache's copies of keys another process wrote.
	Forget func(keys ...string)
	// ForgetAll drops the whole near cache: announcements may have been
	// missed (the subscription was lost, or is new).
	ForgetAll func()
	// Delivered observes each message's delay from publish to receipt.
	Delivered func(delay time.Duration)
	// Subscribed observes the subscription's state, for readiness and metrics.
	Subscribed func(up bool)
}

// Listen subscribes and hands every announcement to h until ctx ends. Each
// (re)subscription and each receive error drops the whole near cache:
// messages published while no subscription stood are lost, and pub/sub
// never replays them. go-redis reconnects and re-subscribes by itself on
// the next receive after an error.
func (b *Backplane) Listen(ctx context.Context, h BackplaneHandler, logger *slog.Logger) error {
	ps := b.client.Subscribe(ctx, b.channel)
	// A blocked Receive does not watch ctx: closing the subscription is
	// what ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer func() {
		stop()
		_ = ps.Close()
	}()
	up := false
	setUp := func(v bool) {
		if v != up && h.Subscribed != nil {
			h.Subscribed(v)
		}
		up = v
	}
	pause := 10 * time.Millisecond
	for {
		msg, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			setUp(false)
			return nil
		}
		if err != nil {
			if up {
				logger.Warn("near cache backplane lost; the near cache is dropped until it is back", "err", err)
			}
			setUp(false)
			h.ForgetAll()
			// Receive reconnects on its next call; do not spin while Redis is gone.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			continue
		}
		pause = 10 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				h.ForgetAll()
				setUp(true)
			}
		case *redis.Message:
			at, keys, ok := strings.Cut(m.Payload, "|")
			if !ok {
				continue
			}
			if ns, err := strconv.ParseInt(at, 10, 64); err == nil && h.Delivered != nil {
				h.Delivered(time.Since(time.Unix(0, ns)))
			}
			h.Forget(strings.Split(keys, "\n")...)
		}
	}
}

// getTagged reads an output-cache entry and its tag's version together;
// KEYS[1] (the entry) and KEYS[2] (the tag) share a hash tag.
var getTagged = redis.NewScript(`
local e = redis.call('HMGET', KEYS[1], 'v', 't', 'w', 'd')
return {redis.call('GET', KEYS[2]) or false, e[1], e[2], e[3], e[4]}
`)

// GetTagged reads an entry and the version of the tag it is kept under in
// one round trip.
func (s *CacheStore) GetTagged(ctx context.Context, key, tagKey string) (cache.Entry, int64, error) {
	v, err := s.do(func() (any, error) { return getTagged.Run(ctx, s.client, []string{key, tagKey}).Slice() })
	if err != nil {
		return cache.Entry{}, 0, err
	}
	fields := v.([]any)
	if len(fields) != 5 {
		return cache.Entry{}, 0, fmt.Errorf("%w: GetTagged answered %d fields", cache.ErrUnavailable, len(fields))
	}
	var tagVersion int64
	if t, ok := fields[0].(string); ok {
		if tagVersion, err = strconv.ParseInt(t, 10, 64); err != nil {
			return cache.Entry{}, 0, fmt.Errorf("tag version %q: %w", t, err)
		}
	}
	return entryOf(fields[1:]), tagVersion, nil
}
