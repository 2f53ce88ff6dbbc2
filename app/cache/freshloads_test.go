package cache_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// unreachableRedis returns a client of an address where nothing listens.
func unreachableRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// With Redis unreachable, concurrent misses share loads, but only loads
// that began after they arrived: a reader never gets a value read before
// it asked (read-your-writes holds while Redis is down), and a burst costs
// a few loads, not one per reader.
func TestMissesWithRedisDownShareOnlyLoadsBegunAfterThem(t *testing.T) {
	store := orderflowredis.NewCacheStore(unreachableRedis(t), orderflowredis.BreakerConfig{})
	c, err := cache.New(store, cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Open the breaker, so readers reach the loads at once instead of
	// each dialling first.
	for store.Available() {
		_, _ = store.Get(context.Background(), "probe")
	}
	const readers = 200
	var (
		starts  atomic.Int64
		arrived atomic.Int64
		firstIn = make(chan struct{})
	)
	load := func(ctx context.Context) (app.Customer, int64, error) {
		n := starts.Add(1)
		if n == 1 {
			close(firstIn)
			// Hold the first load until every reader is on its way, so
			// they arrive while it runs.
			deadline := time.Now().Add(10 * time.Second)
			for arrived.Load() < readers && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		} else {
			// A query's own time: readers arriving meanwhile queue.
			time.Sleep(20 * time.Millisecond)
		}
		// The version says which load answered.
		return app.Customer{ID: "c1"}, n, nil
	}
	key := cache.CustomerKey("c1")
	type answer struct{ startedBefore, version int64 }
	answers := make(chan answer, readers+1)
	read := func() {
		before := starts.Load()
		v, _, err := cache.GetOrLoadView(context.Background(), c, key, load)
		if err != nil {
			t.Error(err)
			return
		}
		answers <- answer{before, v.Version()}
	}
	go read()
	<-firstIn
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arrived.Add(1)
			read()
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.version <= a.startedBefore {
			t.Fatalf("a reader that arrived after load %d had begun was answered by load %d", a.startedBefore, a.version)
		}
	}
	// The first load, the one every reader queued for, and a third for
	// readers that counted themselves but had not reached the cache yet
	// when the second began.
	if n := starts.Load(); n > 3 {
		t.Errorf("%d concurrent misses with Redis down made %d loads, want at most 3", readers+1, n)
	}
}
