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

// orderPlacedV1 is OrderPlaced as schema 1 wrote it: lines without a
// currency. Unknown members are kept as they were.
type orderPlacedV1 struct {
	Currency string                       `json:"currency"`
	Lines    []map[string]json.RawMessage `json:"lines"`
}

// orderPlacedV1ToV2 gives every line the order's currency: schema 2 lines
// carry their own, and every line of an order shares the order's.
func orderPlacedV1ToV2(data []byte) ([]byte, error) {
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		return nil, err
	}
	var v1 orderPlacedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	currency, err := json.Marshal(v1.Currency)
	if err != nil {
		return nil, err
	}
	for _, line := range v1.Lines {
		if _, ok := line["currency"]; !ok {
			line["currency"] = currency
		}
	}
	lines, err := json.Marshal(v1.Lines)
	if err != nil {
		return nil, err
	}
	whole["lines"] = lines
	return json.Marshal(whole)
}

// productCreatedV1 is the money of ProductCreated as schema 1 wrote it: a
// bare amount and the currency beside it.
type productCreatedV1 struct {
	PriceCents *int64  `json:"priceCents"`
	Currency   *string `json:"currency"`
}

// productCreatedV1ToV2 moves the price into one {amount, currency} member.
// The amount needs no rescaling: priceCents always counted the currency's
// ISO 4217 minor unit, whatever its name said. A v1 payload missing either
// member is corrupt, not defaultable: no price is not a price of zero.
func productCreatedV1ToV2(data []byte) ([]byte, error) {
	var whole map[string]json.RawMessage
	if err := json.Unmarshal(data, &whole); err != nil {
		return nil, err
	}
	var v1 productCreatedV1
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	if v1.PriceCents == nil || v1.Currency == nil {
		return nil, errors.New("schema 1 ProductCreated without priceCents or currency")
	}
	price, err := json.Marshal(domain.Money{Amount: *v1.PriceCents, Currency: *v1.Currency})
	if err != nil {
		return nil, err
	}
	delete(whole, "priceCents")
	delete(whole, "currency")
	whole["price"] = price
	return json.Marshal(whole)
}
