package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/effects"
	"github.com/orderflow/orderflow/domain"
)

// Invalidator evicts what commands made stale, right after they commit.
// Implemented by *cache.Cache.
type Invalidator interface {
	Invalidate(ctx context.Context, stale []cache.Invalidation)
}

// New wires every command handler to the event store. c may be nil: the
// commands then evict nothing.
func New(store app.Store, c *cache.Cache) (app.Commands, error) {
	if store == nil {
		return app.Commands{}, errors.New("command: store is required")
	}
	w := writer{store: store, attempts: defaultWriteAttempts}
	if c != nil {
		w.invalidator = c
		// Stock entries exist only with a stock TTL; without one, a stock
		// move has nothing to evict and orders spare the round trips.
		w.evictStock = c.StockTTL() > 0
	}
	return app.Commands{
		CreateProduct:        &CreateProductHandler{w: w},
		ChangeProductDetails: &ChangeProductDetailsHandler{w: w},
		ChangeProductPrice:   &ChangeProductPriceHandler{w: w},
		RestockProduct:       &RestockProductHandler{w: w},
		RegisterCustomer:     &RegisterCustomerHandler{w: w},
		UpdateCustomer:       &UpdateCustomerHandler{w: w},
		PlaceOrder:           &PlaceOrderHandler{w: w},
		PayOrder:             &OrderTransitionHandler{w: w, transition: payOrder},
		ShipOrder:            &OrderTransitionHandler{w: w, transition: shipOrder},
		CancelOrder:          &OrderTransitionHandler{w: w, transition: cancelOrder},
	}, nil
}

// defaultWriteAttempts bounds how often a command is re-run when a concurrent
// writer appended to the same stream first. Loads lock, so a conflict needs a
// race on creation or an unlocked aggregate; a few attempts are plenty.
const defaultWriteAttempts = 5

// writer runs a command's transaction, re-running it on a version conflict,
// and once it committed, invalidates what it made stale before the command
// answers (read-your-writes).
type writer struct {
	store       app.Store
	attempts    int
	invalidator Invalidator
	// evictStock tombstones the stock entry of every product whose stock
	// or version moved (the deployment caches stock: ORDERFLOW_STOCK_TTL).
	evictStock bool
}

// command is one attempt of a command's transaction.
type command func(ctx context.Context, tx app.Tx) error

func (w writer) update(ctx context.Context, fn command) error {
	var rec recordingTx
	attempt := func(ctx context.Context, tx app.Tx) error {
		rec = recordingTx{Tx: tx}
		return fn(ctx, &rec)
	}
	var err error
	for range w.attempts {
		err = w.store.Update(ctx, attempt)
		if err == nil {
			if w.invalidator != nil {
				if stale := rec.stale(w.evictStock); len(stale) > 0 {
					w.invalidator.Invalidate(context.WithoutCancel(ctx), stale)
				}
			}
			return nil
		}
		if !errors.Is(err, app.ErrConflict) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", w.attempts, err)
}

// recordingTx notes what every Save of one attempt changed, so that the
// writer can evict it once the attempt committed.
type recordingTx struct {
	app.Tx
	saved   []savedAggregate
	written app.Written
}

// savedAggregate is an aggregate as a Save left it, with what its events changed.
type savedAggregate struct {
	id      string
	version int64
	sku     string
	changed effects.Effect
}

// Save records the aggregates' pending events before they are saved.
func (t *recordingTx) Save(ctx context.Context, aggregates ...domain.Aggregate) (app.Written, error) {
	start := len(t.saved)
	for _, a := range aggregates {
		s := savedAggregate{id: a.AggregateID(), version: a.Version()}
		for _, e := range a.Changes() {
			s.changed |= effects.Of(e.EventName())
		}
		if p, ok := a.(*domain.Product); ok {
			s.sku = p.State().SKU
		}
		t.saved = append(t.saved, s)
	}
	written, err := t.Tx.Save(ctx, aggregates...)
	if err != nil {
		t.saved = t.saved[:start]
		return written, err
	}
	if written.CatalogVersion != 0 {
		t.written.CatalogVersion = written.CatalogVersion
	}
	for id, v := range written.CustomerOrdersVersions {
		if t.written.CustomerOrdersVersions == nil {
			t.written.CustomerOrdersVersions = map[string]int64{}
		}
		t.written.CustomerOrdersVersions[id] = v
	}
	return written, nil
}

// stale lists what the saved events made stale, as the effects table says:
// a product's details under its id and SKU, the catalogue's page one and
// its output-cache tag, a customer's profile, the order summaries of every
// customer whose orders changed, and with stock cached, the stock entry of
// every product an event moved (its version moves with every event).
// Without it stock moves make nothing stale: stock and version are read
// live.
func (t *recordingTx) stale(stock bool) []cache.Invalidation {
	var (
		stale     []cache.Invalidation
		catalogue bool
	)
	for _, s := range t.saved {
		if s.changed.Has(effects.ProductDetails) {
			stale = append(stale,
				cache.Invalidation{Key: cache.ProductKey(s.id), Version: s.version},
				cache.Invalidation{Key: cache.ProductSKUKey(s.sku), Version: s.version})
		}
		if stock && s.changed.Has(effects.LiveStock) {
			stale = append(stale, cache.Invalidation{Key: cache.StockKey(s.id), Version: s.version})
		}
		if s.changed.Has(effects.CustomerProfile) {
			stale = append(stale, cache.Invalidation{Key: cache.CustomerKey(s.id), Version: s.version})
		}
		catalogue = catalogue || s.changed.Has(effects.Catalogue)
	}
	if catalogue && t.written.CatalogVersion != 0 {
		stale = append(stale,
			cache.Invalidation{Key: cache.ProductListKey(), Version: t.written.CatalogVersion},
			cache.Invalidation{Tag: cache.ProductsTag})
	}
	for customerID, version := range t.written.CustomerOrdersVersions {
		stale = append(stale, cache.Invalidation{Key: cache.CustomerOrdersKey(customerID), Version: version})
	}
	return stale
}

// newID returns a new aggregate id; version 7 UUIDs are time-ordered, which
// keeps the primary-key indexes compact.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
