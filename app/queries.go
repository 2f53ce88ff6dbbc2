package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/orderflow/orderflow/domain"
)

// Paging of the product list (docs/guarantees.md, "Lists").
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
	// MaxSearchLength bounds the list's search text, in characters.
	MaxSearchLength = 200
	// CustomerOrdersLimit caps a customer's order summaries to the newest ones.
	CustomerOrdersLimit = 100
)

// ListProducts asks for one page of the catalogue, optionally filtered by a
// case-insensitive substring of the name or SKU.
type ListProducts struct {
	Page     int
	PageSize int
	Search   string
}

// Validate checks paging; zero values take the defaults.
func (q *ListProducts) Validate() error {
	var v domain.ValidationError
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PageSize == 0 {
		q.PageSize = DefaultPageSize
	}
	if q.Page < 1 {
		v.Fields = append(v.Fields, domain.FieldError{Field: "page", Message: "must be a positive integer"})
	}
	if q.PageSize < 1 || q.PageSize > MaxPageSize {
		v.Fields = append(v.Fields, domain.FieldError{Field: "pageSize", Message: "must be an integer from 1 to 100"})
	}
	if utf8.RuneCountInString(q.Search) > MaxSearchLength {
		v.Fields = append(v.Fields, domain.FieldError{Field: "search", Message: fmt.Sprintf("must be at most %d characters", MaxSearchLength)})
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// cached reads key through c, or straight from the read model when nothing
// is cached (c is nil).
func cached[T any](ctx context.Context, c *Cache, key CacheKey, load Loader[T]) (T, CacheStatus, error) {
	if c == nil {
		v, _, err := load(ctx)
		return v, CacheMiss, err
	}
	return GetOrLoad(ctx, c, key, load)
}

// cachedEncoded is cached for a transport that sends the JSON on as it is.
func cachedEncoded[T any](ctx context.Context, c *Cache, key CacheKey, load Loader[T]) (Encoded, CacheStatus, error) {
	if c == nil {
		data, version, err := encodeLoader(load)(ctx)
		return Encoded{JSON: data, Version: version}, CacheMiss, err
	}
	return GetOrLoadEncoded(ctx, c, key, load)
}

// ProductHandler reads one product: its details cache-aside, its stock level
// and version live.
type ProductHandler struct {
	reads ReadModel
	cache *Cache
}

// ByID returns the product with this id.
func (h *ProductHandler) ByID(ctx context.Context, id string) (Product, CacheStatus, error) {
	details, status, err := cached(ctx, h.cache, ProductKey(id), loadProductDetails(h.reads, id))
	if err != nil {
		return Product{}, "", err
	}
	return h.withLiveStock(ctx, details, status)
}

// BySKU returns the product with this SKU, compared case-insensitively.
func (h *ProductHandler) BySKU(ctx context.Context, sku string) (Product, CacheStatus, error) {
	details, status, err := cached(ctx, h.cache, ProductSKUKey(sku), loadProductDetailsBySKU(h.reads, sku))
	if err != nil {
		return Product{}, "", err
	}
	return h.withLiveStock(ctx, details, status)
}

// withLiveStock adds the live stock level and version. When PostgreSQL is
// down, cached details are still served, marked stale and without stock:
// stock is never served stale.
func (h *ProductHandler) withLiveStock(ctx context.Context, p Product, status CacheStatus) (Product, CacheStatus, error) {
	stock, err := h.reads.ProductStock(ctx, p.ID)
	switch {
	case err == nil:
		p.StockLevel, p.Version = &stock.Level, stock.Version
		return p, status, nil
	case errors.Is(err, ErrUnavailable) && (status == CacheHit || status == CacheStale):
		p.StockLevel = nil
		return p, CacheStale, nil
	default:
		return Product{}, "", err
	}
}

// ListProductsHandler pages through the catalogue.
type ListProductsHandler struct {
	reads ReadModel
	cache *Cache
}

// Handle returns the asked page; a page past the end has no items. Only
// page one with the default size and no search is cached.
func (h *ListProductsHandler) Handle(ctx context.Context, q ListProducts) (ProductPage, CacheStatus, error) {
	if err := q.Validate(); err != nil {
		return ProductPage{}, "", err
	}
	if q.Page != 1 || q.PageSize != DefaultPageSize || q.Search != "" {
		page, err := h.reads.ListProducts(ctx, q)
		return page, CacheBypass, err
	}
	return cached(ctx, h.cache, ProductListKey(), loadProductList(h.reads))
}

// Encoded is Handle in JSON, for transports: page one is answered as the
// cache holds it; other pages are encoded from the read tables.
func (h *ListProductsHandler) Encoded(ctx context.Context, q ListProducts) (Encoded, CacheStatus, error) {
	if err := q.Validate(); err != nil {
		return Encoded{}, "", err
	}
	if q.Page != 1 || q.PageSize != DefaultPageSize || q.Search != "" {
		page, err := h.reads.ListProducts(ctx, q)
		if err != nil {
			return Encoded{}, "", err
		}
		data, err := json.Marshal(page.normalized())
		return Encoded{JSON: data}, CacheBypass, err
	}
	return cachedEncoded(ctx, h.cache, ProductListKey(), loadProductList(h.reads))
}

// CustomerHandler reads profiles, cache-aside.
type CustomerHandler struct {
	reads ReadModel
	cache *Cache
}

// Handle returns the customer's profile.
func (h *CustomerHandler) Handle(ctx context.Context, id string) (Customer, CacheStatus, error) {
	if err := authorizeCustomer(ctx, id); err != nil {
		return Customer{}, "", err
	}
	return cached(ctx, h.cache, CustomerKey(id), loadCustomer(h.reads, id))
}

// Encoded is Handle in JSON, as the cache holds it; Version is the customer's.
func (h *CustomerHandler) Encoded(ctx context.Context, id string) (Encoded, CacheStatus, error) {
	if err := authorizeCustomer(ctx, id); err != nil {
		return Encoded{}, "", err
	}
	return cachedEncoded(ctx, h.cache, CustomerKey(id), loadCustomer(h.reads, id))
}

// OrderHandler reads orders; they are never cached.
type OrderHandler struct{ reads ReadModel }

// Handle returns the order with its lines.
func (h *OrderHandler) Handle(ctx context.Context, id string) (Order, error) {
	o, err := h.reads.Order(ctx, id)
	if err := authorizeOrder(ctx, o.CustomerID, err); err != nil {
		return Order{}, err
	}
	return o, nil
}

// CustomerOrdersHandler lists a customer's orders, cache-aside.
type CustomerOrdersHandler struct {
	reads ReadModel
	cache *Cache
}

// Handle returns the customer's newest order summaries, newest first.
func (h *CustomerOrdersHandler) Handle(ctx context.Context, customerID string) (CustomerOrders, CacheStatus, error) {
	if err := authorizeCustomer(ctx, customerID); err != nil {
		return CustomerOrders{}, "", err
	}
	return cached(ctx, h.cache, CustomerOrdersKey(customerID), loadCustomerOrders(h.reads, customerID))
}

// Encoded is Handle in JSON, as the cache holds it.
func (h *CustomerOrdersHandler) Encoded(ctx context.Context, customerID string) (Encoded, CacheStatus, error) {
	if err := authorizeCustomer(ctx, customerID); err != nil {
		return Encoded{}, "", err
	}
	return cachedEncoded(ctx, h.cache, CustomerOrdersKey(customerID), loadCustomerOrders(h.reads, customerID))
}
