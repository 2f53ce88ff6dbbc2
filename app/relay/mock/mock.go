// Package mock holds in-memory fakes of the relay's ports, for unit tests of
// its loops: each is a struct of functions a test sets, as needed.
package mock

import (
	"context"
	"time"

	"github.com/orderflow/orderflow/app/relay"
)

var (
	_ relay.Elector        = (*Elector)(nil)
	_ relay.Leadership     = (*Leadership)(nil)
	_ relay.Outbox         = (*Outbox)(nil)
	_ relay.EventPublisher = (*Publisher)(nil)
	_ relay.BacklogReader  = (*BacklogReader)(nil)
)

// Elector is a relay.Elector.
type Elector struct {
	TryLeadFn func(ctx context.Context) (relay.Leadership, error)
}

// TryLead calls TryLeadFn.
func (e *Elector) TryLead(ctx context.Context) (relay.Leadership, error) { return e.TryLeadFn(ctx) }

// Leadership is a relay.Leadership.
type Leadership struct {
	WaitFn    func(ctx context.Context, timeout time.Duration) (bool, error)
	ReleaseFn func(ctx context.Context) error
}

// Wait calls WaitFn.
func (l *Leadership) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	return l.WaitFn(ctx, timeout)
}

// Release calls ReleaseFn.
func (l *Leadership) Release(ctx context.Context) error { return l.ReleaseFn(ctx) }

// Outbox is a relay.Outbox.
type Outbox struct {
	ReadCommittedFn func(ctx context.Context, after relay.LogPosition, limit int) ([]relay.CommittedEvent, error)
	HoldsFn         func(ctx context.Context, p relay.LogPosition) (bool, error)
}

// ReadCommitted calls ReadCommittedFn.
func (o *Outbox) ReadCommitted(ctx context.Context, after relay.LogPosition, limit int) ([]relay.CommittedEvent, error) {
	return o.ReadCommittedFn(ctx, after, limit)
}

// Holds calls HoldsFn.
func (o *Outbox) Holds(ctx context.Context, p relay.LogPosition) (bool, error) {
	return o.HoldsFn(ctx, p)
}

// Publisher is a relay.EventPublisher.
type Publisher struct {
	CheckpointFn func(ctx context.Context) (relay.LogPosition, error)
	PublishFn    func(ctx context.Context, from relay.LogPosition, events []relay.CommittedEvent) error
}

// Checkpoint calls CheckpointFn.
func (p *Publisher) Checkpoint(ctx context.Context) (relay.LogPosition, error) {
	return p.CheckpointFn(ctx)
}

// Publish calls PublishFn.
func (p *Publisher) Publish(ctx context.Context, from relay.LogPosition, events []relay.CommittedEvent) error {
	return p.PublishFn(ctx, from, events)
}

// BacklogReader is a relay.BacklogReader.
type BacklogReader struct {
	StatsFn func(ctx context.Context, after relay.LogPosition) (relay.Backlog, error)
}

// Stats calls StatsFn.
func (b *BacklogReader) Stats(ctx context.Context, after relay.LogPosition) (relay.Backlog, error) {
	return b.StatsFn(ctx, after)
}
