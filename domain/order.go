package domain

import "fmt"

// OrderStatus is where an order stands: placed → paid → shipped, and placed
// or paid → cancelled.
type OrderStatus string

const (
	OrderPlacedStatus    OrderStatus = "placed"
	OrderPaidStatus      OrderStatus = "paid"
	OrderShippedStatus   OrderStatus = "shipped"
	OrderCancelledStatus OrderStatus = "cancelled"
)

// OrderLine is one product of an order, with the price captured at placement.
type OrderLine struct {
	ProductID      string `json:"productId"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
	// Currency is the unit price's currency: the order's, since every line
	// of an order shares it. Added in OrderPlaced schema 2; version 1 lines
	// are given the order's currency when they are read.
	Currency string `json:"currency"`
}

// TotalCents is the line's quantity times its captured unit price.
func (l OrderLine) TotalCents() int64 { return l.Quantity * l.UnitPriceCents }

// Order events.
type (
	OrderPlaced struct {
		CustomerID string      `json:"customerId"`
		Currency   string      `json:"currency"`
		Lines      []OrderLine `json:"lines"`
	}
	OrderPaid      struct{}
	OrderShipped   struct{}
	OrderCancelled struct{}
)

func (OrderPlaced) EventName() string    { return "OrderPlaced" }
func (OrderPaid) EventName() string      { return "OrderPaid" }
func (OrderShipped) EventName() string   { return "OrderShipped" }
func (OrderCancelled) EventName() string { return "OrderCancelled" }

// OrderStateSchema is the version of OrderState's shape as stored in a
// snapshot. Bump it whenever that shape changes: a snapshot of another
// version is then ignored and the aggregate folded from its events.
//
// Version 2: lines carry their currency.
const OrderStateSchema = 2

// OrderState is an order's whole state, as kept in a snapshot.
type OrderState struct {
	CustomerID string      `json:"customerId"`
	Status     OrderStatus `json:"status"`
	Currency   string      `json:"currency"`
	Lines      []OrderLine `json:"lines"`
}

// TotalCents sums the lines' totals.
func (s OrderState) TotalCents() int64 {
	var total int64
	for _, l := range s.Lines {
		total += l.TotalCents()
	}
	return total
}

// ItemCount is the number of units ordered, the sum of the quantities.
func (s OrderState) ItemCount() int64 {
	var n int64
	for _, l := range s.Lines {
		n += l.Quantity
	}
	return n
}

// Order is a customer's purchase of one or more products.
type Order struct {
	root
	state OrderState
}

func (*Order) AggregateType() string { return OrderAggregate }

// State returns a copy of the order's state; its lines are shared, not copied.
func (o *Order) State() OrderState { return o.state }

// RestoreOrder rebuilds an order from a snapshot taken at version.
func RestoreOrder(id string, version int64, s OrderState) *Order {
	return &Order{root: root{id: id, version: version}, state: s}
}

// LoadOrder rebuilds an order by applying its stored events in order,
// starting from base (nil for the empty order).
func LoadOrder(id string, base *Order, events []Event) *Order {
	o := base
	if o == nil {
		o = &Order{root: root{id: id}}
	}
	o.replay(o.apply, events)
	return o
}

// LineRequest is one line as a customer asks for it.
type LineRequest struct {
	ProductID string
	Quantity  int64
}

// CheckLines validates an order's lines before any product is loaded: 1 to
// 100 lines, one per product, quantities 1 to 10,000.
func CheckLines(lines []LineRequest) error {
	var v ValidationError
	if len(lines) == 0 || len(lines) > MaxOrderLines {
		v.add("lines", "must hold 1 to %d lines", MaxOrderLines)
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		if l.Quantity < 1 || l.Quantity > MaxLineQuantity {
			v.add(fmt.Sprintf("lines[%d].quantity", i), "must be between 1 and %d", MaxLineQuantity)
		}
		if seen[l.ProductID] {
			v.add(fmt.Sprintf("lines[%d].productId", i), "each product may appear on one line only")
		}
		seen[l.ProductID] = true
	}
	return v.errOrNil()
}

// PlaceOrder creates an order for customerID and reserves its stock on every
// product, capturing the products' current prices. It is all or nothing: on
// an error no aggregate may be saved. products must hold every line's product.
func PlaceOrder(id, customerID string, lines []LineRequest, products map[string]*Product) (*Order, error) {
	if err := CheckLines(lines); err != nil {
		return nil, err
	}
	placed := OrderPlaced{CustomerID: customerID, Lines: make([]OrderLine, 0, len(lines))}
	var v ValidationError
	for i, l := range lines {
		p, ok := products[l.ProductID]
		if !ok {
			return nil, fmt.Errorf("place order: product %s not loaded", l.ProductID)
		}
		s := p.state
		if placed.Currency == "" {
			placed.Currency = s.Currency
		} else if s.Currency != placed.Currency {
			v.add(fmt.Sprintf("lines[%d].productId", i), "is priced in %s, the order in %s: all products must share one currency", s.Currency, placed.Currency)
		}
		placed.Lines = append(placed.Lines, OrderLine{ProductID: l.ProductID, SKU: s.SKU, Name: s.Name, Quantity: l.Quantity, UnitPriceCents: s.PriceCents, Currency: s.Currency})
	}
	if err := v.errOrNil(); err != nil {
		return nil, err
	}
	// Check every line before reserving any, so a refused order leaves the
	// products untouched (each product is on one line only).
	for _, l := range lines {
		if p := products[l.ProductID]; l.Quantity > p.state.Available {
			return nil, &InsufficientStockError{ProductID: p.id, Requested: l.Quantity, Available: p.state.Available}
		}
	}
	for _, l := range lines {
		products[l.ProductID].reserve(id, l.Quantity)
	}
	o := &Order{root: root{id: id}}
	o.record(o.apply, placed)
	return o, nil
}

// Pay moves a placed order to paid.
func (o *Order) Pay() error {
	if o.state.Status != OrderPlacedStatus {
		return &IllegalTransitionError{From: o.state.Status, Action: "pay"}
	}
	o.record(o.apply, OrderPaid{})
	return nil
}

// Ship moves a paid order to shipped.
func (o *Order) Ship() error {
	if o.state.Status != OrderPaidStatus {
		return &IllegalTransitionError{From: o.state.Status, Action: "ship"}
	}
	o.record(o.apply, OrderShipped{})
	return nil
}

// Cancel cancels a placed or paid order and releases its reserved stock on
// every product. products must hold every line's product.
func (o *Order) Cancel(products map[string]*Product) error {
	if o.state.Status != OrderPlacedStatus && o.state.Status != OrderPaidStatus {
		return &IllegalTransitionError{From: o.state.Status, Action: "cancel"}
	}
	for _, l := range o.state.Lines {
		if _, ok := products[l.ProductID]; !ok {
			return fmt.Errorf("cancel order: product %s not loaded", l.ProductID)
		}
	}
	for _, l := range o.state.Lines {
		products[l.ProductID].release(o.id, l.Quantity)
	}
	o.record(o.apply, OrderCancelled{})
	return nil
}

func (o *Order) apply(e Event) {
	switch e := e.(type) {
	case OrderPlaced:
		o.state = OrderState{CustomerID: e.CustomerID, Status: OrderPlacedStatus, Currency: e.Currency, Lines: e.Lines}
	case OrderPaid:
		o.state.Status = OrderPaidStatus
	case OrderShipped:
		o.state.Status = OrderShippedStatus
	case OrderCancelled:
		o.state.Status = OrderCancelledStatus
	}
}
