package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/query"
)

// Refresher rewrites cached read models from the read tables after an event,
// fenced by version: the projector's guaranteed path. Because it always
// reads the read tables, which the appending transaction keeps equal to the
// log, a duplicate, a redelivery, a claim out of order or a gap in the
// stream can only rewrite a value at its current version or be refused by
// the fence: nothing moves backwards.
type Refresher struct {
	reads app.ReadModel
	cache *cache.Cache
}

// NewRefresher returns a refresher writing to cache.
func NewRefresher(reads app.ReadModel, cache *cache.Cache) (*Refresher, error) {
	if reads == nil || cache == nil {
		return nil, errors.New("refresher: read model and cache are required")
	}
	return &Refresher{reads: reads, cache: cache}, nil
}

// refresh loads a read model and writes it fenced by its version.
func refresh[T any](ctx context.Context, c *cache.Cache, key cache.Key, load cache.Loader[T]) (T, error) {
	v, version, err := load(ctx)
	if err != nil {
		return v, err
	}
	if _, err := cache.Set(ctx, c, key, version, v); err != nil {
		return v, fmt.Errorf("write %s: %w", key.Name, err)
	}
	return v, nil
}

// app.Product rewrites a product's details under its id and its SKU.
func (r *Refresher) Product(ctx context.Context, id string) error {
	p, err := refresh(ctx, r.cache, cache.ProductKey(id), query.LoadProductDetails(r.reads, id))
	if err != nil {
		return err
	}
	_, err = refresh(ctx, r.cache, cache.ProductSKUKey(p.SKU), query.LoadProductDetailsBySKU(r.reads, p.SKU))
	return err
}

// EvictStock tombstones a product's stock entry at the version an event
// reached; an entry already at that version or newer stays.
func (r *Refresher) EvictStock(ctx context.Context, id string, version int64) error {
	if err := r.cache.Tombstone(ctx, cache.StockKey(id), version); err != nil {
		return fmt.Errorf("evict %s: %w", cache.StockKey(id).Name, err)
	}
	return nil
}

// Catalogue rewrites page one of the list and evicts the output-cache tag
// of the public catalogue.
func (r *Refresher) Catalogue(ctx context.Context) error {
	if _, err := refresh(ctx, r.cache, cache.ProductListKey(), query.LoadProductList(r.reads)); err != nil {
		return err
	}
	return r.cache.BumpTag(ctx, cache.ProductsTag)
}

// app.Customer rewrites a customer's profile.
func (r *Refresher) Customer(ctx context.Context, id string) error {
	_, err := refresh(ctx, r.cache, cache.CustomerKey(id), query.LoadCustomer(r.reads, id))
	return err
}

// app.CustomerOrders rewrites a customer's order summaries.
func (r *Refresher) CustomerOrders(ctx context.Context, customerID string) error {
	_, err := refresh(ctx, r.cache, cache.CustomerOrdersKey(customerID), query.LoadCustomerOrders(r.reads, customerID))
	return err
}

// OrderCustomer names the customer who placed an order.
func (r *Refresher) OrderCustomer(ctx context.Context, orderID string) (string, error) {
	return r.reads.OrderCustomer(ctx, orderID)
}
