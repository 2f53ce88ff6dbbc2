package query

import (
	"context"

	"github.com/orderflow/orderflow/app"
)

// OrderReads is what reading one order needs.
type OrderReads interface {
	Order(ctx context.Context, id string) (app.Order, error)
}

// OrderHandler reads orders; they are never cached.
type OrderHandler struct{ reads OrderReads }

// Handle returns the order with its lines.
func (h *OrderHandler) Handle(ctx context.Context, id string) (app.Order, error) {
	o, err := h.reads.Order(ctx, id)
	if err := app.AuthorizeOrder(ctx, o.CustomerID, err); err != nil {
		return app.Order{}, err
	}
	return o, nil
}
