package projections_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/projections"
)

// projectionFixture drives the projectors directly with the events the
// commands committed, read back through the outbox as the relay reads them.
// The commands write without evicting: the projectors under test fill the
// cache.
type projectionFixture struct {
	*testenv.Env
	t          *testing.T
	projectors projections.Projectors
	cp         relay.LogPosition
}

func newProjectionFixture(t *testing.T) *projectionFixture {
	t.Helper()
	e := testenv.New(t, testenv.Options{Cache: true, Uncached: true})
	f := &projectionFixture{Env: e, t: t}
	refresher, err := projections.NewRefresher(e.Store, e.Cache)
	if err != nil {
		t.Fatal(err)
	}
	f.projectors = projections.New(refresher)
	return f
}

// committed returns the events committed since the last call, in commit order.
func (f *projectionFixture) committed() []relay.CommittedEvent {
	f.t.Helper()
	var out []relay.CommittedEvent
	out, f.cp = f.Committed(f.t, f.cp)
	return out
}

// project applies every event committed since the last call and returns their types.
func (f *projectionFixture) project() []string {
	f.t.Helper()
	var types []string
	for _, e := range f.committed() {
		if err := f.projectors.Project(context.Background(), e.RecordedEvent); err != nil {
			f.t.Fatalf("project %s: %v", e.Type, err)
		}
		types = append(types, e.Type)
	}
	return types
}

// entry returns the cache entry at key.
func (f *projectionFixture) entry(key cache.Key) cache.Entry {
	f.t.Helper()
	return f.Entry(f.t, key)
}

func (f *projectionFixture) tag() int64 {
	f.t.Helper()
	v, err := f.CacheStore.TagVersion(context.Background(), f.Cache.Keys().TagVersion("", cache.ProductsTag))
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

// valueAt decodes the value at key and checks its version.
func valueAt[T any](t *testing.T, f *projectionFixture, key cache.Key, version int64) T {
	t.Helper()
	var v T
	e := f.entry(key)
	if !e.Found || e.Tombstone {
		t.Fatalf("%s: no value (%+v)", key.Name, e)
	}
	if e.Version != version {
		t.Errorf("%s at version %d, want %d", key.Name, e.Version, version)
	}
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("%s: %v", key.Name, err)
	}
	return v
}

func same(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s committed %v, want %v", what, got, want)
	}
}

// Each event rewrites exactly the read models it changes, fenced by the
// version the read tables hold: details and the list on catalogue changes
// (never on stock), profiles on customer events, a customer's summaries on
// each of their orders' events.
func TestProjectorsRewriteTheReadModelsEachEventChanges(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	ctx := context.Background()

	p, err := f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "Proj-1", Name: "Projected", Description: "first", PriceCents: 500, Currency: "EUR", InitialStock: 10})
	if err != nil {
		t.Fatal(err)
	}
	same(t, "CreateProduct", f.project(), []string{"ProductCreated"})
	details := valueAt[app.Product](t, f, cache.ProductKey(p.ID), 1)
	if details.PriceCents != 500 || details.StockLevel != nil || details.SKU != "Proj-1" {
		t.Errorf("products:{id} = %+v, want the details without stock", details)
	}
	if bySKU := valueAt[app.Product](t, f, cache.ProductSKUKey("PROJ-1"), 1); bySKU.ID != p.ID {
		t.Errorf("products:sku:proj-1 = %+v", bySKU)
	}
	if list := valueAt[app.ProductPage](t, f, cache.ProductListKey(), 1); len(list.Items) != 1 || list.TotalCount != 1 {
		t.Errorf("products:list = %+v", list)
	}
	if v := f.tag(); v != 1 {
		t.Errorf("products tag at %d after a creation, want 1", v)
	}

	if _, err := f.App.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p.ID, Quantity: 5}); err != nil {
		t.Fatal(err)
	}
	same(t, "RestockProduct", f.project(), []string{"StockAdded"})
	valueAt[app.Product](t, f, cache.ProductKey(p.ID), 1) // untouched: details carry no stock
	valueAt[app.ProductPage](t, f, cache.ProductListKey(), 1)
	if v := f.tag(); v != 1 {
		t.Errorf("products tag moved to %d on a stock event", v)
	}

	if _, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p.ID, PriceCents: 650}); err != nil {
		t.Fatal(err)
	}
	name := "Renamed"
	if _, err := f.App.Commands.ChangeProductDetails.Handle(ctx, app.ChangeProductDetails{ProductID: p.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	same(t, "price and details", f.project(), []string{"ProductPriceChanged", "ProductDetailsChanged"})
	details = valueAt[app.Product](t, f, cache.ProductKey(p.ID), 4)
	if details.PriceCents != 650 || details.Name != "Renamed" || details.Description != "first" {
		t.Errorf("products:{id} = %+v", details)
	}
	if list := valueAt[app.ProductPage](t, f, cache.ProductListKey(), 3); list.Items[0].PriceCents != 650 || list.Items[0].Name != "Renamed" {
		t.Errorf("products:list = %+v", list)
	}
	if v := f.tag(); v != 3 {
		t.Errorf("products tag at %d after three catalogue changes, want 3", v)
	}

	c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "proj@example.com", Name: "Proj"})
	if err != nil {
		t.Fatal(err)
	}
	email := "moved@example.com"
	if _, err := f.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c.ID, Email: &email}); err != nil {
		t.Fatal(err)
	}
	same(t, "customer", f.project(), []string{"CustomerRegistered", "CustomerProfileUpdated"})
	if got := valueAt[app.Customer](t, f, cache.CustomerKey(c.ID), 2); got.Email != email {
		t.Errorf("customers:{id} = %+v", got)
	}
	if e := f.entry(cache.CustomerOrdersKey(c.ID)); e.Found {
		t.Errorf("orders:customer written before any order: %+v", e)
	}

	placed, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	types := f.project()
	if len(types) != 2 || !strings.Contains(strings.Join(types, ","), "OrderPlaced") || !strings.Contains(strings.Join(types, ","), "StockReserved") {
		t.Fatalf("PlaceOrder committed %v", types)
	}
	valueAt[app.Product](t, f, cache.ProductKey(p.ID), 4)
	summaries := valueAt[app.CustomerOrders](t, f, cache.CustomerOrdersKey(c.ID), 1)
	if len(summaries.Items) != 1 || summaries.Items[0].Status != "placed" || summaries.Items[0].TotalCents != 1950 || summaries.Items[0].ItemCount != 3 {
		t.Errorf("orders:customer = %+v", summaries)
	}
	if _, err := f.App.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: placed.Order.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.App.Commands.ShipOrder.Handle(ctx, app.OrderTransition{OrderID: placed.Order.ID}); err != nil {
		t.Fatal(err)
	}
	same(t, "pay and ship", f.project(), []string{"OrderPaid", "OrderShipped"})
	if s := valueAt[app.CustomerOrders](t, f, cache.CustomerOrdersKey(c.ID), 3); s.Items[0].Status != "shipped" {
		t.Errorf("orders:customer = %+v", s)
	}
	second, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.App.Commands.CancelOrder.Handle(ctx, app.OrderTransition{OrderID: second.Order.ID}); err != nil {
		t.Fatal(err)
	}
	f.project()
	if s := valueAt[app.CustomerOrders](t, f, cache.CustomerOrdersKey(c.ID), 5); len(s.Items) != 2 || s.Items[0].Status != "cancelled" || s.Items[1].Status != "shipped" {
		t.Errorf("orders:customer = %+v, want the cancelled order first", s)
	}

	if d, err := projections.Verify(ctx, f.Cache, f.CacheStore, f.Store); err != nil || d.Drifted != 0 || d.Checked != 5 {
		t.Errorf("verify: %+v, %v; want 5 checked, none drifted", d, err)
	}
}

// Projecting an event again, after newer ones, changes no value and moves
// no version backwards: projectors re-read the read tables, and writes are
// fenced.
func TestProjectorsIgnoreOldAndRepeatedEvents(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	ctx := context.Background()
	p, err := f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "OLD-1", Name: "Old", PriceCents: 100, Currency: "EUR", InitialStock: 10})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "old@example.com", Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	history := f.committed()
	if _, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p.ID, PriceCents: 300}); err != nil {
		t.Fatal(err)
	}
	name := "New"
	if _, err := f.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.App.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: o.Order.ID}); err != nil {
		t.Fatal(err)
	}
	history = append(history, f.committed()...)
	// Newest first, then everything again in order.
	for i := len(history) - 1; i >= 0; i-- {
		if err := f.projectors.Project(ctx, history[i].RecordedEvent); err != nil {
			t.Fatal(err)
		}
	}
	keys := []cache.Key{cache.ProductKey(p.ID), cache.ProductSKUKey("old-1"), cache.ProductListKey(), cache.CustomerKey(c.ID), cache.CustomerOrdersKey(c.ID)}
	before := map[string]cache.Entry{}
	for _, k := range keys {
		before[k.Name] = f.entry(k)
	}
	for _, e := range history {
		if err := f.projectors.Project(ctx, e.RecordedEvent); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys {
		a, b := f.entry(k), before[k.Name]
		if !a.Found || a.Version != b.Version || string(a.Data) != string(b.Data) {
			t.Errorf("%s changed on old events:\nbefore v%d %s\nafter  v%d %s", k.Name, b.Version, b.Data, a.Version, a.Data)
		}
	}
	if got := valueAt[app.Product](t, f, cache.ProductKey(p.ID), 3); got.PriceCents != 300 {
		t.Errorf("price %d, want the newest 300", got.PriceCents)
	}
	if got := valueAt[app.CustomerOrders](t, f, cache.CustomerOrdersKey(c.ID), 2); got.Items[0].Status != "paid" {
		t.Errorf("orders:customer = %+v, want paid", got)
	}
}
