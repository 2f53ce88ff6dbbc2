package projections

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/effects"
	"github.com/orderflow/orderflow/domain"
)

// ProductDetails keeps products:{id} and products:sku:{sku} current. Details
// are rewritten (not merely evicted) so the next read is still a hit.
type ProductDetails struct{ refresh *Refresher }

// Project applies one event that changed a product's details.
func (p ProductDetails) Project(ctx context.Context, r app.RecordedEvent) error {
	return p.refresh.Product(ctx, r.AggregateID)
}

// Stock evicts products:stock:{id}, the stock level and aggregate version
// product reads take from the cache when the API sets a stock TTL. It is
// evicted, not rewritten: with a TTL of seconds a rewrite would mostly
// fill entries nobody reads, and the API's next read loads it. The
// projector cannot tell whether the APIs cache stock, so it always evicts.
type Stock struct{ refresh *Refresher }

// Project applies one event that moved a product's stock or version.
func (s Stock) Project(ctx context.Context, r app.RecordedEvent) error {
	return s.refresh.EvictStock(ctx, r.AggregateID, r.Version)
}

// Catalogue keeps page one of the list current and evicts the public
// catalogue's output-cache tag.
type Catalogue struct{ refresh *Refresher }

// Project applies one event that changed the catalogue.
func (c Catalogue) Project(ctx context.Context, _ app.RecordedEvent) error {
	return c.refresh.Catalogue(ctx)
}

// CustomerProfiles keeps customers:{id} current.
type CustomerProfiles struct{ refresh *Refresher }

// Project applies one event that changed a customer's profile.
func (c CustomerProfiles) Project(ctx context.Context, r app.RecordedEvent) error {
	return c.refresh.Customer(ctx, r.AggregateID)
}

// CustomerOrders keeps orders:customer:{id} of the order's customer current.
type CustomerOrders struct{ refresh *Refresher }

// Project applies one event that changed an order.
func (c CustomerOrders) Project(ctx context.Context, r app.RecordedEvent) error {
	customerID, err := c.customerOf(ctx, r)
	if err != nil {
		return err
	}
	return c.refresh.CustomerOrders(ctx, customerID)
}

// customerOf names the order's customer: a placement carries it, later
// events are looked up.
func (c CustomerOrders) customerOf(ctx context.Context, r app.RecordedEvent) (string, error) {
	if e, ok := r.Event.(domain.OrderPlaced); ok {
		return e.CustomerID, nil
	}
	return c.refresh.OrderCustomer(ctx, r.AggregateID)
}

// projector is one read model's reaction to an event that changed it.
type projector interface {
	Project(ctx context.Context, r app.RecordedEvent) error
}

// route is one read model's projector and the effect it answers.
type route struct {
	effect    effects.Effect
	projector projector
}

// Projectors dispatch an event to the projector of every read model the
// effects table says it changes, in a fixed order (details before the
// catalogue that lists them).
type Projectors struct{ routes []route }

// New returns the projectors of every cached read model, writing through refresh.
func New(refresh *Refresher) Projectors {
	return Projectors{routes: []route{
		{effects.ProductDetails, ProductDetails{refresh}},
		{effects.LiveStock, Stock{refresh}},
		{effects.Catalogue, Catalogue{refresh}},
		{effects.CustomerProfile, CustomerProfiles{refresh}},
		{effects.CustomerOrders, CustomerOrders{refresh}},
	}}
}

// Project runs the projector of every read model the event changes.
func (p Projectors) Project(ctx context.Context, r app.RecordedEvent) error {
	fx := effects.Of(r.Event.EventName())
	for _, rt := range p.routes {
		if !fx.Has(rt.effect) {
			continue
		}
		if err := rt.projector.Project(ctx, r); err != nil {
			return err
		}
	}
	return nil
}
