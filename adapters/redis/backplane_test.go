package redis_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
)

// Announcements are sent off the writer's path: many writers' keys, queued
// at once, all reach a subscriber; and Publish returns before a send to an
// unreachable Redis has failed, which is then reported.
func TestBackplanePublishesEveryKeyOffTheWritersPath(t *testing.T) {
	client, prefix := redistest.New(t)
	channel := prefix + "backplane"
	ctx := context.Background()
	sub := client.Subscribe(ctx, channel)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	bp := orderflowredis.NewBackplane(client, channel, func(err error) { t.Errorf("publish failed: %v", err) })
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if err := bp.Publish(ctx, []string{fmt.Sprintf("k%d-%d", w, i)}); err != nil {
					t.Errorf("publish: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	messages := 0
	deadline := time.After(10 * time.Second)
	for len(seen) < writers*perWriter {
		select {
		case m := <-sub.Channel():
			messages++
			_, keys, ok := strings.Cut(m.Payload, "|")
			if !ok {
				t.Fatalf("message %q has no time", m.Payload)
			}
			for _, k := range strings.Split(keys, "\n") {
				seen[k] = true
			}
		case <-deadline:
			t.Fatalf("%d of %d keys announced in 10 s", len(seen), writers*perWriter)
		}
	}
	t.Logf("%d keys in %d messages", len(seen), messages)

	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer dead.Close()
	release := make(chan struct{})
	failed := make(chan error, 1)
	unreachable := orderflowredis.NewBackplane(dead, channel, func(err error) {
		<-release // the report waits until Publish has returned
		failed <- err
	})
	if err := unreachable.Publish(ctx, []string{"k"}); err != nil {
		t.Fatalf("publish to an unreachable Redis: %v, want it queued", err)
	}
	close(release)
	select {
	case err := <-failed:
		if err == nil {
			t.Fatal("a failed send reported no error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a send to an unreachable Redis was never reported")
	}
}
