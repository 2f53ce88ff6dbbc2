package streams_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
)

// errStoreDown is the cause the tests below break and fix.
var errStoreDown = errors.New("projection store down")

// Parked entries name what failed and how often; a re-driven entry goes
// back to its stream exactly as the relay wrote it (the poison queue's
// metadata stripped) and is applied once the cause is fixed; a dropped one
// is gone for good.
func TestDeadLettersListReplayAndDrop(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	var broken atomic.Bool
	broken.Store(true)
	project := f.handler()
	f.run(streams.ProjectorConfig{MaxRetries: 1}, func(msg *message.Message) error {
		if broken.Load() {
			return errStoreDown
		}
		return project(msg)
	})

	var customers []app.Customer
	for i := range 2 {
		c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("dl%d@example.com", i), Name: "Parked"})
		if err != nil {
			t.Fatal(err)
		}
		customers = append(customers, c)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "both entries parked", func() (bool, string) {
		ok, detail := f.caughtUp(0)()
		return ok && f.parked() == 2, detail
	})

	var positions [2]int64
	var eventIDs [2]string
	for i, c := range customers {
		if err := f.pool.QueryRow(ctx, `SELECT global_position, event_id::text FROM events WHERE stream_id = $1`, c.ID).Scan(&positions[i], &eventIDs[i]); err != nil {
			t.Fatal(err)
		}
	}

	dl := streams.NewDeadLetters(f.redis, f.keys)
	parked, err := dl.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 {
		t.Fatalf("List = %+v, want 2 entries", parked)
	}
	// With several stream shards the two streams are consumed side by side
	// and either entry may be parked first.
	if parked[0].AggregateID == customers[1].ID {
		customers[0], customers[1] = customers[1], customers[0]
		positions[0], positions[1] = positions[1], positions[0]
		eventIDs[0], eventIDs[1] = eventIDs[1], eventIDs[0]
	}
	stream := f.keys.AggregateEventStream(domain.CustomerAggregate, customers[0].ID)
	originals, err := f.redis.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range parked {
		want := streams.ParkedEntry{
			ID: p.ID, Stream: f.keys.AggregateEventStream(domain.CustomerAggregate, customers[i].ID), EventID: eventIDs[i], EventType: "CustomerRegistered", AggregateID: customers[i].ID,
			Version: "1", Position: strconv.FormatInt(positions[i], 10), Attempts: "2", Error: errStoreDown.Error(),
		}
		if p != want {
			t.Errorf("parked entry %d:\n got %+v\nwant %+v", i, p, want)
		}
	}
	if n, err := dl.Len(ctx); err != nil || n != 2 {
		t.Errorf("Len = %d, %v; want 2", n, err)
	}
	if limited, err := dl.List(ctx, 1); err != nil || len(limited) != 1 || limited[0].ID != parked[0].ID {
		t.Errorf("List(1) = %+v, %v; want the oldest entry only", limited, err)
	}

	broken.Store(false)
	if n, err := dl.Replay(ctx, []string{parked[0].ID, "0-1"}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1 (an unknown id is skipped)", n, err)
	}
	testenv.WaitFor(f.t, routerWait, "the re-driven entry applied", func() (bool, string) {
		e := f.cached(cache.CustomerKey(customers[0].ID))
		return e.Found && !e.Tombstone, fmt.Sprintf("%+v", e)
	})
	testenv.WaitFor(f.t, routerWait, "the group to catch up", f.caughtUp(1))

	all, err := f.redis.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	again := all[len(all)-1]
	got, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(again.Values)
	if err != nil {
		t.Fatal(err)
	}
	var want *message.Message
	for _, o := range originals {
		m, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(o.Values)
		if err != nil {
			t.Fatal(err)
		}
		if m.UUID == eventIDs[0] {
			want = m
		}
	}
	if want == nil {
		t.Fatalf("event %s is not in %s", eventIDs[0], stream)
	}
	if got.UUID != want.UUID || string(got.Payload) != string(want.Payload) || !reflect.DeepEqual(got.Metadata, want.Metadata) {
		t.Errorf("re-driven entry differs from the relay's:\n got %s %s %v\nwant %s %s %v",
			got.UUID, got.Payload, got.Metadata, want.UUID, want.Payload, want.Metadata)
	}

	rest, err := dl.List(ctx, 10)
	if err != nil || len(rest) != 1 || rest[0].ID != parked[1].ID {
		t.Fatalf("after the replay List = %+v, %v; want the second entry only", rest, err)
	}
	if n, err := dl.Drop(ctx, []string{parked[1].ID}); err != nil || n != 1 {
		t.Errorf("Drop = %d, %v; want 1", n, err)
	}
	if n, err := dl.Drop(ctx, nil); err != nil || n != 0 {
		t.Errorf("Drop(nil) = %d, %v; want 0", n, err)
	}
	if n := f.parked(); n != 0 {
		t.Errorf("%d entries parked after the drop", n)
	}
	if e := f.cached(cache.CustomerKey(customers[1].ID)); e.Found {
		t.Errorf("the dropped entry was applied: %+v", e)
	}
}

// An entry that could not be read is parked with its raw fields; re-driving
// it puts exactly those fields back on its stream, where it is parked again
// (no fix can make it readable) without holding anything up.
func TestDeadLettersReplayAnUnreadableEntryVerbatim(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	f.run(streams.ProjectorConfig{}, f.handler())

	stream := f.keys.EventStream(domain.ProductAggregate)
	raw := map[string]any{"payload": "{}", "source": "somebody else", "n": "7"}
	f.xadd(stream, raw)
	testenv.WaitFor(f.t, routerWait, "the entry parked", func() (bool, string) {
		ok, detail := f.caughtUp(1)()
		return ok && f.parked() == 1, detail
	})
	dl := streams.NewDeadLetters(f.redis, f.keys)
	parked, err := dl.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 1 || !parked[0].Unmarshalable || parked[0].Stream != stream || parked[0].Attempts != "1" {
		t.Fatalf("parked: %+v, want one unreadable entry of %s after 1 attempt", parked, stream)
	}
	if n, err := dl.Replay(ctx, []string{parked[0].ID}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	entries, err := f.redis.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || !reflect.DeepEqual(entries[1].Values, raw) {
		t.Fatalf("stream after the replay: %+v, want the raw entry appended verbatim %v", entries, raw)
	}
	testenv.WaitFor(f.t, routerWait, "the entry parked again", func() (bool, string) {
		ok, detail := f.caughtUp(2)()
		return ok && f.parked() == 1, detail
	})
	again, err := dl.List(ctx, 10)
	if err != nil || len(again) != 1 || again[0].ID == parked[0].ID {
		t.Errorf("after the replay: %+v, %v; want one newly parked entry", again, err)
	}
}

// ConsumerLag reports the group's undelivered and unacknowledged entries on
// every stream where the group exists, and skips the others.
func TestConsumerLagReportsEachStreamOfTheGroup(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	const group = "lagging"
	lag := func() []streams.GroupLag {
		t.Helper()
		l, err := streams.ConsumerLag(ctx, f.redis, f.keys, group)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := lag(); len(l) != 0 {
		t.Errorf("ConsumerLag with no stream = %+v, want none", l)
	}

	products := f.keys.EventStream(domain.ProductAggregate)
	orders := f.keys.EventStream(domain.OrderAggregate)
	if err := f.redis.XGroupCreateMkStream(ctx, products, group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.redis.XGroupCreateMkStream(ctx, orders, "another-group", "0").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f.xadd(products, map[string]any{redisstream.UUIDHeaderKey: uuid.NewString()})
		f.xadd(orders, map[string]any{redisstream.UUIDHeaderKey: uuid.NewString()})
	}
	if l := lag(); !reflect.DeepEqual(l, []streams.GroupLag{{Stream: products, Lag: 3, Pending: 0}}) {
		t.Errorf("ConsumerLag = %+v, want 3 undelivered on %s only", l, products)
	}
	read, err := f.redis.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: "c", Streams: []string{products, ">"}, Count: 2}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 2 {
		t.Fatalf("XREADGROUP: %+v, %v", read, err)
	}
	if l := lag(); !reflect.DeepEqual(l, []streams.GroupLag{{Stream: products, Lag: 1, Pending: 2}}) {
		t.Errorf("ConsumerLag after delivering 2 = %+v, want lag 1, pending 2", l)
	}
	if err := f.redis.XAck(ctx, products, group, read[0].Messages[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	if l := lag(); len(l) != 1 || l[0].Pending != 1 || !strings.HasSuffix(l[0].Stream, ":product") {
		t.Errorf("ConsumerLag after one ack = %+v, want pending 1", l)
	}
}

// parkMany parks n well-formed entries of stream directly, as the poison
// queue would, and returns their event ids in the order they were parked.
func (f *routerFixture) parkMany(stream string, n int) []string {
	f.t.Helper()
	ctx := context.Background()
	ids := make([]string, 0, n)
	pipe := f.redis.Pipeline()
	for range n {
		msg := streams.Message(relay.CommittedEvent{
			RecordedEvent: app.RecordedEvent{EventID: uuid.NewString(), AggregateType: domain.OrderAggregate, AggregateID: uuid.NewString(),
				Version: 2, GlobalPosition: 999_999, Type: "OrderPaid", SchemaVersion: 1, OccurredAt: time.Now()},
			Data: []byte(`{}`),
		})
		msg.Metadata.Set(middleware.PoisonedTopicKey, stream)
		msg.Metadata.Set(middleware.ReasonForPoisonedKey, errStoreDown.Error())
		msg.Metadata.Set(streams.MetaAttempts, "2")
		parked, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal(f.keys.DeadLetterStream(), msg)
		if err != nil {
			f.t.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: f.keys.DeadLetterStream(), Values: parked})
		ids = append(ids, msg.UUID)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// parkDuringRun is a client hook that parks one more entry right after the
// first page of the dead-letter stream was read: an entry parked while
// ReplayAll or DropAll runs.
type parkDuringRun struct {
	once sync.Once
	park func()
}

func (h *parkDuringRun) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *parkDuringRun) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if strings.EqualFold(cmd.Name(), "xrange") {
			h.once.Do(h.park)
		}
		return err
	}
}

func (h *parkDuringRun) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// ReplayAll re-drives every entry parked when it started, across pages,
// oldest first and each once, as Replay would; an entry parked meanwhile
// stays parked for the next run.
func TestDeadLettersReplayAllPagesThroughWhatWasParked(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	stream := f.keys.EventStream(domain.OrderAggregate)
	n := 2*streams.DeadLetterPage + 7
	want := f.parkMany(stream, n)

	client := f.newClient()
	var late []string
	client.AddHook(&parkDuringRun{park: func() { late = f.parkMany(stream, 1) }})
	replayed, found, err := streams.NewDeadLetters(client, f.keys).ReplayAll(ctx)
	if err != nil || replayed != n || found != n {
		t.Fatalf("ReplayAll = %d of %d, %v; want %d of %d", replayed, found, err, n, n)
	}
	entries, err := f.redis.XRange(ctx, stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, 0, len(entries))
	for _, e := range entries {
		msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(e.Values)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{middleware.PoisonedTopicKey, middleware.ReasonForPoisonedKey, streams.MetaAttempts} {
			if v := msg.Metadata.Get(k); v != "" {
				t.Fatalf("re-driven entry %s keeps %s=%q", e.ID, k, v)
			}
		}
		got = append(got, msg.UUID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("re-driven %d entries, want the %d parked ones once each, oldest first", len(got), len(want))
	}
	parked, err := streams.NewDeadLetters(f.redis, f.keys).List(ctx, 10)
	if err != nil || len(parked) != 1 || parked[0].EventID != late[0] {
		t.Errorf("parked after ReplayAll: %+v, %v; want only the entry parked during the run (%v)", parked, err, late)
	}
}

// DropAll removes every entry parked when it started, across pages; an
// entry parked meanwhile stays.
func TestDeadLettersDropAllPagesThroughWhatWasParked(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	stream := f.keys.EventStream(domain.OrderAggregate)
	dl := streams.NewDeadLetters(f.redis, f.keys)
	if n, err := dl.DropAll(ctx); err != nil || n != 0 {
		t.Fatalf("DropAll of nothing parked = %d, %v; want 0", n, err)
	}
	if replayed, found, err := dl.ReplayAll(ctx); err != nil || replayed != 0 || found != 0 {
		t.Fatalf("ReplayAll of nothing parked = %d of %d, %v; want 0 of 0", replayed, found, err)
	}
	n := 2*streams.DeadLetterPage + 7
	f.parkMany(stream, n)

	client := f.newClient()
	var late []string
	client.AddHook(&parkDuringRun{park: func() { late = f.parkMany(stream, 1) }})
	dropped, err := streams.NewDeadLetters(client, f.keys).DropAll(ctx)
	if err != nil || dropped != int64(n) {
		t.Fatalf("DropAll = %d, %v; want %d", dropped, err, n)
	}
	parked, err := dl.List(ctx, 10)
	if err != nil || len(parked) != 1 || parked[0].EventID != late[0] {
		t.Errorf("parked after DropAll: %+v, %v; want only the entry parked during the run (%v)", parked, err, late)
	}
	if l, err := f.redis.XLen(ctx, stream).Result(); err != nil || l != 0 {
		t.Errorf("%s holds %d entries, %v; want none re-driven", stream, l, err)
	}
}
