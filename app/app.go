package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

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

// command is one attempt of a command's transaction; it returns what the
// command will have made stale once committed.
type command func(ctx context.Context, tx Tx) ([]Invalidation, error)

func (w writer) update(ctx context.Context, fn command) error {
	var stale []Invalidation
	attempt := func(ctx context.Context, tx Tx) error {
		var err error
		stale, err = fn(ctx, tx)
		return err
	}
	var err error
	for range w.attempts {
		err = w.store.Update(ctx, attempt)
		if err == nil {
			if w.invalidator != nil && len(stale) > 0 {
				w.invalidator.Invalidate(context.WithoutCancel(ctx), stale)
			}
			return nil
		}
		if !errors.Is(err, ErrConflict) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("after %d attempts: %w", w.attempts, err)
}

// productChanged lists what a change of a product's details or price makes
// stale: its keys, the page-one list and the public catalogue. Stock moves
// make nothing stale (stock and version are read live); they leave the
// catalogue version at 0.
func productChanged(p *domain.Product, written Written) []Invalidation {
	if written.CatalogVersion == 0 {
		return nil
	}
	return []Invalidation{
		{Key: ProductKey(p.AggregateID()), Version: p.Version()},
		{Key: ProductSKUKey(p.State().SKU), Version: p.Version()},
		{Key: ProductListKey(), Version: written.CatalogVersion},
		{Tag: ProductsTag},
	}
}

// ordersChanged lists the order summaries of every customer whose orders changed.
func ordersChanged(written Written) []Invalidation {
	var stale []Invalidation
	for customerID, version := range written.CustomerOrdersVersions {
		stale = append(stale, Invalidation{Key: CustomerOrdersKey(customerID), Version: version})
	}
	return stale
}

// newID returns a new aggregate id; version 7 UUIDs are time-ordered, which
// keeps the primary-key indexes compact.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
