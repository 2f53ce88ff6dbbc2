package projections

import (
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

// Handler is the Watermill edge: it decodes an entry and dispatches it to
// the projectors; an error goes back to the Router's retry and poison queue.
func Handler(projectors Projectors, codec *app.EventCodec, observe Observer) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		if reason := msg.Metadata.Get(app.MetaUnmarshalError); reason != "" {
			return fmt.Errorf("%w: %s", app.ErrPoisonEntry, reason)
		}
		start := time.Now()
		r, err := codec.DecodeStreamEvent(msg.UUID, msg.Metadata.Get, msg.Payload)
		if err != nil {
			return fmt.Errorf("%w: %w", app.ErrPoisonEntry, err)
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
