package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
)

// Sliding expiry: an entry that is read keeps living past its window, as
// long as reads keep coming, but not past its absolute limit counted from
// its write; an entry nobody reads is gone after the window. Reads are 50
// ms apart, far inside the 1 s window, so a busy machine does not starve
// the read entry. With plain reads (no sliding) the read entry goes with
// the unread one and the test fails.
func TestGetSlidingRenewsUpToItsLimit(t *testing.T) {
	store, prefix := newStore(t)
	client := storeClient(t)
	ctx := context.Background()
	const (
		window = time.Second
		limit  = 3 * time.Second
		every  = 50 * time.Millisecond
	)
	read, unread := prefix+"slide:{read}", prefix+"slide:{unread}"
	start := time.Now()
	for _, key := range []string{read, unread} {
		if ok, err := store.SetFenced(ctx, key, 1, []byte("v1"), window); err != nil || !ok {
			t.Fatalf("set %s: %v %v", key, ok, err)
		}
	}
	exists := func(key string) bool {
		t.Helper()
		n, err := client.Exists(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	var unreadGone, readGone time.Duration
	for deadline := start.Add(limit + 2*time.Second); time.Now().Before(deadline); time.Sleep(every) {
		e, err := store.GetSliding(ctx, read, window, limit)
		if err != nil {
			t.Fatal(err)
		}
		since := time.Since(start)
		if unreadGone == 0 && !exists(unread) {
			unreadGone = since
		}
		if !e.Found {
			readGone = since
			break
		}
		if string(e.Data) != "v1" || e.Version != 1 || e.Tombstone {
			t.Fatalf("read %+v, want the value v1 at version 1", e)
		}
	}
	switch {
	case unreadGone == 0:
		t.Fatalf("the unread entry outlived %s, its window %s", limit, window)
	case unreadGone < window*9/10 || unreadGone > window+time.Second:
		t.Errorf("the unread entry was gone %s after its write, want about its window %s", unreadGone, window)
	}
	switch {
	case readGone == 0:
		t.Fatalf("the read entry outlived its limit %s by 2 s", limit)
	case readGone < 2*window:
		t.Errorf("the read entry was gone %s after its write: reads every %s did not keep it past its window %s", readGone, every, window)
	case readGone < limit*9/10 || readGone > limit+500*time.Millisecond:
		t.Errorf("the read entry was gone %s after its write, want its limit %s", readGone, limit)
	}
}

// A tombstone is never renewed: it expires on its own clock. Nor is a
// read ever allowed to shorten an entry's life.
func TestGetSlidingLeavesTombstonesAndLongerLives(t *testing.T) {
	store, prefix := newStore(t)
	client := storeClient(t)
	ctx := context.Background()
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	tomb := prefix + "slide:{tomb}"
	if err := store.Tombstone(ctx, tomb, 2, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetSliding(ctx, tomb, time.Hour, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := pttl(tomb); d > time.Second {
		t.Errorf("a read of a tombstone renewed it to %s", d)
	}

	long := prefix + "slide:{long}"
	if _, err := store.SetFenced(ctx, long, 1, []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetSliding(ctx, long, time.Minute, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := pttl(long); d < 59*time.Minute {
		t.Errorf("a read with a 1 min window shortened an entry's life from 1 h to %s", d)
	}
}

// storeClient is a client of the test server for looking at keys.
func storeClient(t *testing.T) redis.UniversalClient {
	t.Helper()
	return redistest.NewClient(t, orderflowredis.PoolOptions{})
}
