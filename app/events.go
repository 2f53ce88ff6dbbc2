package app

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// Metadata travels with every event: who asked, and which request it came from.
type Metadata struct {
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	Actor         string `json:"actor,omitempty"`
}

// RecordedEvent is an event as stored in the log and carried on the streams.
type RecordedEvent struct {
	EventID        string
	AggregateType  string
	AggregateID    string
	Version        int64
	GlobalPosition int64
	Type           string
	SchemaVersion  int
	OccurredAt     time.Time
	Metadata       Metadata
	Event          domain.Event
}

// eventSchema is one event type's chain: decode reads the current payload
// shape, upcasters bring every older one up to it.
type eventSchema struct {
	upcasters []Upcaster // upcasters[i] turns version i+1 into i+2
	decode    func([]byte) (domain.Event, error)
	// shortcuts decode an older version straight into the current event,
	// by version: one JSON decode instead of the chain's decode and encode
	// per step, then the final decode. The chain stays the definition:
	// each shortcut must give what it gives (TestShortcutsAgreeWithChains),
	// and a new version replaces or drops the shortcuts it makes wrong.
	shortcuts map[int]func([]byte) (domain.Event, error)
}

// current is the schema version this build writes and reads natively.
func (s eventSchema) current() int { return len(s.upcasters) + 1 }

// eventSchemas names every event type with its upcaster chain (see
// upcasters.go) and a constructor to decode the current version into.
// Changing a payload's shape adds a version: the new struct, an upcaster
// from the previous version, appended here; docs/adr/0014 has the rules.
func eventSchemas() map[string]eventSchema {
	return map[string]eventSchema{
		"ProductCreated": {[]Upcaster{productCreatedV1ToV2}, decodeAs[domain.ProductCreated],
			map[int]func([]byte) (domain.Event, error){1: productCreatedFromV1}},
		"ProductDetailsChanged":  {nil, decodeAs[domain.ProductDetailsChanged], nil},
		"ProductPriceChanged":    {nil, decodeAs[domain.ProductPriceChanged], nil},
		"StockAdded":             {nil, decodeAs[domain.StockAdded], nil},
		"StockReserved":          {nil, decodeAs[domain.StockReserved], nil},
		"StockReleased":          {nil, decodeAs[domain.StockReleased], nil},
		"CustomerRegistered":     {nil, decodeAs[domain.CustomerRegistered], nil},
		"CustomerProfileUpdated": {nil, decodeAs[domain.CustomerProfileUpdated], nil},
		"OrderPlaced": {[]Upcaster{orderPlacedV1ToV2}, decodeAs[domain.OrderPlaced],
			map[int]func([]byte) (domain.Event, error){1: orderPlacedFromV1}},
		"OrderPaid":      {nil, decodeAs[domain.OrderPaid], nil},
		"OrderShipped":   {nil, decodeAs[domain.OrderShipped], nil},
		"OrderCancelled": {nil, decodeAs[domain.OrderCancelled], nil},
	}
}

func decodeAs[E domain.Event](data []byte) (domain.Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// EventCodec turns domain events into stored payloads and back. It is the
// one place stored events are decoded: loading aggregates, the projectors,
// replay from the streams and from the store, and re-driven dead letters
// all read through Decode, so all of them upcast alike.
type EventCodec struct {
	schemas map[string]eventSchema
}

// A CodecOption adjusts a codec; production code uses none.
type CodecOption func(map[string]eventSchema)

// WithNextVersion appends up to eventType's chain as one more schema
// version whose payload decodes into the same struct: the codec of a build
// newer than this one, for tests of mixed versions in a rolling deploy.
func WithNextVersion(eventType string, up Upcaster) CodecOption {
	return func(schemas map[string]eventSchema) {
		s, ok := schemas[eventType]
		if !ok {
			return
		}
		s.upcasters = append(append([]Upcaster(nil), s.upcasters...), up)
		s.shortcuts = nil // they end at the version this build knows
		schemas[eventType] = s
	}
}

// NewEventCodec returns a codec that knows every OrderFlow event.
func NewEventCodec(opts ...CodecOption) *EventCodec {
	schemas := eventSchemas()
	for _, o := range opts {
		o(schemas)
	}
	return &EventCodec{schemas: schemas}
}

// Knows reports whether the codec reads and writes events of this type.
func (c *EventCodec) Knows(eventType string) bool {
	_, ok := c.schemas[eventType]
	return ok
}

// SchemaVersion is the version the codec writes events of this type at,
// and the newest it reads; 0 for a type it does not know.
func (c *EventCodec) SchemaVersion(eventType string) int {
	s, ok := c.schemas[eventType]
	if !ok {
		return 0
	}
	return s.current()
}

// Encode returns the event's type name, schema version and JSON payload.
// Events are always written at their type's current version.
func (c *EventCodec) Encode(e domain.Event) (name string, schemaVersion int, data []byte, err error) {
	name = e.EventName()
	s, ok := c.schemas[name]
	if !ok {
		return "", 0, nil, fmt.Errorf("encode event: unknown type %q", name)
	}
	data, err = json.Marshal(e)
	if err != nil {
		return "", 0, nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return name, s.current(), data, nil
}

// Decode rebuilds an event from its stored form, upcasting an older
// schema version to the current one. A version newer than this build knows
// is a *SchemaTooNewError (ErrSchemaTooNew): the event is fine, this reader
// is old.
func (c *EventCodec) Decode(name string, schemaVersion int, data []byte) (domain.Event, error) {
	s, ok := c.schemas[name]
	if !ok {
		return nil, fmt.Errorf("decode event: unknown type %q", name)
	}
	if shortcut, ok := s.shortcuts[schemaVersion]; ok {
		e, err := shortcut(data)
		if err != nil {
			return nil, fmt.Errorf("decode %s from version %d: %w", name, schemaVersion, err)
		}
		return e, nil
	}
	data, err := upcast(name, s.upcasters, schemaVersion, data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	e, err := s.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return e, nil
}
