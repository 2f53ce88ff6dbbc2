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

type eventSchema struct {
	version int
	decode  func([]byte) (domain.Event, error)
}

// eventSchemas names every event type with its current payload schema
// version and a constructor to decode into. A payload change that old readers
// cannot read bumps the version and adds an upcaster in DecodeEvent.
func eventSchemas() map[string]eventSchema {
	return map[string]eventSchema{
		"ProductCreated":         {1, decodeAs[domain.ProductCreated]},
		"ProductDetailsChanged":  {1, decodeAs[domain.ProductDetailsChanged]},
		"ProductPriceChanged":    {1, decodeAs[domain.ProductPriceChanged]},
		"StockAdded":             {1, decodeAs[domain.StockAdded]},
		"StockReserved":          {1, decodeAs[domain.StockReserved]},
		"StockReleased":          {1, decodeAs[domain.StockReleased]},
		"CustomerRegistered":     {1, decodeAs[domain.CustomerRegistered]},
		"CustomerProfileUpdated": {1, decodeAs[domain.CustomerProfileUpdated]},
		"OrderPlaced":            {1, decodeAs[domain.OrderPlaced]},
		"OrderPaid":              {1, decodeAs[domain.OrderPaid]},
		"OrderShipped":           {1, decodeAs[domain.OrderShipped]},
		"OrderCancelled":         {1, decodeAs[domain.OrderCancelled]},
	}
}

func decodeAs[E domain.Event](data []byte) (domain.Event, error) {
	var e E
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	return e, nil
}

// EventCodec turns domain events into stored payloads and back.
type EventCodec struct {
	schemas map[string]eventSchema
}

// NewEventCodec returns a codec that knows every OrderFlow event.
func NewEventCodec() *EventCodec { return &EventCodec{schemas: eventSchemas()} }

// Knows reports whether the codec reads and writes events of this type.
func (c *EventCodec) Knows(eventType string) bool {
	_, ok := c.schemas[eventType]
	return ok
}

// Encode returns the event's type name, schema version and JSON payload.
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
	return name, s.version, data, nil
}

// Decode rebuilds an event from its stored form.
func (c *EventCodec) Decode(name string, schemaVersion int, data []byte) (domain.Event, error) {
	s, ok := c.schemas[name]
	if !ok {
		return nil, fmt.Errorf("decode event: unknown type %q", name)
	}
	if schemaVersion != s.version {
		return nil, fmt.Errorf("decode %s: schema version %d, this build reads %d", name, schemaVersion, s.version)
	}
	e, err := s.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return e, nil
}
