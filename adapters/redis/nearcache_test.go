package redis_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/internal/testenv"
)

// nearInstance is one API process's cache, with a near cache, over the
// shared database and Redis of a testenv.Env.
type nearInstance struct {
	app   *app.Application
	cache *cache.Cache
	// client is the instance's own Redis client (its backplane's too).
	client redis.UniversalClient
	// up is true while its backplane subscription stands.
	up atomic.Bool
}

// newNearInstance starts an instance; listen starts its backplane
// subscriber and waits until it stands.
func newNearInstance(t *testing.T, e *testenv.Env, listen bool) *nearInstance {
	t.Helper()
	client := redistest.NewClient(t, orderflowredis.PoolOptions{})
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{})
	bp := orderflowredis.NewBackplane(client, e.CacheKeys.Backplane(), nil)
	c, err := cache.New(store, cache.Config{Keys: e.CacheKeys, Near: cache.NearConfig{MaxBytes: 1 << 20, Backplane: bp}})
	if err != nil {
		t.Fatal(err)
	}
	application, err := wire.New(e.Store, e.Store, c)
	if err != nil {
		t.Fatal(err)
	}
	in := &nearInstance{app: application, cache: c, client: client}
	if listen {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		t.Cleanup(func() { cancel(); <-done })
		go func() {
			defer close(done)
			_ = bp.Listen(ctx, orderflowredis.BackplaneHandler{
				Forget: c.ForgetNear, ForgetAll: c.ForgetAllNear,
				Subscribed: func(up bool) { in.up.Store(up) },
			}, slog.New(slog.DiscardHandler))
		}()
		waitUntil(t, "the backplane subscription", in.up.Load)
	}
	return in
}

// profile reads a customer's profile through the instance, with opts when given.
func (in *nearInstance) profile(t *testing.T, id string, opts *app.ReadOptions) (app.Customer, app.CacheStatus) {
	t.Helper()
	ctx := context.Background()
	if opts != nil {
		ctx = app.WithReadOptions(ctx, opts)
	}
	view, status, err := in.app.Queries.Customer.Handle(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := view.Value()
	if err != nil {
		t.Fatal(err)
	}
	return c, status
}

// waitUntil polls cond until it holds, failing t after waitLimit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func registerNearCustomer(t *testing.T, in *nearInstance) app.Customer {
	t.Helper()
	c, err := in.app.Commands.RegisterCustomer.Handle(context.Background(), app.RegisterCustomer{Email: "near@example.com", Name: "Near"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func rename(t *testing.T, in *nearInstance, id, name string) app.Customer {
	t.Helper()
	c, err := in.app.Commands.UpdateCustomer.Handle(context.Background(), app.UpdateCustomer{CustomerID: id, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNearCacheDefaultReadConfirmsVersion: a default read answers from the
// copy only while Redis holds that version, so a write through another
// instance is seen at once even when no backplane told this one.
func TestNearCacheDefaultReadConfirmsVersion(t *testing.T) {
	e := testenv.New(t, testenv.Options{Cache: true})
	writer, reader := newNearInstance(t, e, false), newNearInstance(t, e, false)
	c := registerNearCustomer(t, writer)
	reader.profile(t, c.ID, nil) // loads
	reader.profile(t, c.ID, nil) // fills the copy from a Redis hit
	near := reader.cache.Stats(cache.FamilyCustomer).NearHits.Load()
	got, status := reader.profile(t, c.ID, nil)
	if status != app.CacheHit || reader.cache.Stats(cache.FamilyCustomer).NearHits.Load() != near+1 {
		t.Fatalf("third read: %s, near hits %d → %d; want a HIT from the copy", status, near, reader.cache.Stats(cache.FamilyCustomer).NearHits.Load())
	}
	renamed := rename(t, writer, c.ID, "Renamed")
	got, _ = reader.profile(t, c.ID, nil)
	if got.Version != renamed.Version || got.Name != "Renamed" {
		t.Fatalf("read after the rename through another instance: %+v, want version %d (its copy was at %d)", got, renamed.Version, c.Version)
	}
}

// TestNearCacheMaxStale: a read that allows max-stale=N is answered from
// the copy without Redis, with its age, while the copy was confirmed at
// most N ago; past N it asks Redis again.
func TestNearCacheMaxStale(t *testing.T) {
	e := testenv.New(t, testenv.Options{Cache: true})
	writer, reader := newNearInstance(t, e, false), newNearInstance(t, e, false)
	c := registerNearCustomer(t, writer)
	reader.profile(t, c.ID, nil)
	reader.profile(t, c.ID, nil)
	renamed := rename(t, writer, c.ID, "Renamed") // no backplane: the reader is not told

	opts := &app.ReadOptions{MaxStale: time.Hour}
	got, status := reader.profile(t, c.ID, opts)
	if status != app.CacheHitNear || got.Version != c.Version || opts.Age < 0 || opts.Age > time.Hour {
		t.Fatalf("max-stale read: %s version %d age %s; want HIT-L1 of the copy at version %d", status, got.Version, opts.Age, c.Version)
	}
	// A bound the copy's age is over: Redis is asked, the rename is seen.
	waitUntil(t, "the copy to age past 50ms", func() bool {
		o := &app.ReadOptions{MaxStale: time.Hour}
		reader.profile(t, c.ID, o)
		return o.Age > 50*time.Millisecond
	})
	opts = &app.ReadOptions{MaxStale: 50 * time.Millisecond}
	got, status = reader.profile(t, c.ID, opts)
	if status == app.CacheHitNear || got.Version != renamed.Version {
		t.Fatalf("read with max-stale below the copy's age: %s version %d, want version %d from Redis", status, got.Version, renamed.Version)
	}
}

// TestNearCacheBackplane: a write through one instance drops the other's
// copy; losing the subscription drops the whole near cache.
func TestNearCacheBackplane(t *testing.T) {
	e := testenv.New(t, testenv.Options{Cache: true})
	writer, reader := newNearInstance(t, e, true), newNearInstance(t, e, true)
	c := registerNearCustomer(t, writer)
	reader.profile(t, c.ID, nil)
	reader.profile(t, c.ID, nil)
	if n := reader.cache.NearStats().Entries; n == 0 {
		t.Fatal("the reader's near cache holds nothing after two reads")
	}
	renamed := rename(t, writer, c.ID, "Renamed")
	waitUntil(t, "the announcement to reach the reader", func() bool {
		got, status := reader.profile(t, c.ID, &app.ReadOptions{MaxStale: time.Hour})
		return status != app.CacheHitNear || got.Version == renamed.Version
	})
	if got, _ := reader.profile(t, c.ID, &app.ReadOptions{MaxStale: time.Hour}); got.Version != renamed.Version {
		t.Fatalf("after the announcement a max-stale read gives version %d, want %d", got.Version, renamed.Version)
	}

	reader.profile(t, c.ID, nil)
	waitUntil(t, "the copy", func() bool { return reader.cache.NearStats().Entries > 0 })
	resets := reader.cache.NearStats().Resets
	// Kill every pub/sub connection, on every node of a cluster: the
	// subscriber's receive fails.
	kill := func(ctx context.Context, c *redis.Client) error {
		return c.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err()
	}
	var err error
	switch c := e.Redis.(type) {
	case *redis.ClusterClient:
		err = c.ForEachShard(context.Background(), kill)
	case *redis.Client:
		err = kill(context.Background(), c)
	default:
		t.Fatalf("unexpected client %T", e.Redis)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the near cache to be dropped", func() bool {
		s := reader.cache.NearStats()
		return s.Resets > resets && s.Entries == 0
	})
	waitUntil(t, "the subscription to stand again", reader.up.Load)
}

// TestNearCacheDroppedOnGenerationSwitch: copies of one generation never
// answer after readers moved to another.
func TestNearCacheDroppedOnGenerationSwitch(t *testing.T) {
	e := testenv.New(t, testenv.Options{Cache: true})
	in := newNearInstance(t, e, false)
	c := registerNearCustomer(t, in)
	in.profile(t, c.ID, nil)
	in.profile(t, c.ID, nil)
	if in.cache.NearStats().Entries == 0 {
		t.Fatal("no copy after two reads")
	}
	ctx := context.Background()
	if err := e.Redis.Set(ctx, e.CacheKeys.Generation(), "g2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := in.cache.RefreshGenerations(ctx); err != nil {
		t.Fatal(err)
	}
	if s := in.cache.NearStats(); s.Entries != 0 || s.Resets != 1 {
		t.Fatalf("after the switch: %+v, want no entries and one reset", s)
	}
}

// TestGetIfChangedRenewsLikeARead: confirming a copy renews a sliding
// entry's life as reading it would, and never a tombstone's.
func TestGetIfChangedRenewsLikeARead(t *testing.T) {
	client, prefix := redistest.New(t)
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{})
	ctx := context.Background()
	key := prefix + "customers:{c1}"
	if _, err := store.SetFenced(ctx, key, 1, []byte(`{}`), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ttl := func() time.Duration {
		t.Helper()
		d, err := client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if _, unchanged, err := store.GetIfChanged(ctx, key, 1, 0, 0); err != nil || !unchanged || ttl() > 500*time.Millisecond {
		t.Fatalf("without a window: unchanged %t, %v, ttl %s; want unchanged and no renewal", unchanged, err, ttl())
	}
	if _, unchanged, err := store.GetIfChanged(ctx, key, 1, time.Minute, time.Hour); err != nil || !unchanged || ttl() < 50*time.Second {
		t.Fatalf("with a 1 min window: unchanged %t, %v, ttl %s; want unchanged and renewed to about 1 min", unchanged, err, ttl())
	}
	if err := store.Tombstone(ctx, key, 2, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if e, unchanged, err := store.GetIfChanged(ctx, key, 1, time.Minute, time.Hour); err != nil || unchanged || !e.Tombstone || ttl() > 500*time.Millisecond {
		t.Fatalf("after a tombstone: %+v unchanged %t, %v, ttl %s; want the tombstone, not renewed", e, unchanged, err, ttl())
	}
}
