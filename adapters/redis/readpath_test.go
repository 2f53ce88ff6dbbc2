package redis_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv"
)

// The read path over real PostgreSQL and Redis: the cache service as the
// API uses it, with the races that fencing and leases exist for forced
// deterministically by loaders that block on channels.

// waitLimit bounds every wait for a condition in these tests.
const waitLimit = 20 * time.Second

// readPath is the application over a fresh database and a private key prefix.
type readPath struct {
	app        *app.Application
	cache      *cache.Cache
	pg         *postgres.Store
	cacheStore *orderflowredis.CacheStore
	redis      redis.UniversalClient
	keys       cache.Keyspace
	// storeGets receives a signal after every read of an entry by GetOrLoad.
	storeGets chan cache.Family
}

func newReadPath(t *testing.T) *readPath {
	t.Helper()
	storeGets := make(chan cache.Family, 1024)
	e := testenv.New(t, testenv.Options{Cache: true, CacheConfig: cache.Config{
		OnStoreGet: func(f cache.Family, _ time.Duration) {
			select {
			case storeGets <- f:
			default:
			}
		},
	}})
	return &readPath{app: e.App, cache: e.Cache, pg: e.Store, cacheStore: e.CacheStore, redis: e.Redis, keys: e.CacheKeys, storeGets: storeGets}
}

func (rp *readPath) createProduct(t *testing.T, sku string, priceCents int64) app.Product {
	t.Helper()
	p, err := rp.app.Commands.CreateProduct.Handle(context.Background(), app.CreateProduct{
		SKU: sku, Name: "Product " + sku, Description: "d", PriceCents: priceCents, Currency: "EUR", InitialStock: 10,
	})
	if err != nil {
		t.Fatalf("create product: %v", err)
	}
	return p
}

// entry reads what Redis holds at a cache key, bypassing the cache service.
func (rp *readPath) entry(t *testing.T, key cache.Key) cache.Entry {
	t.Helper()
	e, err := rp.cacheStore.Get(context.Background(), rp.keys.Key("", key))
	if err != nil {
		t.Fatalf("read %s: %v", key.Name, err)
	}
	return e
}

// recv waits for a value on ch, failing the test after waitLimit.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type productRead struct {
	p      app.Product
	status app.CacheStatus
	err    error
}

// TestStaleSetRaceNeverCachesOlderValue forces the race fencing exists for:
// a reader loads v1 from PostgreSQL, a price change commits v2 and evicts
// the key while the reader is still on its way to Redis, then the reader
// tries to cache v1. The cache must end up holding v2 or nothing, and every
// read that starts after the change answered must see v2.
func TestStaleSetRaceNeverCachesOlderValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		// prepare leaves the product's details key cold in some way.
		prepare func(t *testing.T, rp *readPath, key cache.Key)
	}{
		{"KeyTombstonedByCreation", func(t *testing.T, rp *readPath, key cache.Key) {
			if e := rp.entry(t, key); !e.Found || !e.Tombstone || e.Version != 1 {
				t.Fatalf("after creation the key holds %+v, want the creation's tombstone at version 1", e)
			}
		}},
		{"KeyAbsent", func(t *testing.T, rp *readPath, key cache.Key) {
			// As after the tombstone expired.
			if err := rp.redis.Del(context.Background(), rp.keys.Key("", key)).Err(); err != nil {
				t.Fatal(err)
			}
			if e := rp.entry(t, key); e.Found {
				t.Fatalf("key still holds %+v", e)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp := newReadPath(t)
			ctx := context.Background()
			const v1Price, v2Price = 1000, 2000
			created := rp.createProduct(t, "RACE-1", v1Price)
			id := created.ID
			key := cache.ProductKey(id)
			tc.prepare(t, rp, key)

			loaded := make(chan app.Product, 1)
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseReader := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(releaseReader)

			slow := make(chan productRead, 1)
			go func() {
				p, status, err := cache.GetOrLoad(ctx, rp.cache, key, func(ctx context.Context) (app.Product, int64, error) {
					p, err := rp.pg.Product(ctx, id)
					if err != nil {
						return p, 0, err
					}
					p.StockLevel = nil
					select {
					case loaded <- p: // the first load; a reload finds the channel full
					default:
					}
					<-release // the reader stalls between PostgreSQL and Redis
					return p, p.Version, nil
				})
				slow <- productRead{p, status, err}
			}()
			v1 := recv(t, loaded, "the slow reader's load")
			if v1.PriceCents != v1Price || v1.Version != 1 {
				t.Fatalf("slow reader loaded %+v, want v1", v1)
			}

			changed, err := rp.app.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: id, PriceCents: v2Price})
			if err != nil {
				t.Fatalf("change price: %v", err)
			}
			if changed.Version != 2 {
				t.Fatalf("price change reached version %d, want 2", changed.Version)
			}
			if e := rp.entry(t, key); !e.Found || !e.Tombstone || e.Version != 2 {
				t.Fatalf("after the price change the key holds %+v, want a tombstone at version 2", e)
			}

			// A reader that starts after the change answered, while the
			// slow load is in flight: whether it joins that load (it then
			// must not take its refused value) or waits on the lease, it
			// must answer v2.
			drain(rp.storeGets) // the slow reader's read is long done
			late := make(chan productRead, 1)
			go func() {
				p, status, err := rp.app.Queries.Product.ByID(ctx, id)
				late <- productRead{p, status, err}
			}()
			recv(t, rp.storeGets, "the late reader's cache read")

			releaseReader()
			got := recv(t, slow, "the slow reader")
			if got.err != nil {
				t.Fatalf("slow reader: %v", got.err)
			}
			// The slow reader may answer what it read, as it began before the
			// change, or v2 when it had to reload (a joiner shared its refused load).
			if got.p.PriceCents != v1Price && got.p.PriceCents != v2Price || got.status != app.CacheMiss {
				t.Errorf("slow reader answered price %d (%s), want v1 or v2 (MISS)", got.p.PriceCents, got.status)
			}

			lr := recv(t, late, "the late reader")
			if lr.err != nil || lr.p.PriceCents != v2Price || lr.p.Version != 2 {
				t.Errorf("late reader = price %d version %d (%s), %v; want v2", lr.p.PriceCents, lr.p.Version, lr.status, lr.err)
			}

			// Never v1 in the cache, whichever way we look.
			e := rp.entry(t, key)
			if e.Found && (e.Version < 2 || !e.Tombstone && !bytes.Contains(e.Data, []byte(`"priceCents":2000`))) {
				t.Errorf("cache holds version %d tombstone %v data %s; want v2 or nothing", e.Version, e.Tombstone, e.Data)
			}
			if cached, ok, err := cache.Get[app.Product](ctx, rp.cache, key); err != nil {
				t.Fatal(err)
			} else if ok && (cached.PriceCents != v2Price || cached.Version < 2) {
				t.Errorf("cache.Get = %+v, want v2 or nothing", cached)
			}

			// And the query handler answers v2, from PostgreSQL or from the cache.
			for i := range 2 {
				p, status, err := rp.app.Queries.Product.ByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if p.PriceCents != v2Price || p.Version != 2 || p.StockLevel == nil {
					t.Errorf("read %d after the race: %+v (%s), want price %d at version 2 with stock", i, p, status, v2Price)
				}
			}
			if _, status, _ := rp.app.Queries.Product.ByID(ctx, id); status != app.CacheHit {
				t.Errorf("v2 was never cached: read answered %s, want HIT", status)
			}
		})
	}
}

func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// TestLeaseHolderDiesMidLoad: process A takes the load lease of a key and
// hangs; process B (another cache over another connection, same keyspace)
// must load the value itself once A's lease expired, and not before: B's
// wait bound is set far beyond the lease, so only the expiry lets it in.
func TestLeaseHolderDiesMidLoad(t *testing.T) {
	clientA, prefix := redistest.New(t)
	clientB := redistest.NewClient(t, orderflowredis.PoolOptions{})

	keys := cache.Keyspace{Prefix: prefix}
	const leaseTTL = 300 * time.Millisecond
	cacheA, err := cache.New(orderflowredis.NewCacheStore(clientA, orderflowredis.BreakerConfig{}), cache.Config{Keys: keys, LeaseTTL: leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	cacheB, err := cache.New(orderflowredis.NewCacheStore(clientB, orderflowredis.BreakerConfig{}), cache.Config{Keys: keys, LeaseTTL: leaseTTL, WaitFor: time.Minute})
	if err != nil {
		t.Fatal(err)
	}

	type value struct {
		By string `json:"by"`
	}
	key := cache.CustomerKey("0190b5f2-7c1e-7a3b-9d4e-5f6a7b8c9d0e")
	leaseKey := keys.Lease("", key)
	ctx := context.Background()

	// A takes the lease and hangs in its loader until the test ends.
	var loadsA atomic.Int32
	aStarted := make(chan struct{})
	aStop := make(chan struct{})
	aDone := make(chan error, 1)
	go func() {
		_, _, err := cache.GetOrLoad(ctx, cacheA, key, func(context.Context) (value, int64, error) {
			loadsA.Add(1)
			close(aStarted)
			<-aStop // a hung process: deaf to its own load timeout
			return value{}, 0, errors.New("process A died")
		})
		aDone <- err
	}()
	t.Cleanup(func() {
		close(aStop)
		<-aDone
	})
	recv(t, aStarted, "A's loader")
	tokenA, err := clientA.Get(ctx, leaseKey).Result()
	if err != nil || tokenA == "" {
		t.Fatalf("A loads without holding the lease %s: %q, %v", leaseKey, tokenA, err)
	}

	// B misses, finds A's lease, waits for it to expire, then loads itself.
	var loadsB atomic.Int32
	var leaseDuringB string
	var leaseErr error
	got, status, err := cache.GetOrLoad(ctx, cacheB, key, func(ctx context.Context) (value, int64, error) {
		loadsB.Add(1)
		leaseDuringB, leaseErr = clientB.Get(ctx, leaseKey).Result()
		return value{By: "B"}, 1, nil
	})
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	if got.By != "B" || status != app.CacheMiss {
		t.Errorf("B got %+v (%s), want its own load (MISS)", got, status)
	}
	if n := loadsB.Load(); n != 1 {
		t.Errorf("B's loader ran %d times, want 1", n)
	}
	if n := loadsA.Load(); n != 1 {
		t.Errorf("A's loader ran %d times, want 1", n)
	}
	// B loaded under a lease of its own: A's had expired, none was ignored.
	if leaseErr != nil || leaseDuringB == "" || leaseDuringB == tokenA {
		t.Errorf("while B loaded, the lease held %q (%v); want B's own token, not A's %q", leaseDuringB, leaseErr, tokenA)
	}
	if now, err := clientB.Get(ctx, leaseKey).Result(); err == nil && now == tokenA {
		t.Errorf("A's lease %q is still there after B loaded", now)
	} else if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	// B's value is what both processes now read.
	for name, c := range map[string]*cache.Cache{"A": cacheA, "B": cacheB} {
		v, ok, err := cache.Get[value](ctx, c, key)
		if err != nil || !ok || v.By != "B" {
			t.Errorf("cache %s reads %+v, %v, %v; want B's value", name, v, ok, err)
		}
	}
}
