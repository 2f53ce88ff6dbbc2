package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
)

// A transaction left open in another database of the same server cannot
// write this log: the replay's last read must neither wait for it nor lose
// the events committed after it began.
func TestReplaySourceIsNotHeldBackByAnotherDatabase(t *testing.T) {
	f := newOutboxFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f.createProduct(t, "BEFORE-1")

	other, _ := pgtest.NewPool(t)
	foreign, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = foreign.Rollback(context.Background()) }()
	if _, err := foreign.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	f.createProduct(t, "AFTER-1")
	f.createProduct(t, "AFTER-2")
	want := len(f.logInCommitOrder(t))

	source := postgres.NewReplaySource(f.store)
	heldBack := 0
	source.HeldBack = func() { heldBack++ }
	read, cursor := 0, ""
	for {
		events, next, err := source.Read(ctx, cursor, 100)
		if err != nil {
			t.Fatalf("replay read with a transaction open in another database: %v (waited: %d)", err, heldBack)
		}
		if len(events) == 0 {
			break
		}
		read += len(events)
		cursor = next
	}
	if read != want {
		t.Errorf("the replay read %d of the log's %d events", read, want)
	}
	if heldBack != 0 {
		t.Errorf("the replay waited for a transaction of another database")
	}
}
