package projections

import (
	"context"
	"fmt"
)

// EventCounter counts the events of the log, roughly. ReplaySource's
// Estimate is one: adapters/postgres's replay source reads the count.
type EventCounter interface {
	Estimate(ctx context.Context) (int64, error)
}

// DriftedError fails a verify whose cached projections differ from
// PostgreSQL.
type DriftedError struct {
	Drifted int
}

func (e *DriftedError) Error() string {
	return fmt.Sprintf("%d cached projections drifted from PostgreSQL", e.Drifted)
}

// UnverifiedError fails a verify that compared nothing while the event log
// holds events.
type UnverifiedError struct {
	// Logged is how many events the log holds.
	Logged int64
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("verify checked no cached projection while the event log holds %d events", e.Logged)
}

// Judge says whether what Verify found passes. It fails with a
// *DriftedError when entries drifted, and with an *UnverifiedError when
// nothing was compared although the log holds events: nothing compared is
// no evidence of agreement, and the usual cause is verifying the wrong Redis
// or key prefix; a quiet system whose entries all expired fails too, and a
// replay (which writes every projection) makes verify meaningful again.
// It passes when entries were compared and none drifted, or when nothing
// was compared because the log is empty, which emptyLog reports.
func Judge(ctx context.Context, d Drift, log EventCounter) (emptyLog bool, err error) {
	if d.Drifted > 0 {
		return false, &DriftedError{Drifted: d.Drifted}
	}
	if d.Checked > 0 {
		return false, nil
	}
	logged, err := log.Estimate(ctx)
	if err != nil {
		return false, fmt.Errorf("count events: %w", err)
	}
	if logged > 0 {
		return false, &UnverifiedError{Logged: logged}
	}
	return true, nil
}
