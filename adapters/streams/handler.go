package streams

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/app"
)

// Observer sees each projected event, for metrics.
type Observer interface {
	// Projected is called after an event's projections were written.
	Projected(aggregateType string, occurredAt time.Time, took time.Duration)
}

// Projector applies one event to the read models it changes. Implemented by
// projections.Projectors.
type Projector interface {
	Project(ctx context.Context, r app.RecordedEvent) error
}

// Handler is the Watermill edge of the projectors: it decodes an entry and
// dispatches it; an entry no retry can fix is an ErrPoisonEntry (parked at
// once), any other error goes back to the Router's retry and poison queue.
func Handler(projectors Projector, codec *app.EventCodec, observe Observer) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		if reason := msg.Metadata.Get(MetaUnmarshalError); reason != "" {
			return fmt.Errorf("%w: %s", ErrPoisonEntry, reason)
		}
		start := time.Now()
		r, err := DecodeEvent(codec, msg.UUID, msg.Metadata.Get, msg.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrPoisonEntry, err)
		}
		ctx := app.WithMetadata(msg.Context(), r.Metadata)
		if err := projectors.Project(ctx, r); err != nil {
			return fmt.Errorf("project %s %s v%d: %w", r.Type, r.AggregateID, r.Version, err)
		}
		if observe != nil {
			observe.Projected(r.AggregateType, r.OccurredAt, time.Since(start))
		}
		return nil
	}
}
