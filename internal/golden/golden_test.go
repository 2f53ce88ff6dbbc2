package golden_test

import (
	"context"
	"flag"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/golden"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/projections"
)

// updateGolden regenerates golden-v1 with this build before checking it. A
// test flag, like the standard library's -update, because the generator
// needs the test servers; CI never passes it.
var updateGolden = flag.Bool("update-golden", false, "regenerate testdata/golden-v1 with this build (see its README; never in CI)")

const v1Dir = "testdata/golden-v1"

// The golden v1 log, written by the build before any event changed shape,
// loaded into an empty database, reads as that build read it: every
// aggregate the store loads, every query's answer over the rebuilt read
// tables, every cached projection after a replay from the streams and
// after one from the event store, with verify finding no drift; and new
// commands on its aggregates append at the current schema version.
func TestGoldenV1LogStaysCorrect(t *testing.T) {
	t.Parallel()
	if *updateGolden {
		generateV1(t, v1Dir)
	}
	ctx := context.Background()
	want, err := golden.ReadLog(v1Dir)
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, want)
	var (
		wantAggregates  []aggregateRecord
		wantReads       readModels
		wantProjections map[string]projection
	)
	readJSON(t, v1Dir, aggregatesFile, &wantAggregates)
	readJSON(t, v1Dir, readModelsFile, &wantReads)
	readJSON(t, v1Dir, projectionsFile, &wantProjections)

	env := testenv.New(t, testenv.Options{Cache: true})
	folded, err := golden.Load(ctx, env.Pool, want)
	if err != nil {
		t.Fatal(err)
	}
	if folded != int64(len(want.Events)) {
		t.Fatalf("the read tables were rebuilt from %d events, the golden log holds %d", folded, len(want.Events))
	}

	t.Run("StoredAsWritten", func(t *testing.T) {
		got, err := golden.Dump(ctx, env.Pool)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("the loaded log differs from the golden one (-golden +loaded):\n%s", diff)
		}
	})

	t.Run("Aggregates", func(t *testing.T) {
		got := loadAggregates(t, ctx, env.Store, want)
		if len(got) != len(wantAggregates) {
			t.Fatalf("%d aggregates loaded, %d recorded", len(got), len(wantAggregates))
		}
		for i, w := range wantAggregates {
			g := got[i]
			if g.Type != w.Type || g.ID != w.ID || g.Version != w.Version {
				t.Errorf("aggregate %d: loaded %s %s at version %d, recorded %s %s at version %d", i, g.Type, g.ID, g.Version, w.Type, w.ID, w.Version)
				continue
			}
			if diff := cmp.Diff(addedSinceV1(w.Type, canonical(t, w.ID, w.State)), canonical(t, g.ID, g.State)); diff != "" {
				t.Errorf("%s %s (-recorded +loaded):\n%s", w.Type, w.ID, diff)
			}
		}
	})

	t.Run("ReadModels", func(t *testing.T) {
		// The queries straight over the rebuilt read tables, no cache.
		direct, err := wire.New(env.Store, env.Store, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantReads, readAll(t, ctx, direct, env.Store, want)); diff != "" {
			t.Errorf("the queries answer differently (-recorded +now):\n%s", diff)
		}
	})

	env.RelayAll(t)
	var entries int64
	for _, s := range env.Keys.EventStreams() {
		n, err := env.Redis.XLen(ctx, s).Result()
		if err != nil {
			t.Fatal(err)
		}
		entries += n
	}
	if entries != int64(len(want.Events)) {
		t.Fatalf("%d stream entries after relaying the golden log of %d events", entries, len(want.Events))
	}

	sources := []projections.ReplaySource{
		streams.NewReplaySource(env.Redis, env.Keys, env.Store),
		postgres.NewReplaySource(env.Store),
	}
	for i, source := range sources {
		t.Run("ReplayFrom="+source.Name(), func(t *testing.T) {
			cfg := projections.ReplayConfig{
				BatchSize: 64, // several batches, as a long log is read
				Grace:     50 * time.Millisecond,
				Now:       func() time.Time { return time.Now().Add(time.Duration(i) * time.Hour) }, // a generation of its own
			}
			sum, err := projections.Replay(ctx, env.Cache, env.CacheStore, source, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Events != int64(len(want.Events)) {
				t.Errorf("replay folded %d events, the golden log holds %d", sum.Events, len(want.Events))
			}
			sameProjections(t, generation(t, env, sum.Generation), wantProjections)
			if err := env.Cache.RefreshGenerations(ctx); err != nil {
				t.Fatal(err)
			}
			d, err := projections.Verify(ctx, env.Cache, env.CacheStore, env.Store)
			if err != nil {
				t.Fatal(err)
			}
			if d.Drifted != 0 || d.Checked == 0 || d.Checked != len(wantProjections) {
				t.Errorf("verify after the replay: %+v; want all %d projections checked, none drifted", d, len(wantProjections))
			}
		})
	}

	t.Run("NewCommandsAppendTheCurrentSchema", func(t *testing.T) {
		newCommands(t, env, want, wantReads, wantAggregates)
	})
}

// addedSinceV1 is a state the v1 build recorded with the fields added
// since at the defaults docs/adr/0014-event-schema-evolution.md gives them:
// what this build must load. Derived from the recorded state, not from the
// events, so it checks the upcasters rather than repeating them.
func addedSinceV1(aggregateType string, state any) any {
	if aggregateType != domain.OrderAggregate {
		return state
	}
	order := state.(map[string]any)
	lines, _ := order["lines"].([]any)
	for _, l := range lines {
		line := l.(map[string]any)
		if _, ok := line["currency"]; !ok {
			line["currency"] = order["currency"] // OrderPlaced v2: lines carry the order's currency
		}
	}
	return order
}

// generation reads the cached projections of one key generation by family
// key (no leases, tags or output entries).
func generation(t *testing.T, env *testenv.Env, gen string) map[string]cache.Entry {
	t.Helper()
	ctx := context.Background()
	prefix := env.Cache.Keys().Key(gen, cache.Key{})
	out := map[string]cache.Entry{}
	err := env.CacheStore.ScanPrefix(ctx, prefix, func(keys []string) error {
		for _, k := range keys {
			name := strings.TrimPrefix(k, prefix)
			if _, _, ok := cache.ParseKey(name); !ok {
				continue
			}
			e, err := env.CacheStore.Get(ctx, k)
			if err != nil {
				return err
			}
			out[name] = e
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameProjections compares replayed projections with the recorded ones:
// the same keys, values and fencing versions. A product's details are
// written by replay when they change, at the aggregate version the fold
// reached in that batch; stock events in later batches move the aggregate
// version without rewriting them, so for product details the version is
// left out, as verify leaves it out.
func sameProjections(t *testing.T, got map[string]cache.Entry, want map[string]projection) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("replayed keys differ from the recorded ones:\nreplayed %v\nrecorded %v", g, w)
	}
	for name, w := range want {
		g := got[name]
		if !g.Found || g.Tombstone {
			t.Errorf("%s: replayed %+v", name, g)
			continue
		}
		key, _, _ := cache.ParseKey(name)
		product := key.Family == cache.FamilyProduct || key.Family == cache.FamilyProductBySKU
		if !product && g.Version != w.Version {
			t.Errorf("%s: replayed at version %d, recorded at %d", name, g.Version, w.Version)
		}
		gv, wv := canonical(t, name, g.Data), canonical(t, name, w.Value)
		if product {
			delete(gv.(map[string]any), "version")
			delete(wv.(map[string]any), "version")
		}
		if diff := cmp.Diff(wv, gv); diff != "" {
			t.Errorf("%s (-recorded +replayed):\n%s", name, diff)
		}
	}
}

// newCommands runs a command of every kind on golden aggregates (the
// snapshotted product and customer among them) and checks each appended
// event continues its stream and carries the schema version the codec
// writes today, whatever the golden log's.
func newCommands(t *testing.T, env *testenv.Env, l golden.Log, reads readModels, aggregates []aggregateRecord) {
	t.Helper()
	ctx := context.Background()
	versions := map[string]int64{}
	for _, a := range aggregates {
		versions[a.ID] = a.Version
	}
	snapshotted := map[string]string{}
	for _, s := range l.Snapshots {
		snapshotted[s.StreamType] = s.StreamID
	}
	hot, customer := snapshotted[domain.ProductAggregate], snapshotted[domain.CustomerAggregate]
	ordersIn := func(status string) []app.Order {
		var out []app.Order
		for _, o := range reads.Orders {
			if o.Status == status {
				out = append(out, o)
			}
		}
		if len(out) < 2 {
			t.Fatalf("the golden log has %d %s orders, want at least 2", len(out), status)
		}
		return out
	}
	placed, paid := ordersIn("placed"), ordersIn("paid")

	p, err := env.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: hot, PriceCents: 3030})
	if err != nil {
		t.Fatal(err)
	}
	if p.PriceCents != 3030 || p.Version != versions[hot]+1 {
		t.Errorf("price change on the golden hot product: %+v, want price 3030 at version %d", p, versions[hot]+1)
	}
	name := "Customer renamed after the golden log"
	c, err := env.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: customer, Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != name || c.Version != versions[customer]+1 {
		t.Errorf("update of the golden customer: %+v, want %q at version %d", c, name, versions[customer]+1)
	}
	if _, err := env.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{
		SKU: "AFTER-GOLDEN-1", Name: "Created after the golden log", PriceCents: 1250, Currency: "KWD", InitialStock: 3,
	}); err != nil {
		t.Fatal(err)
	}
	step := func(what string, cmd app.Handler[app.OrderTransition, app.Order], id string) {
		if _, err := cmd.Handle(ctx, app.OrderTransition{OrderID: id}); err != nil {
			t.Fatalf("%s golden order %s: %v", what, id, err)
		}
	}
	step("pay", env.App.Commands.PayOrder, placed[0].ID)
	step("cancel", env.App.Commands.CancelOrder, placed[1].ID)
	step("ship", env.App.Commands.ShipOrder, paid[0].ID)
	if _, err := env.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{
		CustomerID: customer, Lines: []domain.LineRequest{{ProductID: hot, Quantity: 2}},
	}); err != nil {
		t.Fatal(err)
	}

	rows, err := env.Pool.Query(ctx, `
		SELECT stream_id::text, version, event_type, schema_version, data::text
		  FROM events WHERE global_position > $1 ORDER BY global_position`, l.Events[len(l.Events)-1].GlobalPosition)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	codec := app.NewEventCodec()
	seen := map[string]bool{}
	for rows.Next() {
		var (
			stream, typ, data string
			version           int64
			schema            int
		)
		if err := rows.Scan(&stream, &version, &typ, &schema, &data); err != nil {
			t.Fatal(err)
		}
		seen[typ] = true
		if version != versions[stream]+1 {
			t.Errorf("%s appended to %s at version %d, want %d", typ, stream, version, versions[stream]+1)
		}
		versions[stream] = version
		e, err := codec.Decode(typ, schema, []byte(data))
		if err != nil {
			t.Fatalf("%s at version %d: %v", typ, version, err)
		}
		if _, current, _, err := codec.Encode(e); err != nil || schema != current {
			t.Errorf("%s appended at schema version %d, this build writes %d (%v)", typ, schema, current, err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"ProductCreated", "ProductPriceChanged", "CustomerProfileUpdated", "OrderPaid", "OrderCancelled", "StockReleased", "OrderShipped", "OrderPlaced", "StockReserved"} {
		if !seen[typ] {
			t.Errorf("no %s appended after the golden log", typ)
		}
	}
}
