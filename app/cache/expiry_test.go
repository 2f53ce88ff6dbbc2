package cache_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// The cache applies each family's row of the TTL table: a fill of a
// sliding family (customer profiles) lives its window, a hit renews it to
// the window again but never past the absolute TTL from the write, and a
// family without a window (product details) is never renewed by a read.
func TestCacheAppliesEachFamilysExpiry(t *testing.T) {
	client, prefix := redistest.New(t)
	c, err := cache.New(orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{}), cache.Config{Keys: cache.Keyspace{Prefix: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pttl := func(key cache.Key) time.Duration {
		t.Helper()
		d, err := client.PTTL(ctx, c.Keys().Key("", key)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// shorten stands in for the passing of time: the entry has only to
	// left, and its recorded expiry (x, which sliding reads compare with
	// the life a renewal would give) says the same.
	shorten := func(key cache.Key, to time.Duration) {
		t.Helper()
		k := c.Keys().Key("", key)
		if err := client.PExpire(ctx, k, to).Err(); err != nil {
			t.Fatal(err)
		}
		if err := client.HSet(ctx, k, "x", strconv.FormatInt(time.Now().Add(to).UnixMilli(), 10)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	hit := func(key cache.Key) {
		t.Helper()
		_, status, err := cache.GetOrLoad(ctx, c, key, func(context.Context) (string, int64, error) {
			return "loaded", 1, nil
		})
		if err != nil || status != app.CacheHit {
			t.Fatalf("read %s: %s, %v; want a hit", key.Name, status, err)
		}
	}

	customer := cache.CustomerKey("c-1")
	exp := customer.Family.Expiry()
	if exp.Sliding == 0 || exp.Sliding >= exp.TTL {
		t.Fatalf("customer expiry %+v: want a sliding window below the TTL", exp)
	}
	if _, status, err := cache.GetOrLoad(ctx, c, customer, func(context.Context) (string, int64, error) { return "ada", 1, nil }); err != nil || status != app.CacheMiss {
		t.Fatalf("fill: %s, %v", status, err)
	}
	if d := pttl(customer); d > exp.Sliding || d < exp.Sliding*9/10-time.Second {
		t.Errorf("a filled profile lives %s, want its window %s (less up to 10 %%)", d, exp.Sliding)
	}
	shorten(customer, 5*time.Second)
	hit(customer)
	if d := pttl(customer); d < exp.Sliding-time.Minute {
		t.Errorf("a hit left the profile %s to live, want its window %s again", d, exp.Sliding)
	}

	// Written almost a TTL ago: a hit renews it only up to the cap. (Three
	// minutes short of it: a renewal that would add less than a sixteenth
	// of the window, 56 s, is not worth a write and is skipped.)
	written := time.Now().Add(-exp.TTL + 3*time.Minute)
	if err := client.HSet(ctx, c.Keys().Key("", customer), "w", strconv.FormatInt(written.UnixMilli(), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	shorten(customer, 5*time.Second)
	hit(customer)
	if d := pttl(customer); d < 170*time.Second || d > 180*time.Second {
		t.Errorf("a hit on a profile written %s ago left it %s to live, want what is left of its TTL %s (about 3 min)", time.Since(written).Round(time.Second), d, exp.TTL)
	}

	product := cache.ProductKey("p-1")
	if product.Family.Expiry().Sliding != 0 {
		t.Fatalf("product details slide: %+v", product.Family.Expiry())
	}
	if _, _, err := cache.GetOrLoad(ctx, c, product, func(context.Context) (string, int64, error) { return "mug", 1, nil }); err != nil {
		t.Fatal(err)
	}
	shorten(product, 5*time.Second)
	hit(product)
	if d := pttl(product); d > 5*time.Second {
		t.Errorf("a hit renewed product details to %s; they have no window", d)
	}
}

// Stock entries live the deployment's stock TTL, and a stock TTL outside 0
// to 10 s is refused.
func TestStockEntriesLiveTheStockTTL(t *testing.T) {
	client, prefix := redistest.New(t)
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{})
	for _, bad := range []time.Duration{-time.Second, cache.MaxStockTTL + time.Millisecond} {
		if _, err := cache.New(store, cache.Config{Keys: cache.Keyspace{Prefix: prefix}, StockTTL: bad}); err == nil {
			t.Errorf("stock TTL %s accepted", bad)
		}
	}
	const ttl = 2 * time.Second
	c, err := cache.New(store, cache.Config{Keys: cache.Keyspace{Prefix: prefix}, StockTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	if c.StockTTL() != ttl {
		t.Fatalf("StockTTL() = %s", c.StockTTL())
	}
	ctx := context.Background()
	key := cache.StockKey("p-1")
	if _, _, err := cache.GetOrLoad(ctx, c, key, func(context.Context) (app.StockLevel, int64, error) {
		return app.StockLevel{Level: 4, Version: 3}, 3, nil
	}); err != nil {
		t.Fatal(err)
	}
	d, err := client.PTTL(ctx, c.Keys().Key("", key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if d > ttl || d < ttl*9/10-100*time.Millisecond {
		t.Errorf("a stock entry lives %s, want the stock TTL %s (less up to 10 %%)", d, ttl)
	}
}
