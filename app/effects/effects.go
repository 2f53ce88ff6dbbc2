package effects

// Effect is a set of things an event changes.
type Effect uint8

const (
	// ProductDetails is a product's details (name, description, price),
	// cached by id and by SKU. The product's details version follows them.
	ProductDetails Effect = 1 << iota
	// Catalogue is the catalogue as a whole: its version, page one of the
	// list and the output-cache tag of the public catalogue ("products").
	Catalogue
	// CustomerProfile is a customer's profile.
	CustomerProfile
	// CustomerOrders is the order summaries of the order's customer, and
	// their version.
	CustomerOrders
	// LiveStock is a product's stock level and aggregate version, which
	// every product event moves (a details change only the version). Both
	// are read live unless the deployment caches stock for a few seconds
	// (ORDERFLOW_STOCK_TTL); then the product's stock entry, which holds
	// both, is evicted.
	LiveStock
)

// Has reports whether e includes every effect of x.
func (e Effect) Has(x Effect) bool { return e&x == x }

// Of returns what an event of this type changes; 0 for a type the table
// lacks (a test keeps every event type of domain in it).
func Of(eventType string) Effect {
	switch eventType {
	case "ProductCreated":
		return ProductDetails | Catalogue | LiveStock
	case "ProductDetailsChanged":
		return ProductDetails | Catalogue | LiveStock
	case "ProductPriceChanged":
		return ProductDetails | Catalogue | LiveStock
	case "StockAdded":
		return LiveStock
	case "StockReserved":
		return LiveStock
	case "StockReleased":
		return LiveStock
	case "CustomerRegistered":
		return CustomerProfile
	case "CustomerProfileUpdated":
		return CustomerProfile
	case "OrderPlaced":
		return CustomerOrders
	case "OrderPaid":
		return CustomerOrders
	case "OrderShipped":
		return CustomerOrders
	case "OrderCancelled":
		return CustomerOrders
	}
	return 0
}
