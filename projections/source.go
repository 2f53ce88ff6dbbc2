package projections

import (
	"context"
	"errors"
	"fmt"
)

// SourceChoice says where a replay reads the log.
type SourceChoice string

// Where a replay reads the log.
const (
	// FromAuto reads the streams, and the event store when they do not
	// hold the whole log (trimmed, or entries deleted).
	FromAuto SourceChoice = "auto"
	// FromStreams reads the streams only; a gap fails the replay.
	FromStreams SourceChoice = "streams"
	// FromStore reads the event store only.
	FromStore SourceChoice = "store"
)

// Sources are the two places a replay can read the log.
type Sources struct {
	Streams, Store ReplaySource
	// FellBack is told why an automatic choice left the streams for the
	// event store, before the store is read.
	FellBack func(reason error)
}

// ReplayFrom runs replay from the chosen source. With FromAuto it tries the
// streams, which are cheaper to read, and reads the event store when the
// streams turn out not to hold the whole log (ErrReplayGap): the failed
// attempt switched nothing, so starting again from the store is safe. Any
// other failure is returned as it is.
func ReplayFrom(ctx context.Context, choice SourceChoice, src Sources,
	replay func(ctx context.Context, source ReplaySource) (ReplaySummary, error)) (ReplaySummary, error) {
	switch choice {
	case FromStore:
		return replay(ctx, src.Store)
	case FromStreams:
		return replay(ctx, src.Streams)
	case FromAuto:
	default:
		return ReplaySummary{}, fmt.Errorf("replay source %q: want auto, streams or store", choice)
	}
	sum, err := replay(ctx, src.Streams)
	if !errors.Is(err, ErrReplayGap) {
		return sum, err
	}
	if src.FellBack != nil {
		src.FellBack(err)
	}
	return replay(ctx, src.Store)
}
