package domain

// Aggregate types, as stored with every event.
const (
	ProductAggregate  = "product"
	CustomerAggregate = "customer"
	OrderAggregate    = "order"
)

// Event is a fact recorded by an aggregate. Its name is stable: it is stored
// with the event and used to decode it.
type Event interface {
	EventName() string
}

// Aggregate is what a store needs to persist any aggregate's pending events.
type Aggregate interface {
	AggregateType() string
	AggregateID() string
	// Version counts every event applied, pending ones included.
	Version() int64
	// Changes are the events recorded since the aggregate was loaded or last saved.
	Changes() []Event
	// MarkSaved forgets the pending events once they are persisted.
	MarkSaved()
}

// root holds what every aggregate has: identity, version and pending events.
type root struct {
	id      string
	version int64
	changes []Event
}

func (r *root) AggregateID() string { return r.id }
func (r *root) Version() int64      { return r.version }
func (r *root) Changes() []Event    { return r.changes }
func (r *root) MarkSaved()          { r.changes = nil }

// ExpectedVersion is the version the store must still hold for the pending
// events to be appended: the version the aggregate was loaded at.
func ExpectedVersion(a Aggregate) int64 { return a.Version() - int64(len(a.Changes())) }

// record applies a new event and keeps it as a pending change.
func (r *root) record(apply func(Event), e Event) {
	apply(e)
	r.version++
	r.changes = append(r.changes, e)
}

// replay applies stored events, which are not pending changes.
func (r *root) replay(apply func(Event), events []Event) {
	for _, e := range events {
		apply(e)
		r.version++
	}
}
