package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/orderflow/orderflow/app/effects"
	"github.com/orderflow/orderflow/domain"
)

// Application is what transports hold: every command and query handler.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands change state through the event store.
type Commands struct {
	CreateProduct        *CreateProductHandler
	ChangeProductDetails *ChangeProductDetailsHandler
	ChangeProductPrice   *ChangeProductPriceHandler
	RestockProduct       *RestockProductHandler
	RegisterCustomer     *RegisterCustomerHandler
	UpdateCustomer       *UpdateCustomerHandler
	PlaceOrder           *PlaceOrderHandler
	PayOrder             *OrderTransitionHandler
	ShipOrder            *OrderTransitionHandler
	CancelOrder          *OrderTransitionHandler
}

// Queries answer reads.
type Queries struct {
	Product        *ProductHandler
	ListProducts   *ListProductsHandler
	Customer       *CustomerHandler
	Order          *OrderHandler
	CustomerOrders *CustomerOrdersHandler
}

// New wires every handler to its ports. cache may be nil: reads then go
// straight to the read model and commands invalidate nothing.
func New(store Store, reads ReadModel, cache *Cache) (*Application, error) {
	if store == nil || reads == nil {
		return nil, errors.New("app: store and read model are required")
	}
	w := writer{store: store, attempts: defaultWriteAttempts}
	if cache != nil {
		w.invalidator = cache
	}
	return &Application{
		Commands: Commands{
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
		},
		Queries: Queries{
			Product:        &ProductHandler{reads: reads, cache: cache},
			ListProducts:   &ListProductsHandler{reads: reads, cache: cache},
			Customer:       &CustomerHandler{reads: reads, cache: cache},
			Order:          &OrderHandler{reads: reads},
			CustomerOrders: &CustomerOrdersHandler{reads: reads, cache: cache},
		},
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
	store       Store
	attempts    int
	invalidator Invalidator
}

// command is one attempt of a command's transaction.
type command func(ctx context.Context, tx Tx) error

func (w writer) update(ctx context.Context, fn command) error {
	var rec recordingTx
	attempt := func(ctx context.Context, tx Tx) error {
		rec = recordingTx{Tx: tx}
		return fn(ctx, &rec)
	}
	var err error
	for range w.attempts {
		err = w.store.Update(ctx, attempt)
		if err == nil {
			if w.invalidator != nil {
				if stale := rec.stale(); len(stale) > 0 {
					w.invalidator.Invalidate(context.WithoutCancel(ctx), stale)
				}
			}
			return nil
		}
		if !errors.Is(err, ErrConflict) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", w.attempts, err)
}

// recordingTx notes what every Save of one attempt changed, so that the
// writer can evict it once the attempt committed.
type recordingTx struct {
	Tx
	saved   []savedAggregate
	written Written
}

// savedAggregate is an aggregate as a Save left it, with what its events changed.
type savedAggregate struct {
	id      string
	version int64
	sku     string
	changed effects.Effect
}

// Save records the aggregates' pending events before they are saved.
func (t *recordingTx) Save(ctx context.Context, aggregates ...domain.Aggregate) (Written, error) {
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
// customer whose orders changed. Stock moves make nothing stale: stock and
// version are read live.
func (t *recordingTx) stale() []Invalidation {
	var (
		stale     []Invalidation
		catalogue bool
	)
	for _, s := range t.saved {
		if s.changed.Has(effects.ProductDetails) {
			stale = append(stale,
				Invalidation{Key: ProductKey(s.id), Version: s.version},
				Invalidation{Key: ProductSKUKey(s.sku), Version: s.version})
		}
		if s.changed.Has(effects.CustomerProfile) {
			stale = append(stale, Invalidation{Key: CustomerKey(s.id), Version: s.version})
		}
		catalogue = catalogue || s.changed.Has(effects.Catalogue)
	}
	if catalogue && t.written.CatalogVersion != 0 {
		stale = append(stale,
			Invalidation{Key: ProductListKey(), Version: t.written.CatalogVersion},
			Invalidation{Tag: ProductsTag})
	}
	for customerID, version := range t.written.CustomerOrdersVersions {
		stale = append(stale, Invalidation{Key: CustomerOrdersKey(customerID), Version: version})
	}
	return stale
}

// newID returns a new aggregate id; version 7 UUIDs are time-ordered, which
// keeps the primary-key indexes compact.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
