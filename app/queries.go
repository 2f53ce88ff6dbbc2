package app

import (
	"context"

	"github.com/orderflow/orderflow/domain"
)

// Paging of the product list (SPEC §3 "Lists").
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
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
	if len(q.Search) > 200 {
		v.Fields = append(v.Fields, domain.FieldError{Field: "search", Message: "must be at most 200 characters"})
	}
	if len(v.Fields) > 0 {
		return &v
	}
	return nil
}

// ProductHandler reads one product with its live stock.
type ProductHandler struct{ reads ReadModel }

// ByID returns the product with this id.
func (h *ProductHandler) ByID(ctx context.Context, id string) (Product, error) {
	return h.reads.Product(ctx, id)
}

// BySKU returns the product with this SKU, compared case-insensitively.
func (h *ProductHandler) BySKU(ctx context.Context, sku string) (Product, error) {
	return h.reads.ProductBySKU(ctx, sku)
}

// ListProductsHandler pages through the catalogue.
type ListProductsHandler struct{ reads ReadModel }

// Handle returns the asked page; a page past the end has no items.
func (h *ListProductsHandler) Handle(ctx context.Context, q ListProducts) (ProductPage, error) {
	if err := q.Validate(); err != nil {
		return ProductPage{}, err
	}
	return h.reads.ListProducts(ctx, q)
}

// CustomerHandler reads profiles.
type CustomerHandler struct{ reads ReadModel }

// Handle returns the customer's profile.
func (h *CustomerHandler) Handle(ctx context.Context, id string) (Customer, error) {
	return h.reads.Customer(ctx, id)
}

// OrderHandler reads orders.
type OrderHandler struct{ reads ReadModel }

// Handle returns the order with its lines.
func (h *OrderHandler) Handle(ctx context.Context, id string) (Order, error) {
	return h.reads.Order(ctx, id)
}

// CustomerOrdersHandler lists a customer's orders.
type CustomerOrdersHandler struct{ reads ReadModel }

// Handle returns the customer's newest order summaries, newest first.
func (h *CustomerOrdersHandler) Handle(ctx context.Context, customerID string) (CustomerOrders, error) {
	return h.reads.CustomerOrders(ctx, customerID, CustomerOrdersLimit)
}
