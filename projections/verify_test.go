package projections_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/projections"
)

// verifyFixture is a product, a customer and their order, every projection
// of them written as the projectors write them.
type verifyFixture struct {
	*replayFixture
	ref      *projections.Refresher
	product  app.Product
	customer app.Customer
}

// verifyProjections is how many projections the fixture has: the product
// by id and by SKU, page one, the customer and their order summaries.
const verifyProjections = 5

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	f := &verifyFixture{replayFixture: newReplayFixture(t)}
	ctx := context.Background()
	var err error
	if f.ref, err = projections.NewRefresher(f.Store, f.Cache); err != nil {
		t.Fatal(err)
	}
	if f.product, err = f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "VER-1", Name: "Verified", PriceCents: 500, Currency: "EUR", InitialStock: 10}); err != nil {
		t.Fatal(err)
	}
	if f.customer, err = f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "verified@example.com", Name: "Verified"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: f.customer.ID, Lines: []domain.LineRequest{{ProductID: f.product.ID, Quantity: 2}}}); err != nil {
		t.Fatal(err)
	}
	for _, write := range []func(context.Context) error{
		func(ctx context.Context) error { return f.ref.Product(ctx, f.product.ID) },
		f.ref.Catalogue,
		func(ctx context.Context) error { return f.ref.Customer(ctx, f.customer.ID) },
		func(ctx context.Context) error { return f.ref.CustomerOrders(ctx, f.customer.ID) },
	} {
		if err := write(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if d := f.verify(); d.Drifted != 0 || d.Checked != verifyProjections {
		t.Fatalf("verify of the projectors' own writes: %+v; want %d checked, none drifted", d, verifyProjections)
	}
	return f
}

// entry reads a projection of the current generation.
func (f *verifyFixture) entry(key cache.Key) cache.Entry {
	f.t.Helper()
	e := f.Entry(f.t, key)
	if !e.Found {
		f.t.Fatalf("%s is not cached", key.Name)
	}
	return e
}

// overwrite replaces an entry by hand, past the fence.
func (f *verifyFixture) overwrite(key cache.Key, version int64, data []byte) {
	f.t.Helper()
	ctx := context.Background()
	full := f.Cache.Keys().Key("", key)
	if err := f.Redis.Del(ctx, full).Err(); err != nil {
		f.t.Fatal(err)
	}
	if stored, err := f.CacheStore.SetFenced(ctx, full, version, data, key.Family.TTL()); err != nil || !stored {
		f.t.Fatalf("overwrite %s: stored %v, %v", key.Name, stored, err)
	}
}

// Verify reports an entry that is wrong, one the projectors owe (a
// tombstone they never replaced) and one from the future, each by its key,
// after checking every projection; a merely absent key is no drift.
func TestVerifyReportsDrift(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(f *verifyFixture) cache.Key
		want   string
	}{
		{"wrong", func(f *verifyFixture) cache.Key {
			key := cache.CustomerKey(f.customer.ID)
			e := f.entry(key)
			var c app.Customer
			if err := json.Unmarshal(e.Data, &c); err != nil {
				t.Fatal(err)
			}
			c.Name = "Someone else"
			data, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			f.overwrite(key, e.Version, data)
			return key
		}, "wrong"},
		{"missing but expected", func(f *verifyFixture) cache.Key {
			// The command evicts the profile; no projector follows, as when
			// its event was lost or parked.
			name := "Renamed"
			if _, err := f.App.Commands.UpdateCustomer.Handle(context.Background(), app.UpdateCustomer{CustomerID: f.customer.ID, Name: &name}); err != nil {
				t.Fatal(err)
			}
			key := cache.CustomerKey(f.customer.ID)
			if e := f.entry(key); !e.Tombstone {
				t.Fatalf("%s after the update: %+v, want a tombstone", key.Name, e)
			}
			return key
		}, "missing"},
		{"from the future", func(f *verifyFixture) cache.Key {
			// The right details at a version the log has not reached, as
			// after PostgreSQL was restored to an earlier point.
			key := cache.ProductKey(f.product.ID)
			e := f.entry(key)
			f.overwrite(key, e.Version+10, e.Data)
			return key
		}, "from the future"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newVerifyFixture(t)
			key := tc.damage(f)
			d := f.verify()
			if d.Checked != verifyProjections || d.Drifted != 1 || len(d.Samples) != 1 {
				t.Fatalf("verify: %+v; want %d checked, 1 drifted", d, verifyProjections)
			}
			if want := f.Cache.Keys().Key("", key) + ": " + tc.want; !strings.HasPrefix(d.Samples[0], want) {
				t.Errorf("verify says %q, want it to start with %q", d.Samples[0], want)
			}
		})
	}

	t.Run("absent", func(t *testing.T) {
		t.Parallel()
		f := newVerifyFixture(t)
		if err := f.Redis.Del(context.Background(), f.Cache.Keys().Key("", cache.CustomerKey(f.customer.ID))).Err(); err != nil {
			t.Fatal(err)
		}
		if d := f.verify(); d.Checked != verifyProjections-1 || d.Drifted != 0 {
			t.Errorf("verify after an entry expired: %+v; want %d checked, none drifted", d, verifyProjections-1)
		}
	})
}

// readsWithAWrite is the read tables, with a command committed (and its
// projection written a little later, as a projector would) just before the
// first read of a customer: a write that lands between verify's read of the
// cache and its read of PostgreSQL.
type readsWithAWrite struct {
	app.ReadModel
	once  sync.Once
	write func()
}

func (r *readsWithAWrite) Customer(ctx context.Context, id string) (app.Customer, error) {
	r.once.Do(r.write)
	return r.ReadModel.Customer(ctx, id)
}

// A write landing between verify's two reads of an entry is not drift:
// the entry is read again, on both sides, once it was rewritten.
func TestVerifyRereadsAnEntryAWriteLandedOn(t *testing.T) {
	t.Parallel()
	f := newVerifyFixture(t)
	ctx := context.Background()
	projected := make(chan error, 1)
	reads := &readsWithAWrite{ReadModel: f.Store, write: func() {
		name := "Renamed meanwhile"
		if _, err := f.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: f.customer.ID, Name: &name}); err != nil {
			t.Error(err)
		}
		go func() { projected <- f.ref.Customer(ctx, f.customer.ID) }()
	}}
	d, err := projections.VerifyWith(ctx, f.Cache, f.CacheStore, reads, projections.VerifyConfig{RecheckWait: replayWait})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-projected; err != nil {
		t.Fatal(err)
	}
	if d.Checked != verifyProjections || d.Drifted != 0 || d.Rechecked != 1 {
		t.Errorf("verify: %+v; want %d checked, the customer read again and none drifted", d, verifyProjections)
	}
}
