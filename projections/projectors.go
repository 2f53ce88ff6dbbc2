package projections

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// ProductDetails keeps products:{id} and products:sku:{sku} current. Details
// are rewritten (not merely evicted) so the next read is still a hit; stock
// events leave them untouched, since details carry no stock.
type ProductDetails struct{ refresh *app.Refresher }

func (p ProductDetails) productChanged(ctx context.Context, r app.RecordedEvent) error {
	return p.refresh.Product(ctx, r.AggregateID)
}

// Project applies one product event.
func (p ProductDetails) Project(ctx context.Context, r app.RecordedEvent) error {
	switch r.Event.(type) {
	case domain.ProductCreated, domain.ProductDetailsChanged, domain.ProductPriceChanged:
		return p.productChanged(ctx, r)
	}
	return nil
}

// Catalogue keeps page one of the list current and evicts the public
// catalogue's output-cache tag on any product change but stock.
type Catalogue struct{ refresh *app.Refresher }

// Project applies one product event.
func (c Catalogue) Project(ctx context.Context, r app.RecordedEvent) error {
	switch r.Event.(type) {
	case domain.ProductCreated, domain.ProductDetailsChanged, domain.ProductPriceChanged:
		return c.refresh.Catalogue(ctx)
	}
	return nil
}

// CustomerProfiles keeps customers:{id} current.
type CustomerProfiles struct{ refresh *app.Refresher }

// Project applies one customer event.
func (c CustomerProfiles) Project(ctx context.Context, r app.RecordedEvent) error {
	switch r.Event.(type) {
	case domain.CustomerRegistered, domain.CustomerProfileUpdated:
		return c.refresh.Customer(ctx, r.AggregateID)
	}
	return nil
}

// CustomerOrders keeps orders:customer:{id} of the order's customer current.
type CustomerOrders struct{ refresh *app.Refresher }

// Project applies one order event.
func (c CustomerOrders) Project(ctx context.Context, r app.RecordedEvent) error {
	var customerID string
	switch e := r.Event.(type) {
	case domain.OrderPlaced:
		customerID = e.CustomerID
	case domain.OrderPaid, domain.OrderShipped, domain.OrderCancelled:
		id, err := c.refresh.OrderCustomer(ctx, r.AggregateID)
		if err != nil {
			return err
		}
		customerID = id
	default:
		return nil
	}
	return c.refresh.CustomerOrders(ctx, customerID)
}

// projector is one read model's reaction to an event.
type projector interface {
	Project(ctx context.Context, r app.RecordedEvent) error
}

// Projectors are every read model's projector, by the aggregate type whose
// stream feeds them.
type Projectors map[string][]projector

// New returns the projectors of every cached read model, writing through refresh.
func New(refresh *app.Refresher) Projectors {
	return Projectors{
		domain.ProductAggregate:  {ProductDetails{refresh}, Catalogue{refresh}},
		domain.CustomerAggregate: {CustomerProfiles{refresh}},
		domain.OrderAggregate:    {CustomerOrders{refresh}},
	}
}

// Project runs every projector of the event's aggregate type.
func (p Projectors) Project(ctx context.Context, r app.RecordedEvent) error {
	for _, proj := range p[r.AggregateType] {
		if err := proj.Project(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
