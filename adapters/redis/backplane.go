package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/app/cache"
)

// GetIfChanged is Get for a caller that holds the value at version have:
// while the key holds a value (not a tombstone) at that version it answers
// unchanged, with no value, in one plain HMGET. Only when the entry changed
// does a second read fetch it. With a window it renews the value's life as
// GetSliding does, so copies confirmed here keep their Redis entries alive
// like reads.
func (s *CacheStore) GetIfChanged(ctx context.Context, key string, have int64, window, limit time.Duration) (cache.Entry, bool, error) {
	v, err := s.do(func() (any, error) { return s.client.HMGet(ctx, key, "v", "t", "w", "x").Result() })
	if err != nil {
		return cache.Entry{}, false, err
	}
	fields := v.([]any)
	head := entryOf([]any{fields[0], fields[1], fields[2], nil})
	if !head.Found || head.Tombstone || head.Version != have {
		entry, err := s.Get(ctx, key)
		return entry, false, err
	}
	s.slide(ctx, key, head, fields[3], window, limit)
	return cache.Entry{}, true, nil
}

// Backplane carries the keys a process wrote to every process's near
// cache over Redis pub/sub. A message is "<unix nanoseconds>|key\nkey…":
// the time the oldest of its keys was handed to Publish, so subscribers
// measure the delivery delay, queueing included.
//
// Publishing is off the writer's path: Publish queues the keys and returns,
// and one goroutine, alive only while keys wait, sends everything queued
// meanwhile as one message. Before, every projected write waited for a
// PUBLISH round trip of its own, in the handler's path, even where no API
// ran a near cache to hear it. Nothing waits for an announcement: default
// reads are confirmed in Redis and max-stale reads are bounded by their
// last confirmation (docs/adr/0015-near-cache.md), so an announcement lost
// with its process, or dropped when the queue is full, costs freshness of
// copies only.
type Backplane struct {
	client  redis.UniversalClient
	channel string
	onError func(error)

	mu      sync.Mutex
	pending []string
	// since is when the oldest pending key was queued.
	since   time.Time
	sending bool
}

// Bounds of the queue and of one message.
const (
	backplaneMaxPending = 100_000
	backplaneMaxKeys    = 1_000
	backplaneSendFor    = 2 * time.Second
)

// NewBackplane returns a backplane on channel; client is used, not owned.
// onError, when not nil, observes announcements that were dropped or could
// not be sent.
func NewBackplane(client redis.UniversalClient, channel string, onError func(error)) *Backplane {
	return &Backplane{client: client, channel: channel, onError: onError}
}

// Publish queues keys for the next announcement and returns at once. It
// bypasses the breaker: like an eviction, an announcement is worth trying
// whatever this process thinks of Redis. It fails only when the queue is
// full, and the keys are then dropped.
func (b *Backplane) Publish(_ context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending)+len(keys) > backplaneMaxPending {
		return fmt.Errorf("%w: backplane queue full, %d keys dropped", cache.ErrUnavailable, len(keys))
	}
	if len(b.pending) == 0 {
		b.since = time.Now()
	}
	b.pending = append(b.pending, keys...)
	if !b.sending {
		b.sending = true
		go b.send()
	}
	return nil
}

// send announces what is pending, in messages of at most backplaneMaxKeys
// keys, until nothing is; then it ends.
func (b *Backplane) send() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.sending = false
			b.mu.Unlock()
			return
		}
		n := min(len(b.pending), backplaneMaxKeys)
		keys, at := b.pending[:n:n], b.since
		// What is left keeps since: queued no earlier, its delay is
		// overstated rather than understated.
		b.pending = b.pending[n:]
		if len(b.pending) == 0 {
			b.pending = nil
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), backplaneSendFor)
		msg := strconv.FormatInt(at.UnixNano(), 10) + "|" + strings.Join(keys, "\n")
		err := b.client.Publish(ctx, b.channel, msg).Err()
		cancel()
		if err != nil && b.onError != nil {
			b.onError(fmt.Errorf("%w: backplane publish: %w", cache.ErrUnavailable, err))
		}
	}
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

// GetTagged reads the version of the tag an entry is kept under, then the
// entry, pipelined in one round trip. The tag is read first: it is then at
// least every bump acknowledged before this read, and an entry filled under
// an older tag version, even one written between the two reads, shows as
// stale. The entry and the tag share a hash tag, so on a Redis Cluster the
// pipeline goes to one node, in order.
func (s *CacheStore) GetTagged(ctx context.Context, key, tagKey string) (cache.Entry, int64, error) {
	var (
		tag   *redis.StringCmd
		entry *redis.SliceCmd
	)
	_, err := s.do(func() (any, error) {
		return s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			tag = p.Get(ctx, tagKey)
			entry = p.HMGet(ctx, key, "v", "t", "w", "d")
			return nil
		})
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return cache.Entry{}, 0, err
	}
	fields, err := entry.Result()
	if err != nil {
		return cache.Entry{}, 0, fmt.Errorf("%w: %w", cache.ErrUnavailable, err)
	}
	var tagVersion int64
	if t, err := tag.Result(); err == nil {
		if tagVersion, err = strconv.ParseInt(t, 10, 64); err != nil {
			return cache.Entry{}, 0, fmt.Errorf("tag version %q: %w", t, err)
		}
	} else if !errors.Is(err, redis.Nil) {
		return cache.Entry{}, 0, fmt.Errorf("%w: %w", cache.ErrUnavailable, err)
	}
	return entryOf(fields), tagVersion, nil
}
