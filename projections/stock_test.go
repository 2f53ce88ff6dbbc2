package projections_test

import (
	"context"
	"testing"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/query"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/projections"
)

// newStockFixture is newProjectionFixture with stock cached, as an API
// with a stock TTL fills it.
func newStockFixture(t *testing.T) *projectionFixture {
	t.Helper()
	e := testenv.New(t, testenv.Options{Cache: true, Uncached: true, CacheConfig: cache.Config{StockTTL: cache.MaxStockTTL}})
	refresher, err := projections.NewRefresher(e.Store, e.Cache)
	if err != nil {
		t.Fatal(err)
	}
	return &projectionFixture{Env: e, t: t, projectors: projections.New(refresher)}
}

// The projector evicts a product's stock entry on every event that moves
// its stock or its version, at the event's version: the repair of a
// command's lost fast-path eviction, so a stock TTL can never keep a level
// past the projector's lag. Here the commands evict nothing, as when the
// fast path failed. A redelivered older event leaves a newer entry alone.
func TestProjectorsEvictStockEntries(t *testing.T) {
	t.Parallel()
	f := newStockFixture(t)
	ctx := context.Background()
	p, err := f.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "STOCK-1", Name: "Stocked", PriceCents: 100, Currency: "EUR", InitialStock: 10})
	if err != nil {
		t.Fatal(err)
	}
	key := cache.StockKey(p.ID)
	history := f.committed()
	for _, e := range history {
		if err := f.projectors.Project(ctx, e.RecordedEvent); err != nil {
			t.Fatal(err)
		}
	}
	// fill reads the stock as a product read with a stock TTL does.
	fill := func(wantLevel, wantVersion int64) {
		t.Helper()
		s, _, err := cache.GetOrLoad(ctx, f.Cache, key, query.LoadStock(f.Store, p.ID))
		if err != nil {
			t.Fatal(err)
		}
		if s.Level != wantLevel || s.Version != wantVersion {
			t.Fatalf("stock %+v, want %d at version %d", s, wantLevel, wantVersion)
		}
		if got := valueAt[app.StockLevel](t, f, key, wantVersion); got != s {
			t.Fatalf("stock entry %+v, want %+v", got, s)
		}
	}
	evictedAt := func(what string, version int64) {
		t.Helper()
		if e := f.entry(key); !e.Found || !e.Tombstone || e.Version != version {
			t.Fatalf("after %s: stock entry %+v, want a tombstone at version %d", what, e, version)
		}
	}
	fill(10, 1)

	c, err := f.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "stock@example.com", Name: "Stock"})
	if err != nil {
		t.Fatal(err)
	}
	f.project()
	for _, step := range []struct {
		what    string
		run     func() error
		level   int64
		version int64
	}{
		{"a restock", func() error {
			_, err := f.App.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p.ID, Quantity: 5})
			return err
		}, 15, 2},
		{"a price change", func() error {
			_, err := f.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p.ID, PriceCents: 120})
			return err
		}, 15, 3},
		{"an order", func() error {
			_, err := f.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 4}}})
			return err
		}, 11, 4},
	} {
		if err := step.run(); err != nil {
			t.Fatal(err)
		}
		events := f.committed()
		history = append(history, events...)
		if e := f.entry(key); e.Tombstone || e.Version >= step.version {
			t.Fatalf("before projecting %s: stock entry %+v; the command was not to evict", step.what, e)
		}
		for _, e := range events {
			if err := f.projectors.Project(ctx, e.RecordedEvent); err != nil {
				t.Fatal(err)
			}
		}
		evictedAt(step.what, step.version)
		fill(step.level, step.version)
	}

	// Every event again: nothing older replaces the entry at version 4.
	for _, e := range history {
		if err := f.projectors.Project(ctx, e.RecordedEvent); err != nil {
			t.Fatal(err)
		}
	}
	if got := valueAt[app.StockLevel](t, f, key, 4); got.Level != 11 {
		t.Errorf("stock entry %+v after old events, want 11 at version 4", got)
	}
}
