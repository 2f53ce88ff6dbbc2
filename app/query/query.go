package query

import (
	"context"
	"errors"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// New wires every query handler to the read model. c may be nil: reads then
// go straight to the read model.
func New(reads app.ReadModel, c *cache.Cache) (app.Queries, error) {
	if reads == nil {
		return app.Queries{}, errors.New("query: read model is required")
	}
	return app.Queries{
		Product:        &ProductHandler{reads: reads, cache: c},
		ListProducts:   &ListProductsHandler{reads: reads, cache: c},
		Customer:       &CustomerHandler{reads: reads, cache: c},
		Order:          &OrderHandler{reads: reads},
		CustomerOrders: &CustomerOrdersHandler{reads: reads, cache: c},
	}, nil
}

// cached reads key through c, or straight from the read model when nothing
// is cached (c is nil).
func cached[T any](ctx context.Context, c *cache.Cache, key cache.Key, load cache.Loader[T]) (T, app.CacheStatus, error) {
	if c == nil {
		v, _, err := load(ctx)
		return v, app.CacheMiss, err
	}
	return cache.GetOrLoad(ctx, c, key, load)
}

// cachedView is cached without decoding what the cache holds.
func cachedView[T any](ctx context.Context, c *cache.Cache, key cache.Key, load cache.Loader[T]) (app.View[T], app.CacheStatus, error) {
	if c == nil {
		v, version, err := load(ctx)
		return app.ViewOf(v, version), app.CacheMiss, err
	}
	return cache.GetOrLoadView(ctx, c, key, load)
}
