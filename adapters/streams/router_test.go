package streams_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	orderflowredis "github.com/orderflow/orderflow/adapters/redis"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/projections"
)

// routerWait bounds every wait for a condition in these tests.
const routerWait = 30 * time.Second

// routerFixture is one test's database, keyspace and projector pieces: the
// projector's own cache client, and the fenced cache and refresher over it.
type routerFixture struct {
	*testenv.Env
	t         *testing.T
	pool      *pgxpool.Pool
	store     *postgres.Store
	app       *app.Application
	redis     redis.UniversalClient
	keys      streams.Keys
	cstore    *orderflowredis.CacheStore
	cache     *cache.Cache
	refresher *projections.Refresher
}

func newRouterFixture(t *testing.T) *routerFixture {
	t.Helper()
	// The application writes without evicting: the projector under test
	// is what fills the cache.
	e := testenv.New(t, testenv.Options{Cache: true, Uncached: true})
	f := &routerFixture{t: t, Env: e, pool: e.Pool, store: e.Store, app: e.App, redis: e.Redis, keys: e.Keys,
		cstore: e.CacheStore, cache: e.Cache}
	var err error
	if f.refresher, err = projections.NewRefresher(f.store, f.cache); err != nil {
		t.Fatal(err)
	}
	return f
}

// newClient opens another client of the test server, closed on cleanup
// unless something closed it first.
func (f *routerFixture) newClient() redis.UniversalClient {
	return redistest.NewClient(f.t, orderflowredis.PoolOptions{})
}

// handler is the projector's real Watermill edge.
func (f *routerFixture) handler() message.NoPublishHandlerFunc {
	return streams.Handler(projections.New(f.refresher), app.NewEventCodec(), nil)
}

// runningRouter is a Router consuming in the background.
type runningRouter struct {
	router           *message.Router
	subscriberClient redis.UniversalClient
	deadLetterClient redis.UniversalClient
	stop             func()
}

// run starts a projector Router with cfg's tuning over handle; it is closed
// on cleanup, or earlier by stop.
func (f *routerFixture) run(cfg streams.ProjectorConfig, handle message.NoPublishHandlerFunc) *runningRouter {
	f.t.Helper()
	r := &runningRouter{subscriberClient: f.newClient(), deadLetterClient: f.newClient()}
	cfg.SubscriberClient, cfg.DeadLetterClient, cfg.Keys = r.subscriberClient, r.deadLetterClient, f.keys
	if cfg.Consumer == "" {
		cfg.Consumer = "test"
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 5 * time.Millisecond
	}
	if cfg.Workers == 0 {
		// One worker keeps entries in stream order, which these tests
		// assert on; concurrent workers are exercised by the process tests.
		cfg.Workers = 1
	}
	var err error
	if r.router, err = streams.NewProjectorRouter(cfg, handle); err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.router.Run(ctx) }()
	r.stop = sync.OnceFunc(func() {
		if err := r.router.Close(); err != nil {
			f.t.Errorf("router.Close: %v", err)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				f.t.Errorf("router: %v", err)
			}
		case <-time.After(routerWait):
			f.t.Errorf("router did not stop")
		}
	})
	f.t.Cleanup(r.stop)
	select {
	case <-r.router.Running():
	case err := <-done:
		f.t.Fatalf("router stopped at once: %v", err)
	case <-time.After(routerWait):
		f.t.Fatal("router did not start")
	}
	return r
}

// caughtUp holds once the streams hold every event plus extra entries added
// by hand, and the group delivered and acknowledged all of them.
func (f *routerFixture) caughtUp(extra int64) func() (bool, string) {
	return func() (bool, string) {
		ctx := context.Background()
		var events, entries int64
		if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
			f.t.Fatal(err)
		}
		for _, s := range f.keys.EventStreams() {
			n, err := f.redis.XLen(ctx, s).Result()
			if err != nil {
				f.t.Fatal(err)
			}
			entries += n
		}
		if entries != events+extra {
			return false, fmt.Sprintf("%d entries, want %d events + %d", entries, events, extra)
		}
		lags, err := streams.ConsumerLag(ctx, f.redis, f.keys, streams.DefaultConsumerGroup)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(lags) != len(f.keys.EventStreams()) {
			return false, fmt.Sprintf("%+v", lags)
		}
		for _, l := range lags {
			if l.Lag != 0 || l.Pending != 0 {
				return false, fmt.Sprintf("%+v", lags)
			}
		}
		return true, ""
	}
}

func (f *routerFixture) parked() int64 {
	f.t.Helper()
	n, err := f.redis.XLen(context.Background(), f.keys.DeadLetterStream()).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *routerFixture) drift() projections.Drift {
	f.t.Helper()
	d, err := projections.Verify(context.Background(), f.cache, f.cstore, f.store)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// cached returns the entry at key, if any.
func (f *routerFixture) cached(key cache.Key) cache.Entry {
	f.t.Helper()
	return f.Entry(f.t, key)
}

// xadd appends raw fields to a stream, as a broken producer might.
func (f *routerFixture) xadd(stream string, values map[string]any) string {
	f.t.Helper()
	id, err := f.redis.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: values}).Result()
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// ghostOrderPaid is a well-formed entry for an order that never existed:
// its projection cannot load the order's customer, whatever the retries.
func ghostOrderPaid(t *testing.T) (values map[string]any, orderID string) {
	t.Helper()
	orderID = uuid.NewString()
	msg := streams.Message(relay.CommittedEvent{
		RecordedEvent: app.RecordedEvent{EventID: uuid.NewString(), AggregateType: domain.OrderAggregate, AggregateID: orderID,
			Version: 2, GlobalPosition: 999_999, Type: "OrderPaid", SchemaVersion: 1, OccurredAt: time.Now()},
		Data: []byte(`{}`),
	})
	values, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal("", msg)
	if err != nil {
		t.Fatal(err)
	}
	return values, orderID
}

// commands runs a short history touching every read model and returns the
// ids it created.
func (f *routerFixture) commands(r *rand.Rand, products, customers []string) ([]string, []string) {
	f.t.Helper()
	ctx := context.Background()
	for i := len(products); i < 3; i++ {
		p, err := f.app.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: fmt.Sprintf("RT-%d", i), Name: fmt.Sprintf("Router %d", i), PriceCents: 100, Currency: "EUR", InitialStock: 100})
		if err != nil {
			f.t.Fatal(err)
		}
		products = append(products, p.ID)
	}
	for i := len(customers); i < 3; i++ {
		c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("rt%d@example.com", i), Name: "Router"})
		if err != nil {
			f.t.Fatal(err)
		}
		customers = append(customers, c.ID)
	}
	for n := range 12 {
		p, c := products[r.IntN(len(products))], customers[r.IntN(len(customers))]
		var err error
		switch n % 4 {
		case 0:
			_, err = f.app.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p, PriceCents: int64(100 + r.IntN(1000))})
		case 1:
			name := fmt.Sprintf("Renamed %d", r.IntN(1000))
			_, err = f.app.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c, Name: &name})
		case 2:
			var o app.PlacedOrder
			o, err = f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c, Lines: []domain.LineRequest{{ProductID: p, Quantity: 1}}})
			if err == nil && r.IntN(2) == 0 {
				_, err = f.app.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: o.Order.ID})
			}
		case 3:
			_, err = f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p, Quantity: 3})
		}
		if err != nil {
			f.t.Fatal(err)
		}
	}
	return products, customers
}

// snapshot reads every cached projection under the fixture's prefix.
func (f *routerFixture) snapshot() map[string]cache.Entry {
	f.t.Helper()
	out := map[string]cache.Entry{}
	err := f.cstore.ScanPrefix(context.Background(), f.keys.Prefix, func(keys []string) error {
		for _, k := range keys {
			name := strings.TrimPrefix(k, f.keys.Prefix)
			if _, _, ok := cache.ParseKey(name); !ok {
				continue // streams, checkpoint, tags, stock entries: not read models verify checks
			}
			e, err := f.cstore.Get(context.Background(), k)
			if err != nil {
				return err
			}
			out[name] = e
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// withoutProductVersion is a cached value with the version of product
// details left out: it counts stock events, which move it without touching
// the details, so a redelivered event may rewrite details at a newer version.
func withoutProductVersion(name string, data []byte) string {
	if !strings.HasPrefix(name, "products:") || name == cache.ProductListKey().Name {
		return string(data)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return string(data)
	}
	delete(v, "version")
	out, _ := json.Marshal(v)
	return string(out)
}

// Entries delivered again, in another order, after newer ones were applied:
// every projection stays at the value and version PostgreSQL holds.
func TestRouterIgnoresDuplicatedAndReorderedEntries(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	var handled atomic.Int64
	project := f.handler()
	f.run(streams.ProjectorConfig{}, func(msg *message.Message) error {
		err := project(msg)
		if err == nil {
			handled.Add(1)
		}
		return err
	})

	r := rand.New(rand.NewPCG(4, 4))
	products, customers := f.commands(r, nil, nil)
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the first history projected", f.caughtUp(0))
	f.commands(r, products, customers)
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the second history projected", f.caughtUp(0))
	before := f.snapshot()
	if d := f.drift(); d.Drifted != 0 || d.Checked != len(before) {
		t.Fatalf("before the duplicates: %+v over %d keys", d, len(before))
	}
	handledBefore := handled.Load()

	var copies []struct {
		stream string
		values map[string]any
	}
	for _, stream := range f.keys.EventStreams() {
		entries, err := f.redis.XRange(ctx, stream, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			copies = append(copies, struct {
				stream string
				values map[string]any
			}{stream, e.Values})
		}
	}
	r.Shuffle(len(copies), func(i, j int) { copies[i], copies[j] = copies[j], copies[i] })
	for _, c := range copies {
		f.xadd(c.stream, c.values)
	}
	testenv.WaitFor(f.t, routerWait, "the duplicates consumed", f.caughtUp(int64(len(copies))))
	if got := handled.Load() - handledBefore; got != int64(len(copies)) {
		t.Errorf("the handler applied %d duplicates, want all %d (none parked)", got, len(copies))
	}
	if n := f.parked(); n != 0 {
		t.Errorf("%d duplicates were parked", n)
	}

	after := f.snapshot()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s disappeared", name)
		case a.Tombstone || a.Version < b.Version:
			t.Errorf("%s moved backwards: v%d (tombstone %v), was v%d", name, a.Version, a.Tombstone, b.Version)
		case withoutProductVersion(name, a.Data) != withoutProductVersion(name, b.Data):
			t.Errorf("%s changed although PostgreSQL did not:\nbefore %s\nafter  %s", name, b.Data, a.Data)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d cached keys after the duplicates, %d before", len(after), len(before))
	}
	if d := f.drift(); d.Drifted != 0 {
		t.Errorf("after the duplicates: %+v", d)
	}
}

// Entries Watermill cannot unmarshal, and entries that are no event, are
// parked after one attempt; the subscription stays open, so later events are
// still projected (Watermill's trap, ADR 7: a failed unmarshal closes the
// subscription and the entry comes back after every claim).
func TestRouterParksUnreadableEntriesAndKeepsConsuming(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	f.run(streams.ProjectorConfig{MaxRetries: 2}, f.handler())

	first, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "first@example.com", Name: "First"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the first customer projected", f.caughtUp(0))

	stream := f.keys.EventStream(domain.CustomerAggregate)
	noUUID := f.xadd(stream, map[string]any{"payload": "{}", "hello": "world"})
	badMetadata := f.xadd(stream, map[string]any{redisstream.UUIDHeaderKey: uuid.NewString(), "metadata": "\xc1not msgpack", "payload": "{}"})
	notAnEvent := f.xadd(stream, map[string]any{redisstream.UUIDHeaderKey: uuid.NewString(), "payload": `{"email":"x@example.com"}`})

	second, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "second@example.com", Name: "Second"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "every entry consumed", f.caughtUp(3))
	if e := f.cached(cache.CustomerKey(second.ID)); !e.Found || e.Tombstone {
		t.Fatalf("the customer registered after the bad entries was not projected: %+v", e)
	}
	if e := f.cached(cache.CustomerKey(first.ID)); !e.Found {
		t.Fatalf("first customer missing")
	}

	parked, err := streams.NewDeadLetters(f.redis, f.keys).List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 3 {
		t.Fatalf("%d parked entries, want 3: %+v", len(parked), parked)
	}
	want := []struct {
		entry      string
		unreadable bool
		errPart    string
	}{
		{noUUID, true, "_watermill_message_uuid key is missing"},
		{badMetadata, true, "unmarshal metadata"},
		{notAnEvent, false, "version"},
	}
	for i, w := range want {
		p := parked[i]
		if p.Stream != stream || p.Unmarshalable != w.unreadable || p.Attempts != "1" ||
			!strings.Contains(p.Error, streams.ErrPoisonEntry.Error()) || !strings.Contains(p.Error, w.errPart) {
			t.Errorf("entry %s parked as %+v; want stream %s, unreadable %v, 1 attempt (a poison entry is not retried), error with %q",
				w.entry, p, stream, w.unreadable, w.errPart)
		}
	}
}

// A handler that keeps failing is retried MaxRetries times, then its entry
// is parked and acknowledged: it neither spins nor blocks the events behind
// it. A panic is recovered and treated the same way.
func TestRouterRetriesAFailingHandlerThenParksIt(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	const maxRetries = 2
	project := f.handler()
	var mu sync.Mutex
	runs := map[string]int{} // handler runs per aggregate
	var panicking atomic.Value
	panicking.Store("")
	f.run(streams.ProjectorConfig{MaxRetries: maxRetries}, func(msg *message.Message) error {
		id := msg.Metadata.Get(streams.MetaAggregateID)
		mu.Lock()
		runs[id]++
		mu.Unlock()
		if id != "" && id == panicking.Load().(string) {
			panic("projection exploded")
		}
		return project(msg)
	})

	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "buyer@example.com", Name: "Buyer"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.app.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "RETRY-1", Name: "Retry", PriceCents: 100, Currency: "EUR", InitialStock: 10})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the setup projected", f.caughtUp(0))

	ghost, ghostID := ghostOrderPaid(t)
	f.xadd(f.keys.EventStream(domain.OrderAggregate), ghost)
	exploding, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "boom@example.com", Name: "Boom"})
	if err != nil {
		t.Fatal(err)
	}
	panicking.Store(exploding.ID)
	order, err := f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "every entry consumed", f.caughtUp(1))

	if e := f.cached(cache.CustomerOrdersKey(c.ID)); !e.Found || !strings.Contains(string(e.Data), order.Order.ID) {
		t.Errorf("the order placed after the ghost entry was not projected: %+v", e)
	}
	parked, err := streams.NewDeadLetters(f.redis, f.keys).List(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	byAggregate := map[string]streams.ParkedEntry{}
	for _, e := range parked {
		byAggregate[e.AggregateID] = e
	}
	if len(parked) != 2 {
		t.Fatalf("parked: %+v, want the ghost order and the exploding customer", parked)
	}
	attempts := strconv.Itoa(maxRetries + 1)
	if g := byAggregate[ghostID]; g.Attempts != attempts || g.EventType != "OrderPaid" || g.Version != "2" ||
		g.Stream != f.keys.EventStream(domain.OrderAggregate) || !strings.Contains(g.Error, "order "+ghostID+" not found") {
		t.Errorf("ghost order parked as %+v; want %s attempts and a not-found error", g, attempts)
	}
	if x := byAggregate[exploding.ID]; x.Attempts != attempts || x.EventType != "CustomerRegistered" || !strings.Contains(x.Error, "projection exploded") {
		t.Errorf("exploding customer parked as %+v; want %s attempts and the panic", x, attempts)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs[ghostID] != maxRetries+1 || runs[exploding.ID] != maxRetries+1 {
		t.Errorf("handler runs: ghost %d, exploding %d; want %d each (no spinning, no redelivery after parking)",
			runs[ghostID], runs[exploding.ID], maxRetries+1)
	}
}

// Closing the Router may close the clients given to its subscriber and
// dead-letter publisher, never the cache's: each has its own (Close of a
// Watermill subscriber or publisher closes its client, ADR 7). A
// configuration sharing one client is refused.
func TestRouterCloseLeavesTheCacheClientOpen(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	r := f.run(streams.ProjectorConfig{}, f.handler())
	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "close@example.com", Name: "Close"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the customer projected", f.caughtUp(0))
	r.stop()

	if err := f.CacheRedis.Ping(ctx).Err(); err != nil {
		t.Errorf("the cache client after router.Close: %v", err)
	}
	if err := f.refresher.Customer(ctx, c.ID); err != nil {
		t.Errorf("refresh through the cache after router.Close: %v", err)
	}
	// Whether the Router closed the subscriber (and with it its client)
	// depends on a race inside Watermill between its close channel and the
	// cancelled context; either way the cache client is untouched.
	t.Logf("the subscriber's client after router.Close: %v", r.subscriberClient.Ping(ctx).Err())

	// Why: Watermill's subscriber closes the client it was given.
	given := f.newClient()
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{Client: given, ConsumerGroup: "g"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := given.Ping(ctx).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("a client given to a closed redisstream subscriber: %v; the trap this guards against is gone", err)
	}

	shared := f.newClient()
	_, err = streams.NewProjectorRouter(streams.ProjectorConfig{SubscriberClient: shared, DeadLetterClient: shared, Keys: f.keys, Consumer: "x"}, f.handler())
	if err == nil {
		t.Error("NewProjectorRouter accepted one client for the subscriber and the dead-letter publisher")
	}
	if err := shared.Ping(ctx).Err(); err != nil {
		t.Errorf("a refused configuration closed the client: %v", err)
	}
}

// The Router starts on empty streams (it creates the group) and picks up
// the first entry appended afterwards; stopping it while its first read
// waits does not hang.
func TestRouterStartsOnEmptyStreams(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	r := f.run(streams.ProjectorConfig{}, f.handler())
	testenv.WaitFor(f.t, routerWait, "the group on every stream", func() (bool, string) {
		lags, err := streams.ConsumerLag(ctx, f.redis, f.keys, streams.DefaultConsumerGroup)
		return err == nil && len(lags) == len(f.keys.EventStreams()), fmt.Sprintf("%+v %v", lags, err)
	})
	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "empty@example.com", Name: "Empty"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the first entry projected", func() (bool, string) {
		e := f.cached(cache.CustomerKey(c.ID))
		return e.Found && !e.Tombstone, fmt.Sprintf("%+v", e)
	})
	var got app.Customer
	if err := json.Unmarshal(f.cached(cache.CustomerKey(c.ID)).Data, &got); err != nil || got.Email != c.Email {
		t.Errorf("cached %+v (%v), want %s", got, err, c.Email)
	}
	r.stop()
}

// A negative MaxRetries means no re-run at all: the entry is parked after
// its first attempt (0 takes the default).
func TestRouterWithoutRetriesParksAfterOneAttempt(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	f.run(streams.ProjectorConfig{MaxRetries: -1}, f.handler())
	ghost, _ := ghostOrderPaid(t)
	f.xadd(f.keys.EventStream(domain.OrderAggregate), ghost)
	testenv.WaitFor(f.t, routerWait, "the entry parked", func() (bool, string) {
		ok, detail := f.caughtUp(1)()
		return ok && f.parked() == 1, detail
	})
	parked, err := streams.NewDeadLetters(f.redis, f.keys).List(ctx, 10)
	if err != nil || len(parked) != 1 || parked[0].Attempts != "1" {
		t.Errorf("parked %+v (%v), want one entry after 1 attempt", parked, err)
	}
}

// A handler slower than MaxIdleTime has its entry claimed by a peer while
// it still runs (Watermill's trap, ADR 7): the peer projects it, the slow one
// finishes later, and the outcome is the same single, current value.
func TestRouterEntryClaimedFromASlowHandler(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "slow@example.com", Name: "Slow"})
	if err != nil {
		t.Fatal(err)
	}
	project := f.handler()
	var done atomic.Int64 // projections of the customer's entry that finished
	projectCounted := func(msg *message.Message) error {
		err := project(msg)
		if err == nil && msg.Metadata.Get(streams.MetaAggregateID) == c.ID {
			done.Add(1)
		}
		return err
	}
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce sync.Once
	f.run(streams.ProjectorConfig{Consumer: "slow", MaxIdleTime: time.Second}, func(msg *message.Message) error {
		if msg.Metadata.Get(streams.MetaAggregateID) == c.ID {
			holdOnce.Do(func() {
				close(held)
				<-release
			})
		}
		return projectCounted(msg)
	})
	f.RelayAll(f.t)
	<-held
	stream := f.keys.AggregateEventStream(domain.CustomerAggregate, c.ID)
	testenv.WaitFor(f.t, routerWait, "the held entry to be idle past MaxIdleTime", func() (bool, string) {
		p, err := f.redis.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: stream, Group: streams.DefaultConsumerGroup, Start: "-", End: "+", Count: 10}).Result()
		if err != nil || len(p) != 1 {
			return false, fmt.Sprintf("%+v %v", p, err)
		}
		return p[0].Consumer == "slow" && p[0].Idle >= time.Second, fmt.Sprintf("%+v", p[0])
	})

	// The peer claims it when it starts.
	f.run(streams.ProjectorConfig{Consumer: "peer", MaxIdleTime: time.Second}, projectCounted)
	testenv.WaitFor(f.t, routerWait, "the peer to project the claimed entry", func() (bool, string) {
		e := f.cached(cache.CustomerKey(c.ID))
		return e.Found && !e.Tombstone && e.Version == 1, fmt.Sprintf("%+v", e)
	})
	before := f.cached(cache.CustomerKey(c.ID))
	close(release)
	testenv.WaitFor(f.t, routerWait, "everything acknowledged", f.caughtUp(0))
	testenv.WaitFor(f.t, routerWait, "the slow handler to finish too", func() (bool, string) {
		return done.Load() == 2, fmt.Sprintf("%d projections finished", done.Load())
	})
	if after := f.cached(cache.CustomerKey(c.ID)); after.Version != 1 || string(after.Data) != string(before.Data) {
		t.Errorf("after the slow handler finished: %+v, want %+v", after, before)
	}
	if n := f.parked(); n != 0 {
		t.Errorf("%d entries parked", n)
	}
	if d := f.drift(); d.Drifted != 0 || d.Checked != 1 {
		t.Errorf("verify: %+v", d)
	}
}

// TestWorkersShareTheStreamsAndConverge: several workers of one instance
// take entries concurrently, each as a consumer of its own, and the
// projections converge with nothing parked.
func TestWorkersShareTheStreamsAndConverge(t *testing.T) {
	f := newRouterFixture(t)
	ctx := context.Background()
	for i := range 30 {
		if _, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("w%d@example.com", i), Name: "W"}); err != nil {
			t.Fatal(err)
		}
	}
	f.RelayAll(f.t)
	f.run(streams.ProjectorConfig{Workers: 4}, f.handler())
	testenv.WaitFor(f.t, routerWait, "the group caught up", f.caughtUp(0))
	consumers := map[string]bool{}
	for shard := range f.keys.Shards() {
		infos, err := f.redis.XInfoConsumers(ctx, f.keys.ShardEventStream("customer", shard), streams.DefaultConsumerGroup).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range infos {
			consumers[c.Name] = true
		}
	}
	// A consumer joins a stream's group when it is handed an entry there;
	// with the 30 entries split over several shards' streams a worker may
	// get none in time, so only one shard promises every worker a share.
	if want := 4; f.keys.Shards() == 1 && len(consumers) != want || len(consumers) < 2 {
		t.Errorf("%d consumers in the group, want 4 workers (at least 2 over %d shards)", len(consumers), f.keys.Shards())
	}
	if n := f.parked(); n != 0 {
		t.Errorf("%d entries parked", n)
	}
	if d := f.drift(); d.Drifted != 0 || d.Checked != 30 {
		t.Errorf("drift %+v, want 30 checked, 0 drifted", d)
	}
}
