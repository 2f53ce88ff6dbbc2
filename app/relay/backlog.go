package relay

import (
	"context"
	"time"
)

// Backlog is how far the streams are behind the log.
type Backlog struct {
	// Backlog counts committed events after the checkpoint, up to a cap.
	Backlog int64
	// OldestUnpublished is when the oldest of them was committed (zero when none).
	OldestUnpublished time.Time
	// OldestInFlight is the age of the oldest open transaction holding an
	// id: it holds back every event committed after it began.
	OldestInFlight time.Duration
}

// BacklogReader measures the log's backlog after a position. Implemented by
// adapters/postgres.
type BacklogReader interface {
	Stats(ctx context.Context, after LogPosition) (Backlog, error)
}

// SampleBacklog measures the backlog behind the published checkpoint every
// interval until ctx ends, and hands each measure to observe; a failed
// measure is skipped (the relay's own health reports the failure).
func SampleBacklog(ctx context.Context, interval time.Duration, publisher EventPublisher, log BacklogReader, observe func(Backlog)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cp, err := publisher.Checkpoint(ctx)
		if err != nil {
			continue
		}
		b, err := log.Stats(ctx, cp)
		if err != nil {
			continue
		}
		observe(b)
	}
}
