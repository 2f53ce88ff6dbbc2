package app

import "time"

// The representations of docs/guarantees.md ("Representations"), as every
// transport and cache sees them.

// Product is a product's details with its live stock level; StockLevel is nil
// when stock could not be read live.
type Product struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"priceCents"`
	Currency    string    `json:"currency"`
	StockLevel  *int64    `json:"stockLevel"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// ProductListItem is a product as lists show it: no stock, and Version is
// the aggregate version of its last catalogue change (creation, details,
// price), since stock moves leave lists untouched. The product's own
// representation carries the live aggregate version.
type ProductListItem struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	PriceCents  int64     `json:"priceCents"`
	Currency    string    `json:"currency"`
	Version     int64     `json:"version"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// ProductPage is one page of the catalogue, ordered by name then id.
type ProductPage struct {
	Items      []ProductListItem `json:"items"`
	Page       int               `json:"page"`
	PageSize   int               `json:"pageSize"`
	TotalCount int64             `json:"totalCount"`
}

// Customer is a customer's profile.
type Customer struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// OrderLine is one line of an order, priced at placement.
type OrderLine struct {
	ProductID      string `json:"productId"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
	LineTotalCents int64  `json:"lineTotalCents"`
}

// Order is an order with its lines and totals.
type Order struct {
	ID         string      `json:"id"`
	CustomerID string      `json:"customerId"`
	Status     string      `json:"status"`
	Lines      []OrderLine `json:"lines"`
	TotalCents int64       `json:"totalCents"`
	Currency   string      `json:"currency"`
	Version    int64       `json:"version"`
	PlacedAt   time.Time   `json:"placedAt"`
	UpdatedAt  time.Time   `json:"updatedAt"`
}

// OrderSummary is an order as a customer's order list shows it.
type OrderSummary struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	TotalCents int64     `json:"totalCents"`
	Currency   string    `json:"currency"`
	ItemCount  int64     `json:"itemCount"`
	PlacedAt   time.Time `json:"placedAt"`
}

// CustomerOrders is a customer's order summaries, newest first.
type CustomerOrders struct {
	Items []OrderSummary `json:"items"`
}
