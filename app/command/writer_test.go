package command

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/domain"
)

// fakeTx holds a few aggregates in memory. Its embedded Tx is nil: a
// command that reaches a method the test did not expect panics.
type fakeTx struct {
	app.Tx
	products  map[string]*domain.Product
	customers map[string]*domain.Customer
	orders    map[string]*domain.Order
	// written is what every Save reports having bumped.
	written app.Written
}

func (f *fakeTx) LoadProducts(_ context.Context, ids ...string) (map[string]*domain.Product, error) {
	out := map[string]*domain.Product{}
	for _, id := range ids {
		out[id] = f.products[id]
	}
	return out, nil
}

func (f *fakeTx) LoadCustomer(_ context.Context, id string) (*domain.Customer, error) {
	return f.customers[id], nil
}

func (f *fakeTx) LoadOrder(_ context.Context, id string) (*domain.Order, error) {
	return f.orders[id], nil
}

func (f *fakeTx) Save(_ context.Context, aggregates ...domain.Aggregate) (app.Written, error) {
	for _, a := range aggregates {
		a.MarkSaved()
	}
	return f.written, nil
}

func (f *fakeTx) Product(_ context.Context, id string) (app.Product, error) {
	return app.Product{ID: id}, nil
}

func (f *fakeTx) Customer(_ context.Context, id string) (app.Customer, error) {
	return app.Customer{ID: id}, nil
}

func (f *fakeTx) Order(_ context.Context, id string) (app.Order, error) {
	return app.Order{ID: id}, nil
}

// fakeStore runs every transaction once on its fakeTx.
type fakeStore struct{ tx *fakeTx }

func (s fakeStore) Update(ctx context.Context, fn func(context.Context, app.Tx) error) error {
	return fn(ctx, s.tx)
}

// evictions records what the writer evicts.
type evictions struct{ got []cache.Invalidation }

func (e *evictions) Invalidate(_ context.Context, stale []cache.Invalidation) {
	e.got = append(e.got, stale...)
}

// The writer evicts what the effects table says the saved events changed,
// at the versions they reached: a product's details and the catalogue on a
// catalogue change, nothing on a stock move unless stock is cached (then
// the product's stock entry on every product event), a profile on a
// profile change (none when nothing changed), a customer's summaries on an
// order event.
func TestWriterEvictsWhatTheEffectsTableSays(t *testing.T) {
	product := func() *domain.Product {
		return domain.RestoreProduct("p-1", 1, domain.ProductState{SKU: "Sku-1", Name: "One", PriceCents: 100, Currency: "EUR", Available: 5})
	}
	customer := func() *domain.Customer {
		return domain.RestoreCustomer("c-1", 1, domain.CustomerState{Email: "c@example.com", Name: "C"})
	}
	order := func() *domain.Order {
		return domain.RestoreOrder("o-1", 1, domain.OrderState{CustomerID: "c-1", Status: domain.OrderPlacedStatus, Currency: "EUR"})
	}
	same, renamed := "C", "Renamed"
	for _, tc := range []struct {
		name    string
		written app.Written
		// stock: the deployment caches stock (ORDERFLOW_STOCK_TTL > 0).
		stock bool
		run   func(ctx context.Context, w writer) error
		want  []cache.Invalidation
	}{
		{
			name:    "price change",
			written: app.Written{CatalogVersion: 8},
			run: func(ctx context.Context, w writer) error {
				_, err := (&ChangeProductPriceHandler{w: w}).Handle(ctx, app.ChangeProductPrice{ProductID: "p-1", PriceCents: 150})
				return err
			},
			want: []cache.Invalidation{
				{Key: cache.ProductKey("p-1"), Version: 2},
				{Key: cache.ProductSKUKey("Sku-1"), Version: 2},
				{Key: cache.ProductListKey(), Version: 8},
				{Tag: cache.ProductsTag},
			},
		},
		{
			name: "restock",
			run: func(ctx context.Context, w writer) error {
				_, err := (&RestockProductHandler{w: w}).Handle(ctx, app.RestockProduct{ProductID: "p-1", Quantity: 3})
				return err
			},
		},
		{
			name:  "restock with stock cached",
			stock: true,
			run: func(ctx context.Context, w writer) error {
				_, err := (&RestockProductHandler{w: w}).Handle(ctx, app.RestockProduct{ProductID: "p-1", Quantity: 3})
				return err
			},
			want: []cache.Invalidation{{Key: cache.StockKey("p-1"), Version: 2}},
		},
		{
			// The stock entry holds the aggregate version, which a price
			// change moves too.
			name:    "price change with stock cached",
			stock:   true,
			written: app.Written{CatalogVersion: 8},
			run: func(ctx context.Context, w writer) error {
				_, err := (&ChangeProductPriceHandler{w: w}).Handle(ctx, app.ChangeProductPrice{ProductID: "p-1", PriceCents: 150})
				return err
			},
			want: []cache.Invalidation{
				{Key: cache.ProductKey("p-1"), Version: 2},
				{Key: cache.ProductSKUKey("Sku-1"), Version: 2},
				{Key: cache.StockKey("p-1"), Version: 2},
				{Key: cache.ProductListKey(), Version: 8},
				{Tag: cache.ProductsTag},
			},
		},
		{
			name:    "order placement with stock cached",
			stock:   true,
			written: app.Written{CustomerOrdersVersions: map[string]int64{"c-1": 4}},
			run: func(ctx context.Context, w writer) error {
				_, err := (&PlaceOrderHandler{w: w}).Handle(ctx, app.PlaceOrder{CustomerID: "c-1", Lines: []domain.LineRequest{{ProductID: "p-1", Quantity: 2}}})
				return err
			},
			want: []cache.Invalidation{
				{Key: cache.StockKey("p-1"), Version: 2},
				{Key: cache.CustomerOrdersKey("c-1"), Version: 4},
			},
		},
		{
			name:    "order placement with stock live",
			written: app.Written{CustomerOrdersVersions: map[string]int64{"c-1": 4}},
			run: func(ctx context.Context, w writer) error {
				_, err := (&PlaceOrderHandler{w: w}).Handle(ctx, app.PlaceOrder{CustomerID: "c-1", Lines: []domain.LineRequest{{ProductID: "p-1", Quantity: 2}}})
				return err
			},
			want: []cache.Invalidation{{Key: cache.CustomerOrdersKey("c-1"), Version: 4}},
		},
		{
			name: "profile update",
			run: func(ctx context.Context, w writer) error {
				_, err := (&UpdateCustomerHandler{w: w}).Handle(ctx, app.UpdateCustomer{CustomerID: "c-1", Name: &renamed})
				return err
			},
			want: []cache.Invalidation{{Key: cache.CustomerKey("c-1"), Version: 2}},
		},
		{
			name: "profile update that changes nothing",
			run: func(ctx context.Context, w writer) error {
				_, err := (&UpdateCustomerHandler{w: w}).Handle(ctx, app.UpdateCustomer{CustomerID: "c-1", Name: &same})
				return err
			},
		},
		{
			name:    "payment",
			written: app.Written{CustomerOrdersVersions: map[string]int64{"c-1": 3}},
			run: func(ctx context.Context, w writer) error {
				_, err := (&OrderTransitionHandler{w: w, transition: payOrder}).Handle(ctx, app.OrderTransition{OrderID: "o-1"})
				return err
			},
			want: []cache.Invalidation{{Key: cache.CustomerOrdersKey("c-1"), Version: 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx := &fakeTx{
				products:  map[string]*domain.Product{"p-1": product()},
				customers: map[string]*domain.Customer{"c-1": customer()},
				orders:    map[string]*domain.Order{"o-1": order()},
				written:   tc.written,
			}
			evicted := &evictions{}
			w := writer{store: fakeStore{tx}, attempts: 1, invalidator: evicted, evictStock: tc.stock}
			if err := tc.run(context.Background(), w); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, evicted.got); diff != "" {
				t.Errorf("evicted (-want +got):\n%s", diff)
			}
		})
	}
}
