package app

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/orderflow/orderflow/domain"
)

// An Upcaster turns one event type's payload from one schema version into
// the next: a pure function of the stored JSON, run in memory on every
// decode of an older event. The log itself is never rewritten, so a payload
// written years ago still decodes, through every step since.
type Upcaster func(data []byte) ([]byte, error)

// ErrSchemaTooNew means an event was written by a newer build than this
// one: its schema version is above the newest this build knows for its
// type. No retry fixes it; an upgraded reader does (see SchemaTooNewError).
var ErrSchemaTooNew = errors.New("event schema newer than this build reads")

// ErrSchemaUnknown means an event carries a schema version no build ever
// wrote for its type (zero or negative).
var ErrSchemaUnknown = errors.New("unknown event schema version")

// SchemaTooNewError names the event type and both versions.
type SchemaTooNewError struct {
	Type     string
	Version  int // the stored event's
	Readable int // the newest this build reads
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("%s schema version %d is newer than this build reads (%d): upgrade this reader, then replay what it parked",
		e.Type, e.Version, e.Readable)
}

func (e *SchemaTooNewError) Unwrap() error { return ErrSchemaTooNew }

// upcast runs data, written at schema version from, through chain up to the
// chain's end: chain[i] turns version i+1 into i+2, so the current version
// is len(chain)+1. An event already current costs nothing.
func upcast(eventType string, chain []Upcaster, from int, data []byte) ([]byte, error) {
	current := len(chain) + 1
	switch {
	case from < 1:
		return nil, fmt.Errorf("%s schema version %d: %w", eventType, from, ErrSchemaUnknown)
	case from > current:
		return nil, &SchemaTooNewError{Type: eventType, Version: from, Readable: current}
	}
	for v := from; v < current; v++ {
		next, err := chain[v-1](data)
		if err != nil {
			return nil, fmt.Errorf("upcast %s from version %d to %d: %w", eventType, v, v+1, err)
		}
		data = next
	}
	return data, nil
}

// Each step reads and writes frozen copies of the shapes it joins, never
// the domain's structs: those follow the current version, and a step's
// meaning must not change when a later version is added (ADR 14, rule 2).
// The copies are complete (every member a build ever wrote at that
// version), so decoding into them loses nothing, and typed JSON keeps a
// step to one decode and one encode.

// orderLineV1 is an order line as OrderPlaced schema 1 wrote it.
type orderLineV1 struct {
	ProductID      string `json:"productId"`
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unitPriceCents"`
}

// orderPlacedV1 is OrderPlaced as schema 1 wrote it: lines without a currency.
type orderPlacedV1 struct {
	CustomerID string        `json:"customerId"`
	Currency   string        `json:"currency"`
	Lines      []orderLineV1 `json:"lines"`
}

// orderLineV2 is an order line of OrderPlaced schema 2: it carries its currency.
type orderLineV2 struct {
	orderLineV1
	Currency string `json:"currency"`
}

type orderPlacedV2 struct {
	CustomerID string        `json:"customerId"`
	Currency   string        `json:"currency"`
	Lines      []orderLineV2 `json:"lines"`
}

// orderPlacedV1ToV2 gives every line the order's currency: schema 2 lines
// carry their own, and every line of an order shares the order's.
func orderPlacedV1ToV2(data []byte) ([]byte, error) {
	var v1 orderPlacedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	v2 := orderPlacedV2{CustomerID: v1.CustomerID, Currency: v1.Currency, Lines: make([]orderLineV2, len(v1.Lines))}
	for i, l := range v1.Lines {
		v2.Lines[i] = orderLineV2{orderLineV1: l, Currency: v1.Currency}
	}
	return json.Marshal(v2)
}

// productCreatedV1 is ProductCreated as schema 1 wrote it: a bare amount
// with its currency beside it. The pointers tell a missing member from zero.
type productCreatedV1 struct {
	SKU          string  `json:"sku"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	PriceCents   *int64  `json:"priceCents"`
	Currency     *string `json:"currency"`
	InitialStock int64   `json:"initialStock"`
}

// moneyV2 is money as schema 2 of ProductCreated writes it.
type moneyV2 struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type productCreatedV2 struct {
	SKU          string  `json:"sku"`
	Name         string  `json:"name"`
	Description  string  `json:"description"`
	Price        moneyV2 `json:"price"`
	InitialStock int64   `json:"initialStock"`
}

// productCreatedV1ToV2 moves the price into one {amount, currency} member.
// The amount needs no rescaling: priceCents always counted the currency's
// ISO 4217 minor unit, whatever its name said. A v1 payload missing either
// member is corrupt, not defaultable: no price is not a price of zero.
func productCreatedV1ToV2(data []byte) ([]byte, error) {
	var v1 productCreatedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	if v1.PriceCents == nil || v1.Currency == nil {
		return nil, errors.New("schema 1 ProductCreated without priceCents or currency")
	}
	return json.Marshal(productCreatedV2{
		SKU: v1.SKU, Name: v1.Name, Description: v1.Description,
		Price:        moneyV2{Amount: *v1.PriceCents, Currency: *v1.Currency},
		InitialStock: v1.InitialStock,
	})
}

// orderPlacedFromV1 is the chain from OrderPlaced schema 1 to the current
// event in one decode.
func orderPlacedFromV1(data []byte) (domain.Event, error) {
	var v1 orderPlacedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	e := domain.OrderPlaced{CustomerID: v1.CustomerID, Currency: v1.Currency, Lines: make([]domain.OrderLine, len(v1.Lines))}
	for i, l := range v1.Lines {
		e.Lines[i] = domain.OrderLine{ProductID: l.ProductID, SKU: l.SKU, Name: l.Name, Quantity: l.Quantity,
			UnitPriceCents: l.UnitPriceCents, Currency: v1.Currency}
	}
	return e, nil
}

// productCreatedFromV1 is the chain from ProductCreated schema 1 to the
// current event in one decode.
func productCreatedFromV1(data []byte) (domain.Event, error) {
	var v1 productCreatedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	if v1.PriceCents == nil || v1.Currency == nil {
		return nil, errors.New("schema 1 ProductCreated without priceCents or currency")
	}
	return domain.ProductCreated{SKU: v1.SKU, Name: v1.Name, Description: v1.Description,
		Price: domain.Money{Amount: *v1.PriceCents, Currency: *v1.Currency}, InitialStock: v1.InitialStock}, nil
}
