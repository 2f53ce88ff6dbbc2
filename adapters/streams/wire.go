package streams

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/app"
)

// The stream wire format: metadata keys every stream entry carries beside its payload (the event's
// JSON). The relay writes them, the projector reads them.
const (
	MetaEventType      = "event_type"
	MetaSchemaVersion  = "schema_version"
	MetaAggregateType  = "aggregate_type"
	MetaAggregateID    = "aggregate_id"
	MetaVersion        = "version"
	MetaGlobalPosition = "global_position"
	MetaTxID           = "tx_id"
	MetaOccurredAt     = "occurred_at"
	MetaCorrelationID  = "correlation_id"
	MetaCausationID    = "causation_id"
	MetaActor          = "actor"
)

// MetaUnmarshalError marks a message made from a stream entry that could not
// be unmarshalled. It carries the error, so the entry is parked in the
// dead-letter stream instead of closing the subscription after every claim.
const MetaUnmarshalError = "unmarshal_error"

// ErrPoisonEntry is an entry no retry can fix; it is parked at once.
var ErrPoisonEntry = errors.New("poison entry")

// DecodeEvent rebuilds a recorded event from a stream entry's id, metadata
// and payload.
func DecodeEvent(c *app.EventCodec, id string, meta func(string) string, payload []byte) (app.RecordedEvent, error) {
	r := app.RecordedEvent{
		EventID:       id,
		AggregateType: meta(MetaAggregateType),
		AggregateID:   meta(MetaAggregateID),
		Type:          meta(MetaEventType),
		Metadata: app.Metadata{
			CorrelationID: meta(MetaCorrelationID),
			CausationID:   meta(MetaCausationID),
			Actor:         meta(MetaActor),
		},
	}
	var err error
	if r.Version, err = strconv.ParseInt(meta(MetaVersion), 10, 64); err != nil {
		return r, fmt.Errorf("entry %s: version: %w", id, err)
	}
	if r.GlobalPosition, err = strconv.ParseInt(meta(MetaGlobalPosition), 10, 64); err != nil {
		return r, fmt.Errorf("entry %s: global position: %w", id, err)
	}
	if r.SchemaVersion, err = strconv.Atoi(meta(MetaSchemaVersion)); err != nil {
		return r, fmt.Errorf("entry %s: schema version: %w", id, err)
	}
	if r.OccurredAt, err = time.Parse(time.RFC3339Nano, meta(MetaOccurredAt)); err != nil {
		return r, fmt.Errorf("entry %s: occurred at: %w", id, err)
	}
	if r.Event, err = c.Decode(r.Type, r.SchemaVersion, payload); err != nil {
		return r, fmt.Errorf("entry %s: %w", id, err)
	}
	return r, nil
}
