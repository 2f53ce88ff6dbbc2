package app

import (
	"encoding/json"
	"fmt"
	"time"
)

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

// View is a read model as a query answers it: the value, or the JSON the
// cache holds it in, decoded only when asked. A transport that answers in
// JSON sends cached bytes on as they are, so a cache hit costs no decoding
// and no encoding; an in-process caller reads Value.
type View[T any] struct {
	value   T
	json    []byte
	version int64
}

// ViewOf is a view of a value at version.
func ViewOf[T any](v T, version int64) View[T] { return View[T]{value: v, version: version} }

// ViewOfJSON is a view of a value in its JSON form at version.
func ViewOfJSON[T any](data []byte, version int64) View[T] {
	return View[T]{json: data, version: version}
}

// Value returns the read model, decoding it if it is held as JSON.
func (v View[T]) Value() (T, error) {
	if v.json == nil {
		return v.value, nil
	}
	var out T
	if err := json.Unmarshal(v.json, &out); err != nil {
		return out, fmt.Errorf("decode view: %w", err)
	}
	return out, nil
}

// JSON returns the read model's JSON representation, encoding it if it is
// held as a value.
func (v View[T]) JSON() ([]byte, error) {
	if v.json != nil {
		return v.json, nil
	}
	return json.Marshal(v.value)
}

// Version is the version that fences the read model (0 when it has none).
func (v View[T]) Version() int64 { return v.version }
