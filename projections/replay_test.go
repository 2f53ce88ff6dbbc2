package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// replayWait bounds every wait for a condition in these tests.
const replayWait = 30 * time.Second

// replayFixture is one test's database and keyspace. Its commands evict
// what they change through the cache, as the API does.
type replayFixture struct {
	*testenv.Env
	t *testing.T
}

func newReplayFixture(t *testing.T) *replayFixture {
	t.Helper()
	return &replayFixture{Env: testenv.New(t, testenv.Options{Cache: true}), t: t}
}

func (f *replayFixture) events() int64 {
	f.t.Helper()
	var n int64
	if err := f.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *replayFixture) entries() int64 {
	f.t.Helper()
	var n int64
	for _, s := range f.Keys.EventStreams() {
		l, err := f.Redis.XLen(context.Background(), s).Result()
		if err != nil {
			f.t.Fatal(err)
		}
		n += l
	}
	return n
}

// relayAll publishes every committed event, as the relay does, and checks
// that the streams hold one entry per event.
func (f *replayFixture) relayAll() {
	f.t.Helper()
	f.RelayAll(f.t)
	if n, want := f.entries(), f.events(); n != want {
		f.t.Fatalf("%d of %d events on the streams after relaying all", n, want)
	}
}

// replayModel is what a random history created.
type replayModel struct {
	products, customers, orders []string
	ordered                     map[string]bool // customers with at least one order
	commands, refused           int
}

// history runs n random commands over every aggregate type. Refusals the
// domain makes (stock, transitions) are part of the game; anything else
// fails the test.
func (f *replayFixture) history(r *rand.Rand, n int) *replayModel {
	f.t.Helper()
	ctx := context.Background()
	m := &replayModel{ordered: map[string]bool{}}
	// Equal names and mixed case and accents exercise the list's order
	// (name in code-point order, then id).
	names := []string{"Anvil", "anvil", "Bolt", "Éclair", "Zebra", "bolt", "Anvil"}
	pick := func(ids []string) string { return ids[r.IntN(len(ids))] }
	for i := range n {
		var err error
		switch op := r.IntN(100); {
		case op < 18 || len(m.products) == 0:
			var p app.Product
			p, err = f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{
				SKU: fmt.Sprintf("Sku-%d", i), Name: names[r.IntN(len(names))], Description: "d" + strconv.Itoa(i),
				PriceCents: int64(r.IntN(10_000)), Currency: "EUR", InitialStock: int64(r.IntN(20)),
			})
			m.products = append(m.products, p.ID)
		case op < 30:
			_, err = f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: pick(m.products), PriceCents: int64(r.IntN(10_000))})
		case op < 38:
			name, desc := names[r.IntN(len(names))]+" "+strconv.Itoa(i), "changed "+strconv.Itoa(i)
			cmd := app.ChangeProductDetails{ProductID: pick(m.products)}
			switch r.IntN(3) {
			case 0:
				cmd.Name = &name
			case 1:
				cmd.Description = &desc
			default:
				cmd.Name, cmd.Description = &name, &desc
			}
			_, err = f.App.Commands.ChangeProductDetails.Handle(ctx, cmd)
		case op < 45:
			_, err = f.App.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: pick(m.products), Quantity: int64(1 + r.IntN(10))})
		case op < 55 || len(m.customers) == 0:
			var c app.Customer
			c, err = f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("c%d@example.com", i), Name: "Customer " + strconv.Itoa(i)})
			m.customers = append(m.customers, c.ID)
		case op < 62:
			email, name := fmt.Sprintf("moved%d@example.com", i), "Renamed "+strconv.Itoa(i)
			cmd := app.UpdateCustomer{CustomerID: pick(m.customers), Name: &name}
			if r.IntN(2) == 0 {
				cmd.Email = &email
			}
			_, err = f.App.Commands.UpdateCustomer.Handle(ctx, cmd)
		case op < 82:
			lines := []domain.LineRequest{}
			for _, p := range r.Perm(len(m.products))[:1+r.IntN(min(3, len(m.products)))] {
				lines = append(lines, domain.LineRequest{ProductID: m.products[p], Quantity: int64(1 + r.IntN(4))})
			}
			customer := pick(m.customers)
			var o app.PlacedOrder
			o, err = f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: customer, Lines: lines})
			if err == nil {
				m.orders = append(m.orders, o.Order.ID)
				m.ordered[customer] = true
			}
		default:
			if len(m.orders) == 0 {
				continue
			}
			o := app.OrderTransition{OrderID: pick(m.orders)}
			switch r.IntN(3) {
			case 0:
				_, err = f.App.Commands.PayOrder.Handle(ctx, o)
			case 1:
				_, err = f.App.Commands.ShipOrder.Handle(ctx, o)
			default:
				_, err = f.App.Commands.CancelOrder.Handle(ctx, o)
			}
		}
		switch {
		case err == nil:
			m.commands++
		case errors.Is(err, domain.ErrInsufficientStock), errors.Is(err, domain.ErrIllegalTransition):
			m.refused++
		default:
			f.t.Fatalf("command %d: %v", i, err)
		}
	}
	// The product stream ends with a later version of an aggregate, so
	// trimming it always leaves a gap.
	if _, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: m.products[0], PriceCents: 123_456}); err != nil {
		f.t.Fatal(err)
	}
	return m
}

// live writes every projection the model's aggregates have through the
// Refresher, as the live projectors do, into a keyspace of its own, and
// returns them by family key.
func (f *replayFixture) live(m *replayModel) map[string]cache.Entry {
	f.t.Helper()
	ctx := context.Background()
	keys := streams.Keys{Prefix: f.Keys.Prefix + "live:"}
	cache, err := cache.New(f.CacheStore, cache.Config{Keys: cache.Keyspace{Prefix: keys.Prefix}})
	if err != nil {
		f.t.Fatal(err)
	}
	ref, err := projections.NewRefresher(f.Store, cache)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, id := range m.products {
		if err := ref.Product(ctx, id); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := ref.Catalogue(ctx); err != nil {
		f.t.Fatal(err)
	}
	for _, id := range m.customers {
		if err := ref.Customer(ctx, id); err != nil {
			f.t.Fatal(err)
		}
		if m.ordered[id] {
			if err := ref.CustomerOrders(ctx, id); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	return f.projections(keys.Prefix)
}

// projections reads the cached projections under prefix (no tags, leases
// or other generations) by family key.
func (f *replayFixture) projections(prefix string) map[string]cache.Entry {
	f.t.Helper()
	ctx := context.Background()
	out := map[string]cache.Entry{}
	err := f.CacheStore.ScanPrefix(ctx, prefix, func(keys []string) error {
		for _, k := range keys {
			name := strings.TrimPrefix(k, prefix)
			if !strings.HasPrefix(name, "products:") && !strings.HasPrefix(name, "customers:") && !strings.HasPrefix(name, "orders:customer:") ||
				strings.HasPrefix(name, "products:stock:") { // the projectors' stock evictions: not a projection
				continue
			}
			e, err := f.CacheStore.Get(ctx, k)
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

// generation is the projections of one key generation.
func (f *replayFixture) generation(gen string) map[string]cache.Entry {
	return f.projections(f.Cache.Keys().Key(gen, cache.Key{}))
}

// sameProjections compares replayed projections with the live ones. A
// product's version counts stock events, which rewrite no details, so it is
// left out of product details; every other version (the list's items carry
// the version of their last catalogue change) must be equal.
func sameProjections(t *testing.T, replayed, live map[string]cache.Entry) {
	t.Helper()
	names := func(m map[string]cache.Entry) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if r, l := names(replayed), names(live); !slices.Equal(r, l) {
		t.Fatalf("replayed keys differ from the live ones:\nreplayed %v\nlive     %v", r, l)
	}
	for name, l := range live {
		r := replayed[name]
		if r.Tombstone || !r.Found {
			t.Errorf("%s: replayed %+v", name, r)
			continue
		}
		product := strings.HasPrefix(name, "products:") && name != cache.ProductListKey().Name
		if !product && r.Version != l.Version {
			t.Errorf("%s: replayed at version %d, live at %d", name, r.Version, l.Version)
		}
		if a, b := canonical(t, name, r.Data), canonical(t, name, l.Data); a != b {
			t.Errorf("%s differs:\nreplayed %s\nlive     %s", name, a, b)
		}
	}
}

// canonical is a projection's JSON with the version of product details left out.
func canonical(t *testing.T, name string, data []byte) string {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if strings.HasPrefix(name, "products:") && name != cache.ProductListKey().Name {
		delete(v, "version")
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// assertAbandoned fails t unless a failed replay left the generation
// pointers untouched and nothing under the generation it began.
func (f *replayFixture) assertAbandoned(t *testing.T, generation string) {
	t.Helper()
	if cur, next := f.pointers(); cur != "" || next != "" {
		t.Errorf("pointers after the failed replay: %q, next %q; want both untouched", cur, next)
	}
	if left := f.generation(generation); len(left) != 0 {
		t.Errorf("the abandoned generation %q kept %d keys", generation, len(left))
	}
}

func (f *replayFixture) pointers() (current, next string) {
	f.t.Helper()
	p, err := f.CacheStore.Pointers(context.Background(), f.Cache.Keys().Generation(), f.Cache.Keys().NextGeneration())
	if err != nil {
		f.t.Fatal(err)
	}
	return p[0], p[1]
}

func (f *replayFixture) verify() projections.Drift {
	f.t.Helper()
	ctx := context.Background()
	if err := f.Cache.RefreshGenerations(ctx); err != nil {
		f.t.Fatal(err)
	}
	d, err := projections.Verify(ctx, f.Cache, f.CacheStore, f.Store)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// deleteCache loses every cached entry under the prefix; the streams and
// the relay's checkpoint stay.
func (f *replayFixture) deleteCache() {
	f.t.Helper()
	ctx := context.Background()
	for _, family := range []string{"products:", "customers:", "orders:", "tag:", "http:"} {
		if _, err := f.CacheStore.DeletePrefix(ctx, f.Keys.Prefix+family); err != nil {
			f.t.Fatal(err)
		}
	}
}

// Property: for random histories, a replay from the streams into an empty
// cache reproduces exactly what the live projectors write, and verify finds
// no drift; a second replay switches from the first generation and drops it.
func TestReplayReproducesTheLiveProjections(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			f := newReplayFixture(t)
			ctx := context.Background()
			m := f.history(rand.New(rand.NewPCG(seed, 0x5eed)), 150)
			t.Logf("%d commands, %d refused: %d products, %d customers, %d orders", m.commands, m.refused, len(m.products), len(m.customers), len(m.orders))
			f.relayAll()
			live := f.live(m)
			f.deleteCache()

			var progress []projections.ReplayProgress
			cfg := projections.ReplayConfig{BatchSize: 16, Grace: 50 * time.Millisecond, Progress: func(p projections.ReplayProgress) { progress = append(progress, p) }}
			sum, err := projections.Replay(ctx, f.Cache, f.CacheStore, streams.NewReplaySource(f.Redis, f.Keys, f.Store), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if events := f.events(); sum.Events != events || sum.Source != "streams" || sum.Previous != "" || sum.Generation == "" {
				t.Errorf("summary %+v; want %d events from the streams into a new generation", sum, events)
			}
			if len(progress) < 2 || progress[len(progress)-1].Events != sum.Events {
				t.Errorf("progress %+v, want one report per batch ending at %d events", progress, sum.Events)
			}
			if cur, next := f.pointers(); cur != sum.Generation || next != "" {
				t.Errorf("pointers after the replay: %q, next %q; want %q and none", cur, next, sum.Generation)
			}
			if d := f.verify(); d.Drifted != 0 || d.Checked != len(live) {
				t.Errorf("verify after the replay: %+v; want all %d projections checked, none drifted", d, len(live))
			}
			replayed := f.generation(sum.Generation)
			sameProjections(t, replayed, live)

			cfg.Now = func() time.Time { return time.Now().Add(time.Hour) } // a distinct generation name
			again, err := projections.Replay(ctx, f.Cache, f.CacheStore, streams.NewReplaySource(f.Redis, f.Keys, f.Store), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if again.Previous != sum.Generation || again.Generation == sum.Generation || again.DeletedOldKeys < int64(len(replayed)) {
				t.Errorf("second replay %+v; want it to switch from %q and delete its %d keys", again, sum.Generation, len(replayed))
			}
			if left := f.generation(sum.Generation); len(left) != 0 {
				t.Errorf("%d keys of the previous generation left", len(left))
			}
			sameProjections(t, f.generation(again.Generation), live)
		})
	}
}

// When the streams were trimmed, a replay from them fails with
// ErrReplayGap before switching anything and leaves no half-built
// generation; a replay from the event store then reproduces the live
// projections.
func TestReplayFallsBackToTheStoreWhenTheStreamsWereTrimmed(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t)
	ctx := context.Background()
	m := f.history(rand.New(rand.NewPCG(7, 7)), 80)
	f.relayAll()
	live := f.live(m)
	f.deleteCache()
	for _, s := range f.Keys.EventStreams() {
		if err := f.Redis.XTrimMaxLen(ctx, s, 3).Err(); err != nil {
			t.Fatal(err)
		}
	}

	cfg := projections.ReplayConfig{BatchSize: 16, Grace: 50 * time.Millisecond}
	failed, err := projections.Replay(ctx, f.Cache, f.CacheStore, streams.NewReplaySource(f.Redis, f.Keys, f.Store), cfg)
	if !errors.Is(err, projections.ErrReplayGap) {
		t.Fatalf("replay from trimmed streams: %v, want ErrReplayGap", err)
	}
	f.assertAbandoned(t, failed.Generation)

	cfg.Now = func() time.Time { return time.Now().Add(time.Hour) }
	sum, err := projections.Replay(ctx, f.Cache, f.CacheStore, postgres.NewReplaySource(f.Store), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if events := f.events(); sum.Source != "event store" || sum.Events != events {
		t.Errorf("summary %+v, want all %d events from the event store", sum, events)
	}
	if d := f.verify(); d.Drifted != 0 || d.Checked != len(live) {
		t.Errorf("verify: %+v; want %d checked, none drifted", d, len(live))
	}
	sameProjections(t, f.generation(sum.Generation), live)
}

// lostAggregates is a history in three parts, each relayed before the
// next: old aggregates, then one customer, then new aggregates that touch
// nothing older. Every aggregate's events sit in one part, so cutting a
// stream between parts loses whole aggregates and leaves no version gap.
type lostAggregates struct {
	m *replayModel
	// oldEntries is each stream's length after the first two parts.
	oldEntries map[string]int64
	// middle is the customer of the second part, and its entry's id.
	middle, middleEntry string
}

func (f *replayFixture) lostAggregatesHistory() *lostAggregates {
	f.t.Helper()
	ctx := context.Background()
	h := &lostAggregates{m: &replayModel{ordered: map[string]bool{}}, oldEntries: map[string]int64{}}
	part := func(name string) {
		var products []string
		for i := range 3 {
			p, err := f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{
				SKU: fmt.Sprintf("%s-%d", name, i), Name: fmt.Sprintf("%s %d", name, i), PriceCents: int64(100 * (i + 1)), Currency: "EUR", InitialStock: 10,
			})
			if err != nil {
				f.t.Fatal(err)
			}
			products = append(products, p.ID)
		}
		for i, product := range products {
			c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("%s%d@example.com", strings.ToLower(name), i), Name: name})
			if err != nil {
				f.t.Fatal(err)
			}
			o, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: product, Quantity: 1}}})
			if err != nil {
				f.t.Fatal(err)
			}
			if _, err := f.App.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: o.Order.ID}); err != nil {
				f.t.Fatal(err)
			}
			h.m.customers, h.m.orders = append(h.m.customers, c.ID), append(h.m.orders, o.Order.ID)
			h.m.ordered[c.ID] = true
		}
		h.m.products = append(h.m.products, products...)
		f.relayAll()
	}
	part("Old")
	c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "middle@example.com", Name: "Middle"})
	if err != nil {
		f.t.Fatal(err)
	}
	h.middle, h.m.customers = c.ID, append(h.m.customers, c.ID)
	f.relayAll()
	last, err := f.Redis.XRevRangeN(ctx, f.Keys.AggregateEventStream(domain.CustomerAggregate, c.ID), "+", "-", 1).Result()
	if err != nil || len(last) != 1 {
		f.t.Fatalf("the middle customer's entry: %v, %v", last, err)
	}
	h.middleEntry = last[0].ID
	for _, stream := range f.Keys.EventStreams() {
		if h.oldEntries[stream], err = f.Redis.XLen(ctx, stream).Result(); err != nil {
			f.t.Fatal(err)
		}
	}
	part("New")
	return h
}

// A stream that lost every event of some aggregates shows no version gap,
// yet a replay from it would rebuild the page-one list and the order
// summaries without them: the replay from the streams must notice it,
// fail with ErrReplayGap before switching anything, and the replay from
// the event store must then rebuild every projection.
func TestReplayNoticesStreamsThatLostWholeAggregates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lose func(f *replayFixture, h *lostAggregates)
		// want lists what the error may say; any one will do.
		want func(f *replayFixture, h *lostAggregates) []string
	}{
		{"the oldest aggregates trimmed", func(f *replayFixture, h *lostAggregates) {
			for _, stream := range f.Keys.EventStreams() {
				n, err := f.Redis.XLen(context.Background(), stream).Result()
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Redis.XTrimMaxLen(context.Background(), stream, n-h.oldEntries[stream]).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}, func(*replayFixture, *lostAggregates) []string { return []string{"lost its oldest entries"} }},
		{"a stream emptied", func(f *replayFixture, h *lostAggregates) {
			for shard := range f.Keys.Shards() {
				if err := f.Redis.XTrimMaxLen(context.Background(), f.Keys.ShardEventStream(domain.CustomerAggregate, shard), 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}, func(*replayFixture, *lostAggregates) []string {
			return []string{"is empty although the relay published up to"}
		}},
		{"an aggregate deleted from the middle", func(f *replayFixture, h *lostAggregates) {
			stream := f.Keys.AggregateEventStream(domain.CustomerAggregate, h.middle)
			if n, err := f.Redis.XDel(context.Background(), stream, h.middleEntry).Result(); err != nil || n != 1 {
				t.Fatalf("XDEL %s %s: %d, %v", stream, h.middleEntry, n, err)
			}
		}, func(f *replayFixture, h *lostAggregates) []string {
			deleted := "had entries up to " + h.middleEntry + " deleted"
			if f.Keys.Shards() > 1 {
				// With the streams sharded, the aggregate from the middle of
				// the log may be the oldest of its shard: then its deletion is
				// a trim of that shard's stream.
				return []string{deleted, "lost its oldest entries"}
			}
			return []string{deleted}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newReplayFixture(t)
			ctx := context.Background()
			h := f.lostAggregatesHistory()
			live := f.live(h.m)
			f.deleteCache()
			tc.lose(f, h)

			cfg := projections.ReplayConfig{BatchSize: 4, Grace: 10 * time.Millisecond}
			failed, err := projections.Replay(ctx, f.Cache, f.CacheStore, streams.NewReplaySource(f.Redis, f.Keys, f.Store), cfg)
			want := tc.want(f, h)
			if !errors.Is(err, projections.ErrReplayGap) || !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(err.Error(), w) }) {
				t.Fatalf("replay from streams that lost whole aggregates: %v; want ErrReplayGap saying one of %q", err, want)
			}
			t.Logf("replay from the streams: %v", err)
			f.assertAbandoned(t, failed.Generation)

			cfg.Now = func() time.Time { return time.Now().Add(time.Hour) }
			sum, err := projections.Replay(ctx, f.Cache, f.CacheStore, postgres.NewReplaySource(f.Store), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if events := f.events(); sum.Events != events {
				t.Errorf("the replay from the event store read %d of %d events", sum.Events, events)
			}
			sameProjections(t, f.generation(sum.Generation), live)
			if d := f.verify(); d.Drifted != 0 || d.Checked != len(live) {
				t.Errorf("verify: %+v; want %d checked, none drifted", d, len(live))
			}
		})
	}
}

// Writes that commit while a replay runs are in the new generation after
// the switch: a live projector (with its cache watching the generation
// pointers) writes both generations while the replay fills the next one.
func TestReplayKeepsWhatCommitsWhileItRuns(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := f.history(rand.New(rand.NewPCG(9, 9)), 60)

	// The relay, leading through its advisory lock and woken by NOTIFY.
	outbox := postgres.NewOutbox(f.Pool)
	relay, err := relay.New(outbox, streams.NewPublisher(f.Redis, f.Keys, 1_000_000), relay.Config{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lead, err := postgres.TryLead(ctx, f.DSN)
	if err != nil || lead == nil {
		t.Fatalf("relay lock: %v, %v", lead, err)
	}
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(ctx, lead.Wait) }()

	// The live projector: its own clients, its cache watching the pointers.
	client := func() redis.UniversalClient { return redistest.NewClient(t, orderflowredis.PoolOptions{}) }
	liveCache, err := cache.New(orderflowredis.NewCacheStore(client(), orderflowredis.BreakerConfig{}), cache.Config{Keys: cache.Keyspace{Prefix: f.Keys.Prefix}})
	if err != nil {
		t.Fatal(err)
	}
	refresher, err := projections.NewRefresher(f.Store, liveCache)
	if err != nil {
		t.Fatal(err)
	}
	router, err := streams.NewProjectorRouter(streams.ProjectorConfig{
		SubscriberClient: client(), DeadLetterClient: client(), Keys: f.Keys, Consumer: "live",
	}, streams.Handler(projections.New(refresher), app.NewEventCodec(), nil))
	if err != nil {
		t.Fatal(err)
	}
	var background sync.WaitGroup
	background.Go(func() { liveCache.WatchGenerations(ctx) })
	background.Go(func() { f.Cache.WatchGenerations(ctx) }) // the commands' evictions, as in the API
	routerDone := make(chan error, 1)
	go func() { routerDone <- router.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-routerDone; err != nil {
			t.Errorf("router: %v", err)
		}
		if err := <-relayDone; err != nil {
			t.Errorf("relay: %v", err)
		}
		_ = lead.Release(context.Background())
		background.Wait()
	})
	caughtUp := func() (bool, string) {
		if n, want := f.entries(), f.events(); n != want {
			return false, fmt.Sprintf("%d of %d events relayed", n, want)
		}
		lags, err := streams.ConsumerLag(ctx, f.Redis, f.Keys, streams.DefaultConsumerGroup)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lags {
			if l.Lag != 0 || l.Pending != 0 {
				return false, fmt.Sprintf("%+v", lags)
			}
		}
		return len(lags) == len(f.Keys.EventStreams()), fmt.Sprintf("%+v", lags)
	}
	testenv.WaitFor(t, replayWait, "the live projector to catch up", caughtUp)

	product, customer := m.products[0], m.customers[0]
	var (
		lastPrice    atomic.Int64
		lastName     atomic.Value
		written      atomic.Int64
		replayDone   = make(chan struct{})
		writerResult = make(chan error, 1)
	)
	go func() {
		for i := 1; ; i++ {
			select {
			case <-replayDone:
				writerResult <- nil
				return
			default:
			}
			name := fmt.Sprintf("During %d", i)
			if _, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: product, PriceCents: int64(1000 + i)}); err != nil {
				writerResult <- err
				return
			}
			lastPrice.Store(int64(1000 + i))
			if _, err := f.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: customer, Name: &name}); err != nil {
				writerResult <- err
				return
			}
			lastName.Store(name)
			written.Add(1)
		}
	}()

	// Grace must outlast a pointer refresh of every process.
	sum, err := projections.Replay(ctx, f.Cache, f.CacheStore, streams.NewReplaySource(f.Redis, f.Keys, f.Store),
		projections.ReplayConfig{BatchSize: 50, Grace: 2 * cache.GenerationRefresh})
	during := written.Load()
	close(replayDone)
	if werr := <-writerResult; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rounds of writes during the replay (%s)", during, sum.Elapsed)
	if during == 0 {
		t.Fatal("nothing was written during the replay")
	}
	testenv.WaitFor(t, replayWait, "the live projector to catch up after the replay", caughtUp)

	if cur, _ := f.pointers(); cur != sum.Generation {
		t.Fatalf("readers on %q, want the new generation %q", cur, sum.Generation)
	}
	if d := f.verify(); d.Drifted != 0 {
		t.Errorf("verify after the switch: %+v", d)
	}
	gen := f.generation(sum.Generation)
	var p app.Product
	if e := gen[cache.ProductKey(product).Name]; !e.Found || e.Tombstone || json.Unmarshal(e.Data, &p) != nil || p.PriceCents != lastPrice.Load() {
		t.Errorf("new generation's products:%s = %+v, want the last price written, %d", product, e, lastPrice.Load())
	}
	var c app.Customer
	if e := gen[cache.CustomerKey(customer).Name]; !e.Found || e.Tombstone || json.Unmarshal(e.Data, &c) != nil || c.Name != lastName.Load() {
		t.Errorf("new generation's customers:%s = %+v, want the last name written, %v", customer, e, lastName.Load())
	}
	var list app.ProductPage
	if e := gen[cache.ProductListKey().Name]; !e.Found || json.Unmarshal(e.Data, &list) != nil {
		t.Errorf("new generation's products:list = %+v", e)
	} else {
		for _, it := range list.Items {
			if it.ID == product && it.PriceCents != lastPrice.Load() {
				t.Errorf("new generation's list shows price %d for %s, want %d", it.PriceCents, product, lastPrice.Load())
			}
		}
	}
	if old := f.generation(""); len(old) != 0 {
		t.Errorf("%d keys left in the old generation", len(old))
	}
}

// A replay from the event store while commands keep committing: a
// transaction that appended before a batch was read but commits after it
// must neither be skipped nor make the next event of its aggregate look
// like a gap. The commit-order horizon is the server's, so a transaction
// in flight anywhere (here one the test holds, as other tests or clients
// would) holds back everything committed after it started; the replay must
// wait for it rather than end early, and read every event the log holds.
func TestReplayFromTheStoreWithATransactionInFlight(t *testing.T) {
	t.Parallel()
	f := newReplayFixture(t)
	ctx := context.Background()
	p, err := f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "LATE-1", Name: "Late", PriceCents: 100, Currency: "EUR", InitialStock: 5})
	if err != nil {
		t.Fatal(err)
	}
	// The first batch must find the product: transactions elsewhere that
	// began before it was created must have ended.
	created := f.events()
	testenv.WaitFor(t, replayWait, "the product's events below the horizon", func() (bool, string) {
		events, err := postgres.NewOutbox(f.Pool).ReadCommitted(ctx, relay.LogPosition{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(events)) == created, fmt.Sprintf("%d of %d readable", len(events), created)
	})
	// A transaction holding an id, begun before the price change below: it
	// holds back every event committed after it until it ends.
	blocker, err := f.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	release := sync.OnceFunc(func() { _ = blocker.Rollback(context.Background()) })
	t.Cleanup(release)

	// A price change appends version 2 and holds its transaction open.
	appended, commit := make(chan struct{}), make(chan struct{})
	inFlight := make(chan error, 1)
	go func() {
		inFlight <- f.Store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			products, err := tx.LoadProducts(ctx, p.ID)
			if err != nil {
				return err
			}
			if err := products[p.ID].ChangePrice(200); err != nil {
				return err
			}
			if _, err := tx.Save(ctx, products[p.ID]); err != nil {
				return err
			}
			close(appended)
			<-commit
			return nil
		})
	}()
	select {
	case <-appended:
	case err := <-inFlight:
		t.Fatalf("price change: %v", err)
	}
	// Committed meanwhile, after it in the log.
	c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "late@example.com", Name: "Late"})
	if err != nil {
		t.Fatal(err)
	}

	var once sync.Once
	cfg := projections.ReplayConfig{BatchSize: 100, Grace: 10 * time.Millisecond, Progress: func(projections.ReplayProgress) {
		// After the first batch: the open transaction commits, and the
		// product changes again.
		once.Do(func() {
			close(commit)
			if err := <-inFlight; err != nil {
				t.Errorf("price change: %v", err)
			}
			if _, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p.ID, PriceCents: 300}); err != nil {
				t.Errorf("second price change: %v", err)
			}
		})
	}}
	source := postgres.NewReplaySource(f.Store)
	var heldBack atomic.Int32
	source.HeldBack = func() {
		heldBack.Add(1)
		release()
	}
	sum, err := projections.Replay(ctx, f.Cache, f.CacheStore, source, cfg)
	if err != nil {
		t.Fatalf("replay from the event store while a transaction commits late: %v", err)
	}
	if events := f.events(); sum.Events != events {
		t.Fatalf("the replay read %d of the log's %d events", sum.Events, events)
	}
	if heldBack.Load() == 0 {
		t.Error("the replay never waited for the transaction in flight")
	}
	live := f.live(&replayModel{products: []string{p.ID}, customers: []string{c.ID}})
	sameProjections(t, f.generation(sum.Generation), live)
	if d := f.verify(); d.Drifted != 0 || d.Checked != len(live) {
		t.Errorf("verify: %+v; want all %d projections checked, none drifted", d, len(live))
	}
	var got app.Product
	e := f.generation(sum.Generation)[cache.ProductKey(p.ID).Name]
	if err := json.Unmarshal(e.Data, &got); err != nil || got.PriceCents != 300 {
		t.Errorf("replayed products:%s = %s (%v), want price 300", p.ID, e.Data, err)
	}
}
