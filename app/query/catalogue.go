package query

import (
	"context"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// CatalogueReads is what paging through the catalogue needs.
type CatalogueReads interface {
	ListProducts(ctx context.Context, q app.ListProducts) (app.ProductPage, error)
	// CatalogVersion is the version of the catalogue as a whole, bumped by
	// every product change but stock.
	CatalogVersion(ctx context.Context) (int64, error)
}

// ListProductsHandler pages through the catalogue.
type ListProductsHandler struct {
	reads CatalogueReads
	cache *cache.Cache
}

// Handle returns the asked page; a page past the end has no items. Only
// page one with the default size and no search is cached, and answered as
// the cache holds it; other pages come from the read tables.
func (h *ListProductsHandler) Handle(ctx context.Context, q app.ListProducts) (app.View[app.ProductPage], app.CacheStatus, error) {
	if err := q.Validate(); err != nil {
		return app.View[app.ProductPage]{}, "", err
	}
	if q.Page != 1 || q.PageSize != app.DefaultPageSize || q.Search != "" {
		page, err := h.reads.ListProducts(ctx, q)
		if err != nil {
			return app.View[app.ProductPage]{}, "", err
		}
		return app.ViewOf(normalizedPage(page), 0), app.CacheBypass, nil
	}
	return cachedView(ctx, h.cache, cache.ProductListKey(), LoadProductList(h.reads))
}

// LoadProductList reads page one of the catalogue. The version is read
// first: a page newer than its version is merely evicted early, while a
// version newer than its page would let a stale page be cached.
func LoadProductList(reads CatalogueReads) cache.Loader[app.ProductPage] {
	return func(ctx context.Context) (app.ProductPage, int64, error) {
		version, err := reads.CatalogVersion(ctx)
		if err != nil {
			return app.ProductPage{}, 0, err
		}
		page, err := reads.ListProducts(ctx, app.ListProducts{Page: 1, PageSize: app.DefaultPageSize})
		return normalizedPage(page), version, err
	}
}

// normalizedPage renders timestamps in UTC and no items as [], not null:
// the form the representation is cached and answered in.
func normalizedPage(p app.ProductPage) app.ProductPage {
	items := make([]app.ProductListItem, len(p.Items))
	for i, it := range p.Items {
		it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
		items[i] = it
	}
	p.Items = items
	return p
}
