package cache_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// lateReplies is the real store whose first reads fail as a reply that
// came after the call timeout does, while the breaker stays closed: what a
// burst of readers on a busy machine sees.
type lateReplies struct {
	cache.Store
	failures atomic.Int64
}

func (s *lateReplies) Get(ctx context.Context, key string) (cache.Entry, error) {
	if s.failures.Add(-1) >= 0 {
		return cache.Entry{}, fmt.Errorf("%w: i/o timeout", cache.ErrUnavailable)
	}
	return s.Store.Get(ctx, key)
}

// GetSliding is the first read of a family with sliding expiry (profiles).
func (s *lateReplies) GetSliding(ctx context.Context, key string, window, limit time.Duration) (cache.Entry, error) {
	if s.failures.Add(-1) >= 0 {
		return cache.Entry{}, fmt.Errorf("%w: i/o timeout", cache.ErrUnavailable)
	}
	return s.Store.GetSliding(ctx, key, window, limit)
}

// Readers whose first read of a cold key timed out while Redis is believed
// up read again instead of loading by themselves: the burst still makes one
// PostgreSQL load.
func TestLateRepliesInABurstDoNotAddLoads(t *testing.T) {
	client, prefix := redistest.New(t)
	const readers = 50
	store := &lateReplies{Store: orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{ConsecutiveFailures: 1000})}
	store.failures.Store(readers - 1)
	c, err := cache.New(store, cache.Config{Keys: cache.Keyspace{Prefix: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	var loads, arrived atomic.Int64
	load := func(ctx context.Context) (app.Customer, int64, error) {
		loads.Add(1)
		// Hold the load until every reader has asked, so they all miss.
		for deadline := time.Now().Add(10 * time.Second); arrived.Load() < readers && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return app.Customer{ID: "c1"}, 1, nil
	}
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arrived.Add(1)
			if _, _, err := cache.GetOrLoadView(context.Background(), c, cache.CustomerKey("c1"), load); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Errorf("%d readers, %d of them with a late first reply, made %d loads, want 1", readers, readers-1, n)
	}
}
