package domain

// Product events. Quantities and prices are integer minor units.
type (
	ProductCreated struct {
		SKU         string `json:"sku"`
		Name        string `json:"name"`
		Description string `json:"description"`
		// Price is schema 2's: schema 1 had a bare priceCents and currency
		// beside it (docs/adr/0014-event-schema-evolution.md).
		Price        Money `json:"price"`
		InitialStock int64 `json:"initialStock"`
	}
	ProductDetailsChanged struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	ProductPriceChanged struct {
		PriceCents int64 `json:"priceCents"`
	}
	StockAdded struct {
		Quantity int64 `json:"quantity"`
	}
	StockReserved struct {
		OrderID  string `json:"orderId"`
		Quantity int64  `json:"quantity"`
	}
	StockReleased struct {
		OrderID  string `json:"orderId"`
		Quantity int64  `json:"quantity"`
	}
)

func (ProductCreated) EventName() string        { return "ProductCreated" }
func (ProductDetailsChanged) EventName() string { return "ProductDetailsChanged" }
func (ProductPriceChanged) EventName() string   { return "ProductPriceChanged" }
func (StockAdded) EventName() string            { return "StockAdded" }
func (StockReserved) EventName() string         { return "StockReserved" }
func (StockReleased) EventName() string         { return "StockReleased" }

// ProductStateSchema is the version of ProductState's shape as stored in a
// snapshot. Bump it whenever that shape changes: a snapshot of another
// version is then ignored and the aggregate folded from its events.
const ProductStateSchema = 1

// ProductState is a product's whole state, as kept in a snapshot.
type ProductState struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"priceCents"`
	Currency    string `json:"currency"`
	// Available is what can be ordered now: on hand minus reserved by open orders.
	Available int64 `json:"available"`
}

// Product is a catalogue item with its orderable stock.
type Product struct {
	root
	state ProductState
}

func (*Product) AggregateType() string { return ProductAggregate }

// State returns a copy of the product's state.
func (p *Product) State() ProductState { return p.state }

// RestoreProduct rebuilds a product from a snapshot taken at version.
func RestoreProduct(id string, version int64, s ProductState) *Product {
	return &Product{root: root{id: id, version: version}, state: s}
}

// LoadProduct rebuilds a product by applying its stored events in order,
// starting from base (nil for the empty product).
func LoadProduct(id string, base *Product, events []Event) *Product {
	p := base
	if p == nil {
		p = &Product{root: root{id: id}}
	}
	p.replay(p.apply, events)
	return p
}

// CreateProduct checks a new product's fields and records ProductCreated.
func CreateProduct(id, sku, name, description string, priceCents int64, currency string, initialStock int64) (*Product, error) {
	var v ValidationError
	checkSKU(&v, "sku", sku)
	checkText(&v, "name", name, 1, MaxNameLength, false)
	checkText(&v, "description", description, 0, MaxDescriptionLength, true)
	checkPrice(&v, "priceCents", priceCents)
	checkCurrency(&v, "currency", currency)
	if initialStock < 0 || initialStock > MaxStock {
		v.add("initialStock", "must be between 0 and %d", MaxStock)
	}
	if err := v.errOrNil(); err != nil {
		return nil, err
	}
	p := &Product{root: root{id: id}}
	p.record(p.apply, ProductCreated{SKU: sku, Name: name, Description: description, Price: Money{Amount: priceCents, Currency: currency}, InitialStock: initialStock})
	return p, nil
}

// ChangeDetails sets the name and description where given; nil keeps a field.
func (p *Product) ChangeDetails(name, description *string) error {
	next := ProductDetailsChanged{Name: p.state.Name, Description: p.state.Description}
	var v ValidationError
	if name != nil {
		checkText(&v, "name", *name, 1, MaxNameLength, false)
		next.Name = *name
	}
	if description != nil {
		checkText(&v, "description", *description, 0, MaxDescriptionLength, true)
		next.Description = *description
	}
	if err := v.errOrNil(); err != nil {
		return err
	}
	if next.Name != p.state.Name || next.Description != p.state.Description {
		p.record(p.apply, next)
	}
	return nil
}

// ChangePrice sets a new price in the product's currency.
func (p *Product) ChangePrice(priceCents int64) error {
	var v ValidationError
	checkPrice(&v, "priceCents", priceCents)
	if err := v.errOrNil(); err != nil {
		return err
	}
	if priceCents != p.state.PriceCents {
		p.record(p.apply, ProductPriceChanged{PriceCents: priceCents})
	}
	return nil
}

// AddStock restocks the product.
func (p *Product) AddStock(quantity int64) error {
	var v ValidationError
	if quantity <= 0 || quantity > MaxStock {
		v.add("quantity", "must be between 1 and %d", MaxStock)
	} else if p.state.Available > MaxStock-quantity {
		v.add("quantity", "would take stock above %d", MaxStock)
	}
	if err := v.errOrNil(); err != nil {
		return err
	}
	p.record(p.apply, StockAdded{Quantity: quantity})
	return nil
}

// reserve takes quantity units out of the orderable stock for an order; the
// caller checked that they are available.
func (p *Product) reserve(orderID string, quantity int64) {
	p.record(p.apply, StockReserved{OrderID: orderID, Quantity: quantity})
}

// release gives back units an order had reserved.
func (p *Product) release(orderID string, quantity int64) {
	p.record(p.apply, StockReleased{OrderID: orderID, Quantity: quantity})
}

func (p *Product) apply(e Event) {
	switch e := e.(type) {
	case ProductCreated:
		p.state = ProductState{SKU: e.SKU, Name: e.Name, Description: e.Description, PriceCents: e.Price.Amount, Currency: e.Price.Currency, Available: e.InitialStock}
	case ProductDetailsChanged:
		p.state.Name, p.state.Description = e.Name, e.Description
	case ProductPriceChanged:
		p.state.PriceCents = e.PriceCents
	case StockAdded:
		p.state.Available += e.Quantity
	case StockReserved:
		p.state.Available -= e.Quantity
	case StockReleased:
		p.state.Available += e.Quantity
	}
}
