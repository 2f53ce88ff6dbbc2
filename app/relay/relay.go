package relay

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/app"
)

// CommittedEvent is an event of the log with its place in commit order.
type CommittedEvent struct {
	app.RecordedEvent
	At   LogPosition
	Data []byte
}

// Outbox reads committed events in commit order. Implemented by adapters/postgres.
type Outbox interface {
	// ReadCommitted returns up to limit events after `after`, in commit
	// order, stopping before any transaction still in flight, so that no
	// event can later appear before the last one returned.
	ReadCommitted(ctx context.Context, after LogPosition, limit int) ([]CommittedEvent, error)
	// Holds reports whether p can be a checkpoint of this log: the position
	// of one of its events, below every transaction still to come. The
	// start of the log always is.
	Holds(ctx context.Context, p LogPosition) (bool, error)
}

// ErrCheckpointOutsideLog means the relay's checkpoint is not a position the
// event log can continue from: PostgreSQL was restored from a dump (its
// transaction ids restarted below the checkpoint) or to an earlier point in
// time, or Redis belongs to another database. Relaying on would silently skip every event that sorts below the
// checkpoint, so the relay stops until an operator resets the checkpoint
// (README, "PostgreSQL restore") and resumes by itself afterwards.
var ErrCheckpointOutsideLog = errors.New("relay checkpoint is not a position of the event log")

// ErrCheckpointMoved means the checkpoint is no longer where the publisher
// expected it: another relay published meanwhile. Nothing was written.
var ErrCheckpointMoved = errors.New("relay checkpoint moved")

// EventPublisher appends events to their streams. Implemented by adapters/streams.
type EventPublisher interface {
	// Checkpoint is the position of the last event published.
	Checkpoint(ctx context.Context) (LogPosition, error)
	// Publish appends events to their streams and moves the checkpoint from
	// `from` to the last event's position, all or nothing. It fails with
	// ErrCheckpointMoved, writing nothing, when the checkpoint is not at from.
	Publish(ctx context.Context, from LogPosition, events []CommittedEvent) error
}

// Config tunes the relay loop.
type Config struct {
	// BatchSize caps the events read and published at once.
	BatchSize int
	// PollInterval is the longest wait for a notification before reading
	// anyway: a notification can be lost, and events held back by an older
	// open transaction produce none when it ends without appending.
	PollInterval time.Duration
	// ChasePoll is the short re-read interval after a notification whose
	// events were still held back by another transaction in flight.
	ChasePoll time.Duration
	// ChaseFor bounds how long fast re-reads go on after a notification.
	ChaseFor time.Duration
	// MaxBackoff caps the wait after a failure (PostgreSQL or Redis down).
	MaxBackoff time.Duration
	// Observe receives each published batch, for metrics.
	Observe func(batch []CommittedEvent, took time.Duration)
	// Healthy is told whether each round trip to both sides worked, for
	// logging; Health answers the last one.
	Healthy func(err error)
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	if c.ChasePoll == 0 {
		c.ChasePoll = 2 * time.Millisecond
	}
	if c.ChaseFor == 0 {
		c.ChaseFor = 20 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Observe == nil {
		c.Observe = func([]CommittedEvent, time.Duration) {}
	}
	if c.Healthy == nil {
		c.Healthy = func(error) {}
	}
}

// Relay moves committed events from the outbox onto the streams, in commit
// order, at least once; with the checkpoint moved atomically with each batch,
// exactly once while one relay runs.
type Relay struct {
	outbox    Outbox
	publisher EventPublisher
	cfg       Config
	// lastErr is the last round's failure, nil after a round that worked.
	lastErr atomic.Pointer[error]
}

// New returns a relay between outbox and publisher.
func New(outbox Outbox, publisher EventPublisher, cfg Config) (*Relay, error) {
	if outbox == nil || publisher == nil {
		return nil, errors.New("relay: outbox and publisher are required")
	}
	cfg.setDefaults()
	return &Relay{outbox: outbox, publisher: publisher, cfg: cfg}, nil
}

// Health is the last round's failure: nil before the first round and after
// a round that reached both sides, its error after one that did not (say
// PostgreSQL or Redis down, or ErrCheckpointOutsideLog). A process's
// readiness reports it, so a relay that cannot relay is taken out of
// service; a relay standing by keeps what its last round as leader said.
// Safe to call from any goroutine.
func (r *Relay) Health() error {
	if p := r.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// report records a round's outcome for Health and tells Config.Healthy.
func (r *Relay) report(err error) {
	r.lastErr.Store(&err)
	r.cfg.Healthy(err)
}

// Wait blocks until a notification arrives (true), the timeout passes
// (false), or it fails; the relay reads after each return.
type Wait func(ctx context.Context, timeout time.Duration) (notified bool, err error)

// Run relays until ctx ends or wait fails (the leadership connection was
// lost); it returns nil when ctx ended. Failures of PostgreSQL or Redis are
// retried with backoff: nothing is lost, since the checkpoint moves only
// with a published batch.
func (r *Relay) Run(ctx context.Context, wait Wait) error {
	var (
		cp       LogPosition
		haveCP   bool
		backoff  time.Duration
		chaseEnd time.Time
	)
	for ctx.Err() == nil {
		if !haveCP {
			var err error
			if cp, err = r.checkpoint(ctx); err != nil {
				r.report(err)
				backoff = r.sleep(ctx, backoff)
				continue
			}
			haveCP = true
		}
		n, err := r.relayBatch(ctx, &cp)
		switch {
		case errors.Is(err, ErrCheckpointMoved):
			// Another relay published meanwhile: carry on from where it got to.
			haveCP = false
			continue
		case err != nil:
			r.report(err)
			backoff = r.sleep(ctx, backoff)
			continue
		}
		r.report(nil)
		backoff = 0
		if n == r.cfg.BatchSize {
			continue // more is waiting: drain before sleeping
		}
		timeout := r.cfg.PollInterval
		if time.Now().Before(chaseEnd) {
			timeout = r.cfg.ChasePoll
		}
		notified, err := wait(ctx, timeout)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay wake-up: %w", err)
		}
		if notified {
			// The notifying transaction's events may still sit behind an
			// older one in flight: re-read quickly for a short while.
			chaseEnd = time.Now().Add(r.cfg.ChaseFor)
		} else {
			// Idle: re-read the checkpoint, so that a Redis that lost its
			// data (checkpoint and streams gone) is re-filled from the log
			// now rather than at the next write.
			haveCP = false
		}
	}
	return nil
}

// checkpoint reads the published position and checks that the log holds it.
func (r *Relay) checkpoint(ctx context.Context) (LogPosition, error) {
	cp, err := r.publisher.Checkpoint(ctx)
	if err != nil {
		return cp, err
	}
	held, err := r.outbox.Holds(ctx, cp)
	if err != nil {
		return cp, err
	}
	if !held {
		return cp, fmt.Errorf("%w: %s", ErrCheckpointOutsideLog, cp)
	}
	return cp, nil
}

// relayBatch publishes one batch and moves cp past it.
func (r *Relay) relayBatch(ctx context.Context, cp *LogPosition) (int, error) {
	start := time.Now()
	events, err := r.outbox.ReadCommitted(ctx, *cp, r.cfg.BatchSize)
	if err != nil || len(events) == 0 {
		return 0, err
	}
	if err := r.publisher.Publish(ctx, *cp, events); err != nil {
		return 0, err
	}
	*cp = events[len(events)-1].At
	r.cfg.Observe(events, time.Since(start))
	return len(events), nil
}

func (r *Relay) sleep(ctx context.Context, backoff time.Duration) time.Duration {
	backoff = min(max(2*backoff, 50*time.Millisecond), r.cfg.MaxBackoff)
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return backoff
}
