package streams_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/projections"
)

// observed records what the handler reported.
type observed struct {
	mu    sync.Mutex
	types []string
}

func (o *observed) Projected(aggregateType string, _ time.Time, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if took < 0 {
		aggregateType += " (negative duration)"
	}
	o.types = append(o.types, aggregateType)
}

// The Watermill edge: an entry no retry can fix is refused as a poison
// entry (parked at once); a failing projection is an ordinary error, retried
// by the Router; a good entry is projected and observed.
func TestHandlerTellsPoisonFromFailure(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "edge@example.com", Name: "Edge"})
	if err != nil {
		t.Fatal(err)
	}
	events, _ := f.Committed(t, relay.LogPosition{})
	if len(events) != 1 {
		t.Fatalf("%d events", len(events))
	}
	obs := &observed{}
	handle := streams.Handler(projections.New(f.refresher), app.NewEventCodec(), obs)

	good := streams.Message(events[0])
	if err := handle(good); err != nil {
		t.Fatalf("a good entry: %v", err)
	}
	if e := f.Entry(t, cache.CustomerKey(c.ID)); !e.Found || e.Tombstone || e.Version != 1 {
		t.Errorf("customers:{id} after the good entry: %+v", e)
	}
	if strings.Join(obs.types, ",") != "customer" {
		t.Errorf("observed %v, want one customer event", obs.types)
	}

	poison := map[string]*message.Message{}
	unreadable := message.NewMessage(uuid.NewString(), []byte(`{"raw":"fields"}`))
	unreadable.Metadata.Set(streams.MetaUnmarshalError, "metadata is not msgpack")
	poison["unreadable"] = unreadable
	for name, change := range map[string]func(m message.Metadata){
		"no version":       func(m message.Metadata) { delete(m, streams.MetaVersion) },
		"bad position":     func(m message.Metadata) { m.Set(streams.MetaGlobalPosition, "x") },
		"bad time":         func(m message.Metadata) { m.Set(streams.MetaOccurredAt, "yesterday") },
		"unknown type":     func(m message.Metadata) { m.Set(streams.MetaEventType, "CustomerVanished") },
		"newer schema":     func(m message.Metadata) { m.Set(streams.MetaSchemaVersion, "2") },
		"no schema":        func(m message.Metadata) { delete(m, streams.MetaSchemaVersion) },
		"payload mismatch": nil,
	} {
		m := streams.Message(events[0])
		if change != nil {
			change(m.Metadata)
		} else {
			m.Payload = []byte(`["not","an","object"]`)
		}
		poison[name] = m
	}
	for name, m := range poison {
		if err := handle(m); !errors.Is(err, streams.ErrPoisonEntry) {
			t.Errorf("%s: %v, want ErrPoisonEntry", name, err)
		}
	}

	ghost := events[0]
	ghost.RecordedEvent = app.RecordedEvent{EventID: uuid.NewString(), AggregateType: domain.OrderAggregate, AggregateID: uuid.NewString(),
		Version: 2, GlobalPosition: 99, Type: "OrderPaid", SchemaVersion: 1, OccurredAt: time.Now()}
	ghost.Data = []byte(`{}`)
	err = handle(streams.Message(ghost))
	if err == nil || errors.Is(err, streams.ErrPoisonEntry) || !errors.Is(err, app.ErrNotFound) {
		t.Errorf("OrderPaid of an unknown order: %v, want a not-found error that is retried, not parked at once", err)
	}
	if strings.Join(obs.types, ",") != "customer" {
		t.Errorf("observed %v; failures must not be observed as projected", obs.types)
	}
}
