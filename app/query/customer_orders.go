package query

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// CustomerOrdersReads is what listing a customer's orders needs.
type CustomerOrdersReads interface {
	// CustomerOrders is a *NotFoundError for an unknown customer.
	CustomerOrders(ctx context.Context, customerID string, limit int) (app.CustomerOrders, error)
	// CustomerOrdersVersion is the version of a customer's order summaries;
	// a *NotFoundError for an unknown customer.
	CustomerOrdersVersion(ctx context.Context, customerID string) (int64, error)
}

// CustomerOrdersHandler lists a customer's orders, cache-aside.
type CustomerOrdersHandler struct {
	reads CustomerOrdersReads
	cache *cache.Cache
}

// Handle returns the customer's newest order summaries, newest first.
func (h *CustomerOrdersHandler) Handle(ctx context.Context, customerID string) (app.View[app.CustomerOrders], app.CacheStatus, error) {
	if err := app.AuthorizeCustomer(ctx, customerID); err != nil {
		return app.View[app.CustomerOrders]{}, "", err
	}
	return cachedView(ctx, h.cache, cache.CustomerOrdersKey(customerID), LoadCustomerOrders(h.reads, customerID))
}

// LoadCustomerOrders reads a customer's order summaries, version first (see
// LoadProductList).
func LoadCustomerOrders(reads CustomerOrdersReads, customerID string) cache.Loader[app.CustomerOrders] {
	return func(ctx context.Context) (app.CustomerOrders, int64, error) {
		version, err := reads.CustomerOrdersVersion(ctx, customerID)
		if err != nil {
			return app.CustomerOrders{}, 0, err
		}
		orders, err := reads.CustomerOrders(ctx, customerID, app.CustomerOrdersLimit)
		return normalizedOrders(orders), version, err
	}
}

// normalizedOrders renders timestamps in UTC and no orders as [], not null.
func normalizedOrders(o app.CustomerOrders) app.CustomerOrders {
	items := make([]app.OrderSummary, len(o.Items))
	for i, it := range o.Items {
		it.PlacedAt = it.PlacedAt.UTC()
		items[i] = it
	}
	o.Items = items
	return o
}
