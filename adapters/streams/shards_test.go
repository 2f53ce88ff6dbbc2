package streams_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
)

// manyAggregateEvents are n events after `after` spread over `aggregates`
// products, each aggregate's versions rising with its events.
func manyAggregateEvents(after relay.LogPosition, n, aggregates int) []relay.CommittedEvent {
	ids := make([]string, aggregates)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	events := make([]relay.CommittedEvent, n)
	for i := range events {
		at := relay.LogPosition{TxID: after.TxID + uint64(i) + 1, Position: after.Position + int64(i) + 1}
		events[i] = relay.CommittedEvent{
			RecordedEvent: app.RecordedEvent{
				EventID: uuid.NewString(), AggregateType: domain.ProductAggregate, AggregateID: ids[i%aggregates],
				Version: at.Position, GlobalPosition: at.Position, Type: "StockAdded", SchemaVersion: 1,
				OccurredAt: time.Now().UTC(),
			},
			At:   at,
			Data: []byte(`{"quantity":1}`),
		}
	}
	return events
}

// With several shards, a publish that fails part-way leaves some shards
// ahead; a restarted relay resumes from the lowest shard checkpoint, the
// shards ahead skip what they hold, and in the end every event is on the
// streams exactly once, each aggregate's events in one stream in order.
func TestShardedPublishResumesFromTheLowestShardWithoutDuplicates(t *testing.T) {
	client, prefix := redistest.New(t)
	keys := streams.Keys{Prefix: prefix, StreamShards: 4}
	ctx := context.Background()

	first := manyAggregateEvents(relay.LogPosition{}, 40, 12)
	if err := streams.NewPublisher(client, keys, 10_000).Publish(ctx, relay.LogPosition{}, first); err != nil {
		t.Fatal(err)
	}
	second := manyAggregateEvents(first[len(first)-1].At, 40, 12)

	// Break one shard that has events in the second batch: its checkpoint
	// becomes a hash, so its script fails and the other shards go ahead.
	broken := keys.StreamShard(second[0].AggregateID)
	cpKey := keys.ShardCheckpoint(broken)
	saved, err := client.Get(ctx, cpKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Del(ctx, cpKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.HSet(ctx, cpKey, "x", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := streams.NewPublisher(client, keys, 10_000).Publish(ctx, first[len(first)-1].At, second); err == nil {
		t.Fatal("Publish with a broken shard succeeded")
	}
	if err := client.Del(ctx, cpKey).Err(); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, cpKey, saved, 0).Err(); err != nil {
		t.Fatal(err)
	}

	// A restarted relay.
	pub := streams.NewPublisher(client, keys, 10_000)
	cp, err := pub.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp != first[len(first)-1].At {
		t.Fatalf("checkpoint after the partial publish = %v, want the lowest shard's %v", cp, first[len(first)-1].At)
	}
	if err := pub.Publish(ctx, cp, second); err != nil {
		t.Fatal(err)
	}
	if cp, err = pub.Checkpoint(ctx); err != nil || cp != second[len(second)-1].At {
		t.Fatalf("checkpoint = %v (%v), want %v", cp, err, second[len(second)-1].At)
	}

	all := append(first, second...)
	seen := map[string]int{}
	lastVersion := map[string]int64{}
	streamOf := map[string]string{}
	shardsUsed := map[int]bool{}
	for shard := range keys.Shards() {
		stream := keys.ShardEventStream(domain.ProductAggregate, shard)
		for _, m := range xrangeAll(t, client, stream) {
			msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(m.Values)
			if err != nil {
				t.Fatal(err)
			}
			seen[msg.UUID]++
			id := msg.Metadata.Get(streams.MetaAggregateID)
			v, _ := strconv.ParseInt(msg.Metadata.Get(streams.MetaVersion), 10, 64)
			if s, ok := streamOf[id]; ok && s != stream {
				t.Errorf("aggregate %s is in %s and %s", id, s, stream)
			}
			streamOf[id] = stream
			if v <= lastVersion[id] {
				t.Errorf("aggregate %s: version %d after %d in %s", id, v, lastVersion[id], stream)
			}
			lastVersion[id] = v
			shardsUsed[shard] = true
		}
	}
	for _, e := range all {
		if seen[e.EventID] != 1 {
			t.Errorf("event %s is on the streams %d times, want once", e.EventID, seen[e.EventID])
		}
	}
	if len(shardsUsed) < 2 {
		t.Errorf("12 aggregates used %d of 4 shards; the mapping does not spread", len(shardsUsed))
	}
}

// Every binary records and checks the shard count: a second count is refused.
func TestStreamShardCountMismatchIsRefused(t *testing.T) {
	client, prefix := redistest.New(t)
	ctx := context.Background()
	for _, n := range []int{3, 3} {
		if err := streams.CheckStreamShards(ctx, client, streams.Keys{Prefix: prefix, StreamShards: n}); err != nil {
			t.Fatalf("check with %d shards: %v", n, err)
		}
	}
	for _, n := range []int{0, 1, 2, 4} {
		err := streams.CheckStreamShards(ctx, client, streams.Keys{Prefix: prefix, StreamShards: n})
		if !errors.Is(err, streams.ErrStreamShardsMismatch) {
			t.Errorf("check with %d shards after 3 = %v, want ErrStreamShardsMismatch", n, err)
		}
	}
}
