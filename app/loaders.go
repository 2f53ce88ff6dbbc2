package app

import "context"

// Loaders read a cached read model and the version that fences it from the
// read tables. The query handlers (cache-aside) and the projector (refresh
// after an event) share them, so both write the same values.

// loadProductDetails reads a product's details: the stock is stripped, since
// details are cached without it, fenced by the aggregate version read with them.
func loadProductDetails(reads ReadModel, id string) Loader[Product] {
	return func(ctx context.Context) (Product, int64, error) {
		p, err := reads.Product(ctx, id)
		p.StockLevel = nil
		return p, p.Version, err
	}
}

func loadProductDetailsBySKU(reads ReadModel, sku string) Loader[Product] {
	return func(ctx context.Context) (Product, int64, error) {
		p, err := reads.ProductBySKU(ctx, sku)
		p.StockLevel = nil
		return p, p.Version, err
	}
}

// loadProductList reads page one of the catalogue. The version is read
// first: a page newer than its version is merely evicted early, while a
// version newer than its page would let a stale page be cached.
func loadProductList(reads ReadModel) Loader[ProductPage] {
	return func(ctx context.Context) (ProductPage, int64, error) {
		version, err := reads.CatalogVersion(ctx)
		if err != nil {
			return ProductPage{}, 0, err
		}
		page, err := reads.ListProducts(ctx, ListProducts{Page: 1, PageSize: DefaultPageSize})
		return page.normalized(), version, err
	}
}

func loadCustomer(reads ReadModel, id string) Loader[Customer] {
	return func(ctx context.Context) (Customer, int64, error) {
		c, err := reads.Customer(ctx, id)
		c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
		return c, c.Version, err
	}
}

// loadCustomerOrders reads a customer's order summaries, version first (see
// loadProductList).
func loadCustomerOrders(reads ReadModel, customerID string) Loader[CustomerOrders] {
	return func(ctx context.Context) (CustomerOrders, int64, error) {
		version, err := reads.CustomerOrdersVersion(ctx, customerID)
		if err != nil {
			return CustomerOrders{}, 0, err
		}
		orders, err := reads.CustomerOrders(ctx, customerID, CustomerOrdersLimit)
		return orders.normalized(), version, err
	}
}

// normalized renders timestamps in UTC and no items as [], not null: the
// form the representation is cached and answered in.
func (p ProductPage) normalized() ProductPage {
	items := make([]ProductListItem, len(p.Items))
	for i, it := range p.Items {
		it.CreatedAt, it.UpdatedAt = it.CreatedAt.UTC(), it.UpdatedAt.UTC()
		items[i] = it
	}
	p.Items = items
	return p
}

// normalized renders timestamps in UTC and no orders as [], not null.
func (o CustomerOrders) normalized() CustomerOrders {
	items := make([]OrderSummary, len(o.Items))
	for i, it := range o.Items {
		it.PlacedAt = it.PlacedAt.UTC()
		items[i] = it
	}
	o.Items = items
	return o
}
