package redis_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv/faultproxy"
)

func newStore(t *testing.T) (*orderflowredis.CacheStore, string) {
	t.Helper()
	client, prefix := redistest.New(t)
	return orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{}), prefix
}

// TestFencingRules walks the fencing rule of ADR 5: a value at v replaces a
// missing key, an older value or a tombstone at ≤ v; a tombstone at v
// replaces any value older than v; equal versions are idempotent.
func TestFencingRules(t *testing.T) {
	type op struct {
		tombstone bool
		version   int64
		data      string
	}
	tests := []struct {
		name          string
		ops           []op
		wantTombstone bool
		wantVersion   int64
		wantData      string
	}{
		{"value on missing key", []op{{false, 3, "v3"}}, false, 3, "v3"},
		{"newer value replaces older", []op{{false, 3, "v3"}, {false, 4, "v4"}}, false, 4, "v4"},
		{"older value never replaces newer", []op{{false, 4, "v4"}, {false, 3, "v3"}}, false, 4, "v4"},
		{"equal version is idempotent", []op{{false, 4, "v4"}, {false, 4, "other"}}, false, 4, "v4"},
		{"tombstone replaces older value, keeps it for stale serving", []op{{false, 3, "v3"}, {true, 4, ""}}, true, 4, "v3"},
		{"tombstone leaves a value of its own version", []op{{false, 4, "v4"}, {true, 4, ""}}, false, 4, "v4"},
		{"tombstone leaves a newer value", []op{{false, 5, "v5"}, {true, 4, ""}}, false, 5, "v5"},
		{"older value never replaces a tombstone", []op{{true, 4, ""}, {false, 3, "v3"}}, true, 4, ""},
		{"value at the tombstone's version replaces it", []op{{true, 4, ""}, {false, 4, "v4"}}, false, 4, "v4"},
		{"newer value replaces a tombstone", []op{{true, 4, ""}, {false, 6, "v6"}}, false, 6, "v6"},
		{"older tombstone leaves a newer one", []op{{true, 6, ""}, {true, 4, ""}}, true, 6, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, prefix := newStore(t)
			ctx := context.Background()
			key := prefix + "products:1"
			for _, o := range tt.ops {
				var err error
				if o.tombstone {
					err = store.Tombstone(ctx, key, o.version, time.Minute)
				} else {
					_, err = store.SetFenced(ctx, key, o.version, []byte(o.data), time.Minute)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := store.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Found || got.Tombstone != tt.wantTombstone || got.Version != tt.wantVersion || string(got.Data) != tt.wantData {
				t.Errorf("entry = found %v tombstone %v version %d data %q; want tombstone %v version %d data %q",
					got.Found, got.Tombstone, got.Version, got.Data, tt.wantTombstone, tt.wantVersion, tt.wantData)
			}
			if got.WrittenAt.IsZero() || time.Since(got.WrittenAt) > time.Minute {
				t.Errorf("written-at = %v, want about now", got.WrittenAt)
			}
		})
	}
}

func TestSetFencedReportsWhetherStored(t *testing.T) {
	store, prefix := newStore(t)
	ctx := context.Background()
	key := prefix + "customers:1"
	if err := store.Tombstone(ctx, key, 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if stored, err := store.SetFenced(ctx, key, 1, []byte("old"), time.Minute); err != nil || stored {
		t.Errorf("set v1 over tombstone v2 = %v, %v; want refused", stored, err)
	}
	if stored, err := store.SetFenced(ctx, key, 2, []byte("new"), time.Minute); err != nil || !stored {
		t.Errorf("set v2 over tombstone v2 = %v, %v; want stored", stored, err)
	}
}

// TestLateReleaseKeepsSuccessorsLease: an owner whose lease expired must not
// delete the lease a new owner took meanwhile.
func TestLateReleaseKeepsSuccessorsLease(t *testing.T) {
	store, prefix := newStore(t)
	ctx := context.Background()
	lease := prefix + "products:1:lease"
	if ok, err := store.AcquireLease(ctx, lease, "first", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("first acquire = %v, %v", ok, err)
	}
	if ok, _ := store.AcquireLease(ctx, lease, "second", time.Minute); ok {
		t.Fatal("second owner got a lease that is still held")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := store.AcquireLease(ctx, lease, "second", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first lease never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := store.ReleaseLease(ctx, lease, "first"); err != nil {
		t.Fatal(err)
	}
	if held, err := store.LeaseHeld(ctx, lease); err != nil || !held {
		t.Errorf("after the late release by the first owner, held = %v, %v; want the second owner's lease kept", held, err)
	}
	if err := store.ReleaseLease(ctx, lease, "second"); err != nil {
		t.Fatal(err)
	}
	if held, _ := store.LeaseHeld(ctx, lease); held {
		t.Error("the owner's own release left the lease in place")
	}
}

func TestTagVersions(t *testing.T) {
	store, prefix := newStore(t)
	ctx := context.Background()
	tag := prefix + "tag:products"
	if v, err := store.TagVersion(ctx, tag); err != nil || v != 0 {
		t.Fatalf("fresh tag = %d, %v; want 0", v, err)
	}
	for range 3 {
		if err := store.BumpTag(ctx, tag); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := store.TagVersion(ctx, tag); err != nil || v != 3 {
		t.Errorf("tag after 3 bumps = %d, %v; want 3", v, err)
	}
}

// TestDeadRedisFailsFastBehindTheBreaker: once the breaker opened, calls
// fail at once with ErrCacheUnavailable instead of waiting for timeouts.
func TestDeadRedisFailsFastBehindTheBreaker(t *testing.T) {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{ConsecutiveFailures: 2, FailingFor: time.Nanosecond, OpenFor: time.Minute})
	ctx := context.Background()
	for range 2 {
		if _, err := store.Get(ctx, "k"); !errors.Is(err, cache.ErrUnavailable) {
			t.Fatalf("get on dead redis: err = %v, want ErrCacheUnavailable", err)
		}
	}
	if store.Available() {
		t.Fatal("breaker still closed after consecutive failures")
	}
	_, err := store.Get(ctx, "k")
	if !errors.Is(err, cache.ErrUnavailable) || !errors.Is(err, gobreaker.ErrOpenState) {
		t.Fatalf("err = %v, want ErrCacheUnavailable from the open breaker, without a network call", err)
	}
}

// TestBreakerWaitsForFailuresToLast: a run of failed calls opens the
// circuit only once it has lasted FailingFor, so a burst whose replies all
// come late for a moment keeps reads on Redis; a Redis that stays dead
// opens it.
func TestBreakerWaitsForFailuresToLast(t *testing.T) {
	// A server that hangs up on every connection: each call fails at once.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: l.Addr().String(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	const failingFor = 300 * time.Millisecond
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{FailingFor: failingFor, OpenFor: time.Minute})
	ctx := context.Background()
	start := time.Now()
	for i := 0; i < 20 && time.Since(start) < failingFor/2; i++ {
		if _, err := store.Get(ctx, "k"); !errors.Is(err, cache.ErrUnavailable) {
			t.Fatalf("get on dead redis: err = %v, want ErrCacheUnavailable", err)
		}
		if !store.Available() && time.Since(start) < failingFor {
			t.Fatalf("breaker open after %d failures within %s, want closed until failures lasted %s", i+1, time.Since(start), failingFor)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.Available() {
		if time.Now().After(deadline) {
			t.Fatal("breaker still closed after 10 s of failures")
		}
		_, _ = store.Get(ctx, "k")
		time.Sleep(5 * time.Millisecond)
	}
	if took := time.Since(start); took < failingFor {
		t.Fatalf("breaker opened after %s of failures, want at least %s", took, failingFor)
	}
}

// TestBreakerRidesOutAStall: failures that are a minority of the window's
// calls (a stall of a busy machine) keep the circuit closed; once they are
// the majority (Redis is gone) it opens.
func TestBreakerRidesOutAStall(t *testing.T) {
	if redistest.Cluster(t) {
		t.Skip("the proxy stands in for one server (the single-node pass runs this)")
	}
	target, err := url.Parse(redistest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(t, target.Host)
	client := redis.NewClient(&redis.Options{Addr: proxy.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	store := orderflowredis.NewCacheStore(client, orderflowredis.BreakerConfig{ConsecutiveFailures: 3, FailingFor: time.Nanosecond, OpenFor: time.Minute, Window: time.Hour})
	ctx := context.Background()
	const successes = 10
	for range successes {
		if _, err := store.Get(ctx, "breaker-test:missing"); err != nil {
			t.Fatal(err)
		}
	}
	proxy.Cut()
	for i := 1; i <= successes; i++ {
		if !store.Available() {
			t.Fatalf("breaker open after %d failures following %d successes, want closed until failures are half the calls", i-1, successes)
		}
		if _, err := store.Get(ctx, "breaker-test:missing"); !errors.Is(err, cache.ErrUnavailable) {
			t.Fatalf("get through a cut proxy: err = %v, want ErrCacheUnavailable", err)
		}
	}
	if store.Available() {
		t.Fatalf("breaker closed after %d failures and %d successes, want open", successes, successes)
	}
}

// TestSetFencedManyOnAFreshScriptCache: the pipelined writes of a replay
// must work on a Redis that has not run the fencing script yet.
func TestSetFencedManyOnAFreshScriptCache(t *testing.T) {
	store, prefix := newStore(t)
	client, _ := redistest.New(t)
	ctx := context.Background()
	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	writes := []cache.FencedWrite{
		{Key: prefix + "customers:1", Version: 2, Data: []byte("a"), TTL: time.Minute},
		{Key: prefix + "customers:2", Version: 3, Data: []byte("b"), TTL: time.Minute},
	}
	if err := store.SetFencedMany(ctx, writes); err != nil {
		t.Fatalf("SetFencedMany after SCRIPT FLUSH: %v", err)
	}
	for _, w := range writes {
		got, err := store.Get(ctx, w.Key)
		if err != nil || got.Version != w.Version || string(got.Data) != string(w.Data) {
			t.Errorf("%s = %+v, %v; want version %d data %q", w.Key, got, err, w.Version, w.Data)
		}
	}
}
