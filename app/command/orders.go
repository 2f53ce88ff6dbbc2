package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// fingerprint identifies the request's content, so a reused key with a
// different request can be told from a repeat.
func fingerprint(cmd app.PlaceOrder) string {
	var b strings.Builder
	b.WriteString(cmd.CustomerID)
	for _, l := range cmd.Lines {
		fmt.Fprintf(&b, "|%s:%d", l.ProductID, l.Quantity)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// PlaceOrderHandler places orders.
type PlaceOrderHandler struct{ w writer }

// Handle reserves stock on every line's product and places the order, all or
// nothing. Products are locked in id order, so concurrent orders on the same
// products wait for each other instead of failing.
func (h *PlaceOrderHandler) Handle(ctx context.Context, cmd app.PlaceOrder) (app.PlacedOrder, error) {
	if err := domain.CheckLines(cmd.Lines); err != nil {
		return app.PlacedOrder{}, err
	}
	// Before the idempotency key is claimed: a forbidden request leaves nothing behind.
	if err := app.AuthorizeCustomer(ctx, cmd.CustomerID); err != nil {
		return app.PlacedOrder{}, err
	}
	var out app.PlacedOrder
	id := newID()
	key := app.IdempotencyKey{Scope: cmd.Caller, Key: cmd.IdempotencyKey, RequestHash: fingerprint(cmd)}
	err := h.w.update(ctx, func(ctx context.Context, tx app.Tx) error {
		if cmd.IdempotencyKey != "" {
			earlier, err := tx.ClaimIdempotencyKey(ctx, key)
			if err != nil {
				return err
			}
			if earlier != nil {
				out = app.PlacedOrder{Order: *earlier, Replayed: true}
				return nil
			}
		}
		if _, err := tx.LoadCustomer(ctx, cmd.CustomerID); err != nil {
			return err
		}
		ids := make([]string, len(cmd.Lines))
		for i, l := range cmd.Lines {
			ids[i] = l.ProductID
		}
		products, err := tx.LoadProducts(ctx, ids...)
		if err != nil {
			return err
		}
		order, err := domain.PlaceOrder(id, cmd.CustomerID, cmd.Lines, products)
		if err != nil {
			return err
		}
		written, err := tx.Save(ctx, aggregatesOf(order, products)...)
		if err != nil {
			return err
		}
		// Built from the aggregate rather than read back: one round trip
		// less while the products' rows are locked.
		view := placedOrderView(order, written.At)
		if cmd.IdempotencyKey != "" {
			if err := tx.RememberIdempotentOrder(ctx, key, view); err != nil {
				return err
			}
		}
		out = app.PlacedOrder{Order: view}
		return nil
	})
	return out, err
}

// placedOrderView is the representation of an order just placed.
func placedOrderView(o *domain.Order, at time.Time) app.Order {
	s := o.State()
	view := app.Order{
		ID: o.AggregateID(), CustomerID: s.CustomerID, Status: string(s.Status), Lines: make([]app.OrderLine, len(s.Lines)),
		TotalCents: s.TotalCents(), Currency: s.Currency, Version: o.Version(), PlacedAt: at, UpdatedAt: at,
	}
	for i, l := range s.Lines {
		view.Lines[i] = app.OrderLine{ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPriceCents: l.UnitPriceCents, LineTotalCents: l.TotalCents()}
	}
	return view
}

// aggregatesOf lists an order and the products it touched, for one Save.
func aggregatesOf(order *domain.Order, products map[string]*domain.Product) []domain.Aggregate {
	all := make([]domain.Aggregate, 0, len(products)+1)
	all = append(all, order)
	for _, p := range products {
		all = append(all, p)
	}
	return all
}

// OrderTransitionHandler moves orders along their lifecycle.
type OrderTransitionHandler struct {
	w          writer
	transition func(ctx context.Context, tx app.Tx, o *domain.Order) ([]domain.Aggregate, error)
}

// Handle applies the transition and returns the order.
func (h *OrderTransitionHandler) Handle(ctx context.Context, cmd app.OrderTransition) (app.Order, error) {
	var out app.Order
	err := h.w.update(ctx, func(ctx context.Context, tx app.Tx) error {
		o, err := tx.LoadOrder(ctx, cmd.OrderID)
		var owner string
		if err == nil {
			owner = o.State().CustomerID
		}
		if err := app.AuthorizeOrder(ctx, owner, err); err != nil {
			return err
		}
		changed, err := h.transition(ctx, tx, o)
		if err != nil {
			return err
		}
		if _, err := tx.Save(ctx, changed...); err != nil {
			return err
		}
		out, err = tx.Order(ctx, cmd.OrderID)
		return err
	})
	return out, err
}

func payOrder(_ context.Context, _ app.Tx, o *domain.Order) ([]domain.Aggregate, error) {
	return []domain.Aggregate{o}, o.Pay()
}

func shipOrder(_ context.Context, _ app.Tx, o *domain.Order) ([]domain.Aggregate, error) {
	return []domain.Aggregate{o}, o.Ship()
}

// cancelOrder locks the order's products before releasing their stock.
func cancelOrder(ctx context.Context, tx app.Tx, o *domain.Order) ([]domain.Aggregate, error) {
	lines := o.State().Lines
	ids := make([]string, len(lines))
	for i, l := range lines {
		ids[i] = l.ProductID
	}
	products, err := tx.LoadProducts(ctx, ids...)
	if err != nil {
		return nil, err
	}
	if err := o.Cancel(products); err != nil {
		return nil, err
	}
	return aggregatesOf(o, products), nil
}
