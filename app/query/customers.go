package query

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// CustomerReads is what reading a customer's profile needs.
type CustomerReads interface {
	Customer(ctx context.Context, id string) (app.Customer, error)
}

// CustomerHandler reads profiles, cache-aside.
type CustomerHandler struct {
	reads CustomerReads
	cache *cache.Cache
}

// Handle returns the customer's profile; its version is the customer's.
func (h *CustomerHandler) Handle(ctx context.Context, id string) (app.View[app.Customer], app.CacheStatus, error) {
	if err := app.AuthorizeCustomer(ctx, id); err != nil {
		return app.View[app.Customer]{}, "", err
	}
	return cachedView(ctx, h.cache, cache.CustomerKey(id), LoadCustomer(h.reads, id))
}

// LoadCustomer reads a customer's profile, fenced by its version.
func LoadCustomer(reads CustomerReads, id string) cache.Loader[app.Customer] {
	return func(ctx context.Context) (app.Customer, int64, error) {
		c, err := reads.Customer(ctx, id)
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		return c, c.Version, err
	}
}
