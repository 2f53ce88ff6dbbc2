package app

import "github.com/orderflow/orderflow/domain"

// The commands' intents: what a transport asks of app/command.

// CreateProduct asks for a new catalogue item.
type CreateProduct struct {
	SKU          string
	Name         string
	Description  string
	PriceCents   int64
	Currency     string
	InitialStock int64
}

// ChangeProductDetails sets a product's name and description; nil keeps a field.
type ChangeProductDetails struct {
	ProductID   string
	Name        *string
	Description *string
}

// ChangeProductPrice sets a product's price, in its currency's minor units.
type ChangeProductPrice struct {
	ProductID  string
	PriceCents int64
}

// RestockProduct adds units to a product's stock.
type RestockProduct struct {
	ProductID string
	Quantity  int64
}

// RegisterCustomer asks for a new customer.
type RegisterCustomer struct {
	Email string
	Name  string
}

// UpdateCustomer sets a customer's e-mail and name; nil keeps a field.
type UpdateCustomer struct {
	CustomerID string
	Email      *string
	Name       *string
}

// PlaceOrder asks for an order of one or more products for a customer.
type PlaceOrder struct {
	CustomerID string
	Lines      []domain.LineRequest
	// IdempotencyKey, when set, makes a repeat of this request answer the
	// first one's order instead of placing another. It is scoped to Caller.
	IdempotencyKey string
	Caller         string
}

// PlacedOrder is the answer to PlaceOrder; Replayed tells that an earlier
// request with the same idempotency key placed it.
type PlacedOrder struct {
	Order    Order
	Replayed bool
}

// OrderTransition names the order to pay, ship or cancel.
type OrderTransition struct {
	OrderID string
}
