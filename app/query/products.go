package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
)

// ProductReads is what reading one product needs.
type ProductReads interface {
	Product(ctx context.Context, id string) (app.Product, error)
	ProductBySKU(ctx context.Context, sku string) (app.Product, error)
	// ProductStock reads a product's live stock level and aggregate version.
	ProductStock(ctx context.Context, id string) (app.StockLevel, error)
}

// ProductHandler reads one product: its details cache-aside, its stock level
// and version live (or, with a stock TTL, from a short-lived stock entry).
type ProductHandler struct {
	reads ProductReads
	cache *cache.Cache
}

// ByID returns the product with this id.
func (h *ProductHandler) ByID(ctx context.Context, id string) (app.Product, app.CacheStatus, error) {
	details, status, err := cached(ctx, h.cache, cache.ProductKey(id), LoadProductDetails(h.reads, id))
	if err != nil {
		return app.Product{}, "", err
	}
	return h.withLiveStock(ctx, details, status)
}

// BySKU returns the product with this SKU, compared case-insensitively.
func (h *ProductHandler) BySKU(ctx context.Context, sku string) (app.Product, app.CacheStatus, error) {
	details, status, err := cached(ctx, h.cache, cache.ProductSKUKey(sku), LoadProductDetailsBySKU(h.reads, sku))
	if err != nil {
		return app.Product{}, "", err
	}
	return h.withLiveStock(ctx, details, status)
}

// withLiveStock adds the stock level and version: live, or with a stock TTL
// from the stock entry, which every stock event evicts. When PostgreSQL is
// down, cached details are still served, marked stale and without stock:
// stock is never served stale.
func (h *ProductHandler) withLiveStock(ctx context.Context, p app.Product, status app.CacheStatus) (app.Product, app.CacheStatus, error) {
	stock, err := h.stock(ctx, p.ID)
	switch {
	case err == nil:
		p.StockLevel, p.Version = &stock.Level, stock.Version
		return p, status, nil
	case errors.Is(err, app.ErrUnavailable) && (status == app.CacheHit || status == app.CacheStale):
		p.StockLevel = nil
		return p, app.CacheStale, nil
	default:
		return app.Product{}, "", err
	}
}

// stock reads a product's stock level and version: live, unless the
// deployment set a stock TTL, in which case a burst of reads shares one
// load per product and TTL (version-fenced, evicted by every stock event,
// with stampede protection).
func (h *ProductHandler) stock(ctx context.Context, id string) (app.StockLevel, error) {
	if h.cache == nil || h.cache.StockTTL() == 0 {
		return h.reads.ProductStock(ctx, id)
	}
	stock, status, err := cache.GetOrLoad(ctx, h.cache, cache.StockKey(id), LoadStock(h.reads, id))
	if err == nil && status == app.CacheStale {
		// The tombstone's old level, served because the load failed: stock
		// is never served stale.
		return app.StockLevel{}, fmt.Errorf("stock of product %s: %w", id, app.ErrUnavailable)
	}
	return stock, err
}

// StockReads is what loading a product's stock level needs.
type StockReads interface {
	ProductStock(ctx context.Context, id string) (app.StockLevel, error)
}

// LoadStock reads a product's stock level, fenced by the aggregate version
// read in the same row.
func LoadStock(reads StockReads, id string) cache.Loader[app.StockLevel] {
	return func(ctx context.Context) (app.StockLevel, int64, error) {
		s, err := reads.ProductStock(ctx, id)
		return s, s.Version, err
	}
}

// ProductDetailsReads is what loading a product's cached details needs.
type ProductDetailsReads interface {
	Product(ctx context.Context, id string) (app.Product, error)
}

// ProductBySKUReads is what loading a product's cached details by SKU needs.
type ProductBySKUReads interface {
	ProductBySKU(ctx context.Context, sku string) (app.Product, error)
}

// The loaders read a cached read model and the version that fences it from
// the read tables. Queries (cache-aside) and the projectors' refresh after
// an event share them, so both write the same values.

// LoadProductDetails reads a product's details: the stock is stripped, since
// details are cached without it, fenced by the aggregate version read with them.
func LoadProductDetails(reads ProductDetailsReads, id string) cache.Loader[app.Product] {
	return func(ctx context.Context) (app.Product, int64, error) {
		p, err := reads.Product(ctx, id)
		p.StockLevel = nil
		return p, p.Version, err
	}
}

// LoadProductDetailsBySKU is LoadProductDetails for a product found by SKU.
func LoadProductDetailsBySKU(reads ProductBySKUReads, sku string) cache.Loader[app.Product] {
	return func(ctx context.Context) (app.Product, int64, error) {
		p, err := reads.ProductBySKU(ctx, sku)
		p.StockLevel = nil
		return p, p.Version, err
	}
}
