package app

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// Store runs commands against the event store. Implemented by adapters/postgres.
type Store interface {
	// Update runs fn in one transaction and commits when fn returns nil. When
	// a concurrent writer appended first it returns an error matching
	// ErrConflict and writes nothing, so the caller may run it again.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
}

// Tx is one transaction of the event store. Loads lock what they load, so a
// command that loads an aggregate is serialised with others on it rather
// than failed.
type Tx interface {
	// LoadProducts loads and locks the products, in id order so that
	// concurrent orders never deadlock. A missing one is a *NotFoundError.
	LoadProducts(ctx context.Context, ids ...string) (map[string]*domain.Product, error)
	// LoadCustomer loads a customer without locking it.
	LoadCustomer(ctx context.Context, id string) (*domain.Customer, error)
	// LoadOrder loads and locks an order.
	LoadOrder(ctx context.Context, id string) (*domain.Order, error)
	// Save appends every aggregate's pending events at its expected version,
	// with the metadata of ctx, and updates the read tables. A product whose
	// SKU or a customer whose e-mail is taken fails with ErrDuplicateSKU or
	// ErrDuplicateEmail. It returns the composite versions it bumped.
	Save(ctx context.Context, aggregates ...domain.Aggregate) (Written, error)
	// ClaimIdempotencyKey reserves key for this transaction. It returns the
	// stored order when the same request already ran, ErrIdempotencyInFlight
	// when it is running now, and ErrIdempotencyKeyReused when the key came
	// with another request.
	ClaimIdempotencyKey(ctx context.Context, key IdempotencyKey) (*Order, error)
	// RememberIdempotentOrder stores the answer to a claimed key.
	RememberIdempotentOrder(ctx context.Context, key IdempotencyKey, order Order) error

	ReadModel
}

// Written is what a Save changed beyond the aggregates themselves: the
// versions of the composite read models it bumped, which fence their caches.
type Written struct {
	// At is when the events were recorded (their occurred-at).
	At time.Time
	// CatalogVersion is the catalogue's new version, 0 when unchanged.
	CatalogVersion int64
	// CustomerOrdersVersions maps each customer whose orders changed to the
	// new version of their order summaries.
	CustomerOrdersVersions map[string]int64
}

// IdempotencyKey is a client's key, scoped to the caller, with a fingerprint
// of the request it came with.
type IdempotencyKey struct {
	Scope       string
	Key         string
	RequestHash string
}

// ReadModel answers queries from the read tables.
type ReadModel interface {
	Product(ctx context.Context, id string) (Product, error)
	ProductBySKU(ctx context.Context, sku string) (Product, error)
	ListProducts(ctx context.Context, q ListProducts) (ProductPage, error)
	Customer(ctx context.Context, id string) (Customer, error)
	Order(ctx context.Context, id string) (Order, error)
	// CustomerOrders is a *NotFoundError for an unknown customer.
	CustomerOrders(ctx context.Context, customerID string, limit int) (CustomerOrders, error)

	// OrderCustomer names the customer who placed an order.
	OrderCustomer(ctx context.Context, orderID string) (string, error)
	// ProductStock reads a product's live stock level and aggregate version.
	ProductStock(ctx context.Context, id string) (StockLevel, error)
	// CatalogVersion is the version of the catalogue as a whole, bumped by
	// every product change but stock.
	CatalogVersion(ctx context.Context) (int64, error)
	// CustomerOrdersVersion is the version of a customer's order summaries;
	// a *NotFoundError for an unknown customer.
	CustomerOrdersVersion(ctx context.Context, customerID string) (int64, error)
}

// StockLevel is a product's live stock and aggregate version (stock events included).
type StockLevel struct {
	Level   int64
	Version int64
}
