package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
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

// New wires every handler to its ports.
func New(store Store, reads ReadModel) (*Application, error) {
	if store == nil || reads == nil {
		return nil, errors.New("app: store and read model are required")
	}
	w := writer{store: store, attempts: defaultWriteAttempts}
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
			Product:        &ProductHandler{reads: reads},
			ListProducts:   &ListProductsHandler{reads: reads},
			Customer:       &CustomerHandler{reads: reads},
			Order:          &OrderHandler{reads: reads},
			CustomerOrders: &CustomerOrdersHandler{reads: reads},
		},
	}, nil
}

// defaultWriteAttempts bounds how often a command is re-run when a concurrent
// writer appended to the same stream first. Loads lock, so a conflict needs a
// race on creation or an unlocked aggregate; a few attempts are plenty.
const defaultWriteAttempts = 5

// writer runs a command's transaction, re-running it on a version conflict.
type writer struct {
	store    Store
	attempts int
}

func (w writer) update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	var err error
	for range w.attempts {
		err = w.store.Update(ctx, fn)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("after %d attempts: %w", w.attempts, err)
}

// newID returns a new aggregate id; version 7 UUIDs are time-ordered, which
// keeps the primary-key indexes compact.
func newID() string { return uuid.Must(uuid.NewV7()).String() }
