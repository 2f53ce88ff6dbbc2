package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/projections"
)

// A rolling deploy: a newer build writes an event at a schema version this
// projector does not know. The projector parks that entry with a reason
// saying so, keeps projecting the rest, and once upgraded, `dlq replay`
// applies the parked entry.
func TestProjectorParksANewerSchemaAndAppliesItAfterTheUpgrade(t *testing.T) {
	t.Parallel()
	f := newRouterFixture(t)
	ctx := context.Background()
	identity := func(data []byte) ([]byte, error) { return data, nil }
	old := f.handler()
	upgraded := streams.Handler(projections.New(f.refresher),
		app.NewEventCodec(app.WithNextVersion("CustomerProfileUpdated", identity)), nil)
	var isUpgraded atomic.Bool
	f.run(streams.ProjectorConfig{MaxRetries: 2}, func(msg *message.Message) error {
		if isUpgraded.Load() {
			return upgraded(msg)
		}
		return old(msg)
	})

	c, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "rolling@example.com", Name: "Before"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "the registration projected", f.caughtUp(0))

	// The newer build's write: the same payload, stamped version 2 (its
	// upcaster from 1 is the identity).
	name := "After"
	if _, err := f.app.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c.ID, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE events SET schema_version = 2 WHERE stream_id = $1 AND version = 2`, c.ID); err != nil {
		t.Fatal(err)
	}
	later, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "later@example.com", Name: "Later"})
	if err != nil {
		t.Fatal(err)
	}
	f.RelayAll(f.t)
	testenv.WaitFor(f.t, routerWait, "everything consumed, the newer entry parked", func() (bool, string) {
		ok, detail := f.caughtUp(0)()
		return ok && f.parked() == 1, fmt.Sprintf("%s; %d parked", detail, f.parked())
	})
	if e := f.cached(cache.CustomerKey(later.ID)); !e.Found || e.Tombstone {
		t.Fatalf("the event after the newer one was not projected: %+v", e)
	}
	if e := f.cached(cache.CustomerKey(c.ID)); e.Version != 1 || !strings.Contains(string(e.Data), "Before") {
		t.Fatalf("the parked event was applied by the old projector: version %d %s", e.Version, e.Data)
	}
	dl := streams.NewDeadLetters(f.redis, f.keys)
	parked, err := dl.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 1 {
		t.Fatalf("parked = %+v, want one entry", parked)
	}
	p := parked[0]
	if p.EventType != "CustomerProfileUpdated" || p.AggregateID != c.ID || p.Attempts != "1" ||
		!strings.Contains(p.Error, streams.ErrPoisonEntry.Error()) ||
		!strings.Contains(p.Error, "CustomerProfileUpdated schema version 2 is newer than this build reads (1)") {
		t.Fatalf("parked as %+v; want the CustomerProfileUpdated, not retried, with a reason naming both versions", p)
	}

	// Replays by this build fail rather than build a generation without it.
	if _, _, err := streams.NewReplaySource(f.redis, f.keys, f.store).Read(ctx, "", 1000); !errors.Is(err, app.ErrSchemaTooNew) {
		t.Fatalf("streams replay by the old build: %v, want ErrSchemaTooNew", err)
	}
	if _, _, err := postgres.NewReplaySource(f.store).Read(ctx, "", 1000); !errors.Is(err, app.ErrSchemaTooNew) {
		t.Fatalf("store replay by the old build: %v, want ErrSchemaTooNew", err)
	}

	isUpgraded.Store(true)
	if n, found, err := dl.ReplayAll(ctx); err != nil || n != 1 || found != 1 {
		t.Fatalf("ReplayAll = %d of %d, %v; want 1 of 1", n, found, err)
	}
	testenv.WaitFor(f.t, routerWait, "the re-driven entry applied", func() (bool, string) {
		e := f.cached(cache.CustomerKey(c.ID))
		return e.Version == 2 && strings.Contains(string(e.Data), "After"), fmt.Sprintf("version %d %s", e.Version, e.Data)
	})
	if n := f.parked(); n != 0 {
		t.Fatalf("%d entries parked after the upgrade", n)
	}
}
