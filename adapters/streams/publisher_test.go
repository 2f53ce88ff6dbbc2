package streams_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
)

// outboxEvents appends a product, a customer and an order through the
// real store and reads them back through the outbox, as the relay would.
func outboxEvents(t *testing.T) []relay.CommittedEvent {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	ctx := app.WithMetadata(context.Background(), app.Metadata{CorrelationID: "corr-1", CausationID: "cause-1", Actor: "tester"})
	p, err := e.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "PUB-1", Name: "Pub", PriceCents: 100, Currency: "EUR", InitialStock: 5})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "pub@example.com", Name: "Pub"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 2}}}); err != nil {
		t.Fatal(err)
	}
	// ProductCreated, CustomerRegistered, OrderPlaced + StockReserved.
	events, _ := e.Committed(t, relay.LogPosition{})
	if len(events) != 4 {
		t.Fatalf("outbox returned %d events, want 4", len(events))
	}
	return events
}

func publisherOnTestRedis(t *testing.T, maxLen int64) (*streams.Publisher, redis.UniversalClient, streams.Keys) {
	t.Helper()
	client, prefix := redistest.New(t)
	keys := streams.Keys{Prefix: prefix, StreamShards: redistest.StreamShards(t)}
	return streams.NewPublisher(client, keys, maxLen), client, keys
}

// The relay's entries are what Watermill's redisstream subscriber reads: its
// default unmarshaller turns each into a message whose UUID is the event id,
// whose payload is the event's JSON and whose metadata carries the envelope.
func TestPublishedEntriesAreWatermillMessages(t *testing.T) {
	events := outboxEvents(t)
	pub, client, keys := publisherOnTestRedis(t, 10_000)
	ctx := context.Background()
	if err := pub.Publish(ctx, relay.LogPosition{}, events); err != nil {
		t.Fatal(err)
	}

	var entries []redis.XMessage
	byType := map[string]int{}
	for _, stream := range keys.EventStreams() {
		msgs, err := client.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		byType[stream] = len(msgs)
		entries = append(entries, msgs...)
	}
	// ProductCreated and StockReserved, CustomerRegistered, OrderPlaced: each
	// in its aggregate's stream (its type's stream in its shard).
	want := map[string]int{}
	for _, e := range events {
		want[keys.AggregateEventStream(e.AggregateType, e.AggregateID)]++
	}
	for stream, n := range want {
		if byType[stream] != n {
			t.Errorf("stream %s holds %d entries, want %d", stream, byType[stream], n)
		}
	}
	if len(entries) != len(events) {
		t.Fatalf("streams hold %d entries, want %d", len(entries), len(events))
	}

	byID := map[string]relay.CommittedEvent{}
	for _, e := range events {
		byID[e.EventID] = e
	}
	unmarshaller := redisstream.DefaultMarshallerUnmarshaller{}
	for _, entry := range entries {
		msg, err := unmarshaller.Unmarshal(entry.Values)
		if err != nil {
			t.Fatalf("entry %s: watermill cannot unmarshal it: %v", entry.ID, err)
		}
		e, ok := byID[msg.UUID]
		if !ok {
			t.Fatalf("entry %s: message UUID %q is no event id of the batch", entry.ID, msg.UUID)
		}
		delete(byID, msg.UUID)
		if string(msg.Payload) != string(e.Data) {
			t.Errorf("event %s: payload %s, want the event's JSON %s", e.EventID, msg.Payload, e.Data)
		}
		want := map[string]string{
			"event_type":      e.Type,
			"schema_version":  strconv.Itoa(e.SchemaVersion),
			"aggregate_type":  e.AggregateType,
			"aggregate_id":    e.AggregateID,
			"version":         strconv.FormatInt(e.Version, 10),
			"global_position": strconv.FormatInt(e.GlobalPosition, 10),
			"tx_id":           strconv.FormatUint(e.At.TxID, 10),
			"occurred_at":     e.OccurredAt.UTC().Format(time.RFC3339Nano),
			"correlation_id":  "corr-1",
			"causation_id":    "cause-1",
			"actor":           "tester",
		}
		for k, v := range want {
			if got := msg.Metadata.Get(k); got != v {
				t.Errorf("event %s (%s): metadata %s = %q, want %q", e.EventID, e.Type, k, got, v)
			}
		}
		streamKey := keys.AggregateEventStream(e.AggregateType, e.AggregateID)
		found := false
		for _, m := range xrangeAll(t, client, streamKey) {
			if m.ID == entry.ID {
				found = true
			}
		}
		if !found {
			t.Errorf("event %s of a %s is not in stream %s", e.EventID, e.AggregateType, streamKey)
		}
	}
	if len(byID) != 0 {
		t.Errorf("events never published: %v", byID)
	}

	cp, err := pub.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp != events[len(events)-1].At {
		t.Errorf("checkpoint = %v, want the last event's position %v", cp, events[len(events)-1].At)
	}
}

func xrangeAll(t *testing.T, client redis.UniversalClient, stream string) []redis.XMessage {
	t.Helper()
	msgs, err := client.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// syntheticEvents are n product events after `after`, one transaction each.
func productEventsAfter(after relay.LogPosition, n int) []relay.CommittedEvent {
	events := make([]relay.CommittedEvent, n)
	aggregate := uuid.NewString()
	for i := range events {
		at := relay.LogPosition{TxID: after.TxID + uint64(i) + 1, Position: after.Position + int64(i) + 1}
		events[i] = relay.CommittedEvent{
			RecordedEvent: app.RecordedEvent{
				EventID: uuid.NewString(), AggregateType: domain.ProductAggregate, AggregateID: aggregate,
				Version: at.Position, GlobalPosition: at.Position, Type: "StockAdded", SchemaVersion: 1,
				OccurredAt: time.Now().UTC(),
			},
			At:   at,
			Data: []byte(`{"quantity":1}`),
		}
	}
	return events
}

// typeLen is the number of entries of an aggregate type, over every shard.
func typeLen(t *testing.T, client redis.UniversalClient, keys streams.Keys, aggregateType string) int64 {
	t.Helper()
	var n int64
	for shard := range keys.Shards() {
		n += streamLen(t, client, keys.ShardEventStream(aggregateType, shard))
	}
	return n
}

func streamLen(t *testing.T, client redis.UniversalClient, stream string) int64 {
	t.Helper()
	n, err := client.XLen(context.Background(), stream).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The checkpoint moves only from where the publisher expects it: a relay
// that lost the lead (or a stale read) publishing from an old position gets
// ErrCheckpointMoved and writes nothing at all.
func TestPublishFromStaleCheckpointWritesNothing(t *testing.T) {
	pub, client, keys := publisherOnTestRedis(t, 10_000)
	ctx := context.Background()

	// No checkpoint yet: only the start of the log is current.
	first := productEventsAfter(relay.LogPosition{}, 3)
	if err := pub.Publish(ctx, first[0].At, first[1:]); !errors.Is(err, relay.ErrCheckpointMoved) {
		t.Fatalf("Publish from %v with no checkpoint = %v, want ErrCheckpointMoved", first[0].At, err)
	}
	if n := typeLen(t, client, keys, domain.ProductAggregate); n != 0 {
		t.Fatalf("XLEN after a refused publish = %d, want 0", n)
	}

	if err := pub.Publish(ctx, relay.LogPosition{}, first); err != nil {
		t.Fatal(err)
	}
	cp, err := pub.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp != first[2].At {
		t.Fatalf("checkpoint = %v, want %v", cp, first[2].At)
	}
	if n := typeLen(t, client, keys, domain.ProductAggregate); n != 3 {
		t.Fatalf("XLEN = %d, want 3", n)
	}

	second := productEventsAfter(cp, 4)
	for _, stale := range []relay.LogPosition{{}, first[1].At, second[0].At} {
		err := pub.Publish(ctx, stale, second)
		if !errors.Is(err, relay.ErrCheckpointMoved) {
			t.Errorf("Publish from stale %v = %v, want ErrCheckpointMoved", stale, err)
		}
		if n := typeLen(t, client, keys, domain.ProductAggregate); n != 3 {
			t.Errorf("XLEN after publish from stale %v = %d, want 3 (nothing written)", stale, n)
		}
		if got, err := pub.Checkpoint(ctx); err != nil || got != cp {
			t.Errorf("checkpoint after publish from stale %v = %v, %v; want %v unchanged", stale, got, err, cp)
		}
	}

	if err := pub.Publish(ctx, cp, second); err != nil {
		t.Fatalf("Publish from the current checkpoint: %v", err)
	}
	if n := typeLen(t, client, keys, domain.ProductAggregate); n != 7 {
		t.Errorf("XLEN = %d, want 7", n)
	}
	if got, _ := pub.Checkpoint(ctx); got != second[3].At {
		t.Errorf("checkpoint = %v, want %v", got, second[3].At)
	}
}

// Streams are trimmed approximately, never below the configured length.
func TestPublishTrimsStreamsKeepingAtLeastMaxLen(t *testing.T) {
	const maxLen = 1000
	_, client, keys := publisherOnTestRedis(t, maxLen)
	// One shard: trimming is per stream, and every batch below is one aggregate.
	keys.StreamShards = 1
	pub := streams.NewPublisher(client, keys, maxLen)
	ctx := context.Background()
	var cp relay.LogPosition
	for range 10 {
		batch := productEventsAfter(cp, 500)
		if err := pub.Publish(ctx, cp, batch); err != nil {
			t.Fatal(err)
		}
		cp = batch[len(batch)-1].At
		if n := streamLen(t, client, keys.EventStream(domain.ProductAggregate)); n < min(maxLen, cp.Position) {
			t.Fatalf("after %d events XLEN = %d, want at least %d", cp.Position, n, maxLen)
		}
	}
	if n := streamLen(t, client, keys.EventStream(domain.ProductAggregate)); n >= 5000 {
		t.Errorf("XLEN after 5000 events with MAXLEN ~%d = %d: not trimmed", maxLen, n)
	}
}
