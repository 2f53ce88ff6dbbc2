package app

import "context"

// Application is what transports hold: every command and query handler.
// The handlers live in app/command and app/query; a transport sees only
// these interfaces, so it never depends on how a use case is carried out.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Handler carries out one kind of request.
type Handler[Request, Result any] interface {
	Handle(ctx context.Context, r Request) (Result, error)
}

// Commands change state through the event store.
type Commands struct {
	CreateProduct        Handler[CreateProduct, Product]
	ChangeProductDetails Handler[ChangeProductDetails, Product]
	ChangeProductPrice   Handler[ChangeProductPrice, Product]
	RestockProduct       Handler[RestockProduct, Product]
	RegisterCustomer     Handler[RegisterCustomer, Customer]
	UpdateCustomer       Handler[UpdateCustomer, Customer]
	PlaceOrder           Handler[PlaceOrder, PlacedOrder]
	PayOrder             Handler[OrderTransition, Order]
	ShipOrder            Handler[OrderTransition, Order]
	CancelOrder          Handler[OrderTransition, Order]
}

// ViewHandler answers a read from a read model that may be cached; the
// status says how it was served.
type ViewHandler[Request, Result any] interface {
	Handle(ctx context.Context, r Request) (View[Result], CacheStatus, error)
}

// ProductQuery reads one product, by id or by SKU.
type ProductQuery interface {
	ByID(ctx context.Context, id string) (Product, CacheStatus, error)
	BySKU(ctx context.Context, sku string) (Product, CacheStatus, error)
}

// Queries answer reads.
type Queries struct {
	Product        ProductQuery
	ListProducts   ViewHandler[ListProducts, ProductPage]
	Customer       ViewHandler[string, Customer]
	Order          Handler[string, Order]
	CustomerOrders ViewHandler[string, CustomerOrders]
}

// CacheStatus says how a read was served (the X-Cache header).
type CacheStatus string

// How a read was served.
const (
	// CacheHit is a read answered from the cache.
	CacheHit CacheStatus = "HIT"
	// CacheMiss is a read loaded from the read tables (and cached).
	CacheMiss CacheStatus = "MISS"
	// CacheStale is a cached copy served while the read tables were unreachable.
	CacheStale CacheStatus = "STALE"
	// CacheHitNear is a read that asked for bounded staleness
	// (Cache-Control: max-stale) answered from the in-process near cache
	// without asking Redis; its age is reported with it (ReadOptions).
	CacheHitNear CacheStatus = "HIT-L1"
	// CacheBypass is a read the cache does not keep.
	CacheBypass CacheStatus = "BYPASS"
)
