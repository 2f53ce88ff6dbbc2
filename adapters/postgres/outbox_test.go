package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	apprelay "github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
)

// outboxFixture is a fresh database with the store, the outbox and the
// application over it.
type outboxFixture struct {
	pool   *pgxpool.Pool
	dsn    string
	store  *postgres.Store
	outbox *postgres.Outbox
	app    *app.Application
}

func newOutboxFixture(t *testing.T) outboxFixture {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	return outboxFixture{pool: e.Pool, dsn: e.DSN, store: e.Store, outbox: postgres.NewOutbox(e.Pool), app: e.App}
}

func (f outboxFixture) createProduct(t *testing.T, sku string) string {
	t.Helper()
	p, err := f.app.Commands.CreateProduct.Handle(context.Background(), app.CreateProduct{
		SKU: sku, Name: "Product " + sku, PriceCents: 500, Currency: "EUR", InitialStock: 100,
	})
	if err != nil {
		t.Fatalf("create product %s: %v", sku, err)
	}
	return p.ID
}

func (f outboxFixture) restock(t *testing.T, productID string) {
	t.Helper()
	if _, err := f.app.Commands.RestockProduct.Handle(context.Background(), app.RestockProduct{ProductID: productID, Quantity: 1}); err != nil {
		t.Fatalf("restock %s: %v", productID, err)
	}
}

// heldAppend restocks productID in a transaction that stays open after its
// append until end is called with its outcome.
type heldAppend struct {
	proceed  chan error // nil commits, an error rolls back
	finished chan error
}

// holdAppend starts the transaction and returns once it has appended.
func (f outboxFixture) holdAppend(t *testing.T, productID string) *heldAppend {
	t.Helper()
	h := &heldAppend{proceed: make(chan error, 1), finished: make(chan error, 1)}
	appended := make(chan struct{})
	go func() {
		h.finished <- f.store.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
			products, err := tx.LoadProducts(ctx, productID)
			if err != nil {
				return err
			}
			p := products[productID]
			if err := p.AddStock(1); err != nil {
				return err
			}
			if _, err := tx.Save(ctx, p); err != nil {
				return err
			}
			close(appended)
			return <-h.proceed
		})
	}()
	select {
	case <-appended:
	case err := <-h.finished:
		t.Fatalf("held append ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("held append did not append within 30 s")
	}
	t.Cleanup(func() {
		select {
		case h.proceed <- errors.New("test cleanup"):
		default:
		}
	})
	return h
}

func (h *heldAppend) end(t *testing.T, outcome error) {
	t.Helper()
	h.proceed <- outcome
	if err := <-h.finished; !errors.Is(err, outcome) {
		t.Fatalf("held transaction ended with %v, want %v", err, outcome)
	}
}

// logEntry is an event as the log holds it, in the outbox's order.
type logEntry struct {
	EventID     string
	AggregateID string
	Version     int64
}

func (f outboxFixture) logInCommitOrder(t *testing.T) []logEntry {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT event_id::text, stream_id::text, version FROM events ORDER BY tx_id, global_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []logEntry
	for rows.Next() {
		var e logEntry
		if err := rows.Scan(&e.EventID, &e.AggregateID, &e.Version); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readAll drains the outbox from the start of the log in batches of size,
// once it yields every committed event: a transaction of another test's
// database on the same server can hold the horizon back for a moment.
func (f outboxFixture) readAll(t *testing.T, size int) []apprelay.CommittedEvent {
	t.Helper()
	var all []apprelay.CommittedEvent
	testenv.WaitFor(t, 30*time.Second, "outbox yields the whole log", func() (bool, string) {
		all = f.readFrom(t, apprelay.LogPosition{}, size)
		n := len(f.logInCommitOrder(t))
		return len(all) == n, fmt.Sprintf("%d of %d events", len(all), n)
	})
	return all
}

// readFrom drains the outbox after `at` in batches of size.
func (f outboxFixture) readFrom(t *testing.T, at apprelay.LogPosition, size int) []apprelay.CommittedEvent {
	t.Helper()
	var all []apprelay.CommittedEvent
	for {
		batch, err := f.outbox.ReadCommitted(context.Background(), at, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			if !e.At.After(at) {
				t.Fatalf("ReadCommitted after %v returned %v: not after", at, e.At)
			}
			at = e.At
		}
		all = append(all, batch...)
		if len(batch) < size {
			return all
		}
	}
}

func eventIDs(events []apprelay.CommittedEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.EventID
	}
	return ids
}

// relayHarness runs the real relay loop in-process between the outbox and
// Redis, counting the rounds it completes.
type relayHarness struct {
	client    redis.UniversalClient
	keys      streams.Keys
	publisher *streams.Publisher
	rounds    atomic.Int64
}

func (f outboxFixture) startRelay(t *testing.T) *relayHarness {
	t.Helper()
	client, prefix := redistest.New(t)
	h := &relayHarness{client: client, keys: streams.Keys{Prefix: prefix}}
	h.publisher = streams.NewPublisher(client, h.keys, 100_000)
	relay, err := apprelay.New(f.outbox, h.publisher, apprelay.Config{BatchSize: 3, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leadership, err := postgres.TryLead(ctx, f.dsn)
	if err != nil || leadership == nil {
		cancel()
		t.Fatalf("TryLead = %v, %v; want the lock", leadership, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- relay.Run(ctx, func(ctx context.Context, timeout time.Duration) (bool, error) {
			h.rounds.Add(1) // the relay waits after every round that drained the outbox
			return leadership.Wait(ctx, timeout)
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay.Run: %v", err)
		}
		_ = leadership.Release(context.Background())
	})
	return h
}

// awaitRounds returns once the relay has completed two more rounds, so at
// least one whole read began after the call.
func (h *relayHarness) awaitRounds(t *testing.T) {
	t.Helper()
	target := h.rounds.Load() + 2
	testenv.WaitFor(t, 30*time.Second, "relay rounds", func() (bool, string) {
		n := h.rounds.Load()
		return n >= target, fmt.Sprintf("rounds %d, want %d", n, target)
	})
}

// published lists the event ids on the product stream, in stream order.
func (h *relayHarness) published(t *testing.T) []string {
	t.Helper()
	msgs, err := h.client.XRange(context.Background(), h.keys.EventStream(domain.ProductAggregate), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i], _ = m.Values["_watermill_message_uuid"].(string)
	}
	return ids
}

// awaitPublished waits until the product stream holds exactly want, in order.
func (h *relayHarness) awaitPublished(t *testing.T, want []string) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "stream contents", func() (bool, string) {
		got := h.published(t)
		return slices.Equal(got, want), fmt.Sprintf("stream %v\nwant   %v", got, want)
	})
}

func logIDs(entries []logEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.EventID
	}
	return out
}

// An event of a transaction that commits after a later-starting one must
// not be skipped: while A is open, B (committed) stays unread and
// unpublished; once A commits, both arrive, each once.
func TestRelayWaitsForEarlierTransactionThatCommitsLater(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	p := f.createProduct(t, "OOO-P")
	q := f.createProduct(t, "OOO-Q")
	relay := f.startRelay(t)
	before := f.logInCommitOrder(t)
	relay.awaitPublished(t, logIDs(before))
	checkpoint, err := relay.publisher.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}

	a := f.holdAppend(t, p) // A appends to P and stays open
	f.restock(t, q)         // B appends to Q and commits
	relay.awaitRounds(t)

	if got := relay.published(t); !slices.Equal(got, logIDs(before)) {
		t.Fatalf("while A is open the stream holds %v, want only %v (B must wait for A)", got, logIDs(before))
	}
	held, err := f.outbox.ReadCommitted(ctx, checkpoint, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 0 {
		t.Fatalf("ReadCommitted while A is open = %v, want nothing (B is above the oldest transaction in flight)", eventIDs(held))
	}

	a.end(t, nil)
	all := f.logInCommitOrder(t)
	if len(all) != len(before)+2 {
		t.Fatalf("log has %d events, want %d", len(all), len(before)+2)
	}
	var newer []apprelay.CommittedEvent
	testenv.WaitFor(t, 30*time.Second, "outbox yields A and B", func() (bool, string) {
		newer = f.readFrom(t, checkpoint, 100)
		return len(newer) == 2, fmt.Sprintf("%d events", len(newer))
	})
	if got, want := eventIDs(newer), logIDs(all[len(before):]); !slices.Equal(got, want) {
		t.Fatalf("ReadCommitted after A commits = %v, want %v", got, want)
	}
	if newer[0].AggregateID != p || newer[1].AggregateID != q {
		t.Fatalf("ReadCommitted returned %s then %s, want A's (%s) before B's (%s)", newer[0].AggregateID, newer[1].AggregateID, p, q)
	}
	relay.awaitPublished(t, logIDs(all))
	assertPerAggregateOrder(t, f, relay.published(t))
}

// A rolled-back transaction leaves a hole in global positions and an ended
// transaction id: neither may stall the relay or publish anything.
func TestRelaySkipsRolledBackTransactions(t *testing.T) {
	f := newOutboxFixture(t)
	p := f.createProduct(t, "RB-P")
	q := f.createProduct(t, "RB-Q")
	relay := f.startRelay(t)

	// Appended and rolled back at once.
	rollback := errors.New("roll back")
	err := f.store.Update(context.Background(), func(ctx context.Context, tx app.Tx) error {
		products, err := tx.LoadProducts(ctx, p)
		if err != nil {
			return err
		}
		if err := products[p].AddStock(5); err != nil {
			return err
		}
		if _, err := tx.Save(ctx, products[p]); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Update = %v, want the rollback", err)
	}
	f.restock(t, q)
	relay.awaitPublished(t, logIDs(f.logInCommitOrder(t)))

	// Appended, held open while later transactions commit, then rolled back.
	held := f.holdAppend(t, p)
	f.restock(t, q)
	f.restock(t, q)
	relay.awaitRounds(t)
	held.end(t, rollback)
	f.restock(t, p)
	f.restock(t, q)

	all := f.logInCommitOrder(t)
	if len(all) != 2+5 {
		t.Fatalf("log has %d events, want 7 (the rolled-back ones absent)", len(all))
	}
	relay.awaitPublished(t, logIDs(all))
	assertPerAggregateOrder(t, f, relay.published(t))
}

// assertPerAggregateOrder checks that each aggregate's versions rise by one
// along the stream.
func assertPerAggregateOrder(t *testing.T, f outboxFixture, stream []string) {
	t.Helper()
	byID := map[string]logEntry{}
	for _, e := range f.logInCommitOrder(t) {
		byID[e.EventID] = e
	}
	last := map[string]int64{}
	for i, id := range stream {
		e, ok := byID[id]
		if !ok {
			t.Fatalf("stream entry %d: event %s is not in the log", i, id)
		}
		if e.Version != last[e.AggregateID]+1 {
			t.Errorf("stream entry %d: %s version %d after version %d", i, e.AggregateID, e.Version, last[e.AggregateID])
		}
		last[e.AggregateID] = e.Version
	}
}

// The outbox orders by transaction id, which is not commit order: a
// transaction takes its id at its first write or row lock. One that takes it
// early and appends to an aggregate only after a transaction with a later id
// appended to the same aggregate and committed puts that aggregate's next
// version before the previous one. The relay publishes in outbox order, so
// the stream would carry the versions out of order (docs/guarantees.md,
// "Guarantees": per-aggregate order is preserved). These tests use the real commands or the exact
// sequence of Tx calls of one, and accept a conflict that the command
// handler would retry.

// productVersions lists P's versions in outbox order.
func (f outboxFixture) productVersions(t *testing.T, p string) []int64 {
	t.Helper()
	var versions []int64
	for _, e := range f.readAll(t, 2) {
		if e.AggregateID == p {
			versions = append(versions, e.Version)
		}
	}
	return versions
}

func (f outboxFixture) streamDetail(t *testing.T, id string) []string {
	t.Helper()
	rows, err := f.pool.Query(context.Background(), `SELECT version, event_type, tx_id::text FROM events WHERE stream_id = $1 ORDER BY version`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var detail []string
	for rows.Next() {
		var (
			v      int64
			et, tx string
		)
		if err := rows.Scan(&v, &et, &tx); err != nil {
			t.Fatal(err)
		}
		detail = append(detail, fmt.Sprintf("v%d %s (tx %s)", v, et, tx))
	}
	return detail
}

// CancelOrder locks the order (taking a transaction id), then loads and
// locks its products. A restock of a product that commits in between
// appends the product's next version with a later transaction id.
func TestOutboxKeepsAggregateOrderWhenCancelTookItsIDFirst(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	p := f.createProduct(t, "XID-CANCEL")
	customer, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "cancel@example.com", Name: "Cancel"})
	if err != nil {
		t.Fatal(err)
	}
	placed, err := f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: customer.ID, Lines: []domain.LineRequest{{ProductID: p, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	orderID := placed.Order.ID

	locked, restocked := make(chan struct{}), make(chan struct{})
	first := true
	cancelled := make(chan error, 1)
	go func() {
		// The Tx calls of app's CancelOrder, paused between its two loads
		// on the first attempt; a conflict is retried as the handler does.
		for attempt := 0; ; attempt++ {
			err := f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
				o, err := tx.LoadOrder(ctx, orderID)
				if err != nil {
					return err
				}
				if first {
					first = false
					close(locked)
					<-restocked
				}
				products, err := tx.LoadProducts(ctx, p)
				if err != nil {
					return err
				}
				if err := o.Cancel(products); err != nil {
					return err
				}
				_, err = tx.Save(ctx, o, products[p])
				return err
			})
			if !errors.Is(err, app.ErrConflict) || attempt == 4 {
				cancelled <- err
				return
			}
		}
	}()
	<-locked
	f.restock(t, p)
	close(restocked)
	if err := <-cancelled; err != nil {
		t.Fatalf("cancel: %v", err)
	}

	if got, want := f.productVersions(t, p), []int64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("outbox yields product P's versions as %v, want %v: the relay would publish them out of order\nP's log: %v",
			got, want, f.streamDetail(t, p))
	}
}

// An order of A and P locks A (taking a transaction id), then queues for P
// behind a restock of P that has no transaction id yet: the restock gets a
// later id but appends first.
func TestOutboxKeepsAggregateOrderWhenOrderQueuedBehindRestock(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	// Order lines are locked in id order, so the order locks a before p.
	ids := []string{f.createProduct(t, "XID-1"), f.createProduct(t, "XID-2")}
	slices.Sort(ids)
	a, p := ids[0], ids[1]
	customer, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "xid@example.com", Name: "Xid"})
	if err != nil {
		t.Fatal(err)
	}

	// T0 holds P's row lock.
	holder := f.holdAppend(t, p)
	// T1 (a restock of P) queues for P's lock: it has no transaction id yet.
	restocked := make(chan error, 1)
	go func() {
		_, err := f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p, Quantity: 1})
		restocked <- err
	}()
	f.awaitLockWaiters(t, 1)
	// T2 (an order of A and P) locks A, which gives it a transaction id,
	// then queues for P behind T1.
	ordered := make(chan error, 1)
	go func() {
		_, err := f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: customer.ID, Lines: []domain.LineRequest{
			{ProductID: a, Quantity: 1}, {ProductID: p, Quantity: 1},
		}})
		ordered <- err
	}()
	f.awaitLockWaiters(t, 2)
	// T0 commits: T1 takes P (and a transaction id above T2's), appends and
	// commits; then T2 appends P's next version.
	holder.end(t, nil)
	if err := <-restocked; err != nil {
		t.Fatal(err)
	}
	if err := <-ordered; err != nil {
		t.Fatal(err)
	}

	if got, want := f.productVersions(t, p), []int64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("outbox yields product P's versions as %v, want %v: the relay would publish them out of order\nP's log: %v",
			got, want, f.streamDetail(t, p))
	}
}

// Real commands racing on one hot product: cancels (order lock first, then
// the product) and restocks. Each command must succeed (a lock wait is not
// a failure) and the outbox must yield the product's versions in order.
func TestOutboxKeepsAggregateOrderUnderConcurrentCancelsAndRestocks(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	p := f.createProduct(t, "HOT")
	customer, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "hot@example.com", Name: "Hot"})
	if err != nil {
		t.Fatal(err)
	}
	var orders []string
	for range 60 {
		o, err := f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: customer.ID, Lines: []domain.LineRequest{{ProductID: p, Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		orders = append(orders, o.Order.ID)
	}

	var (
		mu       sync.Mutex
		failures = map[string]int{}
		wg       sync.WaitGroup
		stop     = make(chan struct{})
	)
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failures[what+": "+err.Error()]++
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p, Quantity: 1}); err != nil {
					fail("restock", err)
				}
			}
		}()
	}
	var cancels sync.WaitGroup
	for i := range 4 {
		cancels.Add(1)
		go func() {
			defer cancels.Done()
			for j := i; j < len(orders); j += 4 {
				if _, err := f.app.Commands.CancelOrder.Handle(ctx, app.OrderTransition{OrderID: orders[j]}); err != nil {
					fail("cancel", err)
				}
			}
		}()
	}
	cancels.Wait()
	close(stop)
	wg.Wait()

	for what, n := range failures {
		t.Errorf("%d× %s", n, what)
	}
	versions := f.productVersions(t, p)
	var behind []string
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			behind = append(behind, fmt.Sprintf("v%d after v%d", versions[i], versions[i-1]))
		}
	}
	if len(behind) > 0 {
		t.Errorf("outbox yields %d of product P's %d versions out of order: %v", len(behind), len(versions), behind)
	}
}

// awaitLockWaiters waits until n sessions of the test database wait for a lock.
func (f outboxFixture) awaitLockWaiters(t *testing.T, n int) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, "lock waiters", func() (bool, string) {
		var got int
		err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		return got == n, fmt.Sprintf("%d waiting", got)
	})
}

// Stats reports a transaction holding an id as in flight, and a committed
// but unpublished event as backlog.
func TestOutboxStats(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	p := f.createProduct(t, "STATS-P")

	stats := f.awaitStats(t, apprelay.LogPosition{}, func(s apprelay.Backlog) bool { return s.Backlog == 1 })
	if stats.OldestUnpublished.IsZero() {
		t.Errorf("Stats from the start = %+v, want the backlog's commit time", stats)
	}
	all := f.readAll(t, 10)
	stats, err := f.outbox.Stats(ctx, all[len(all)-1].At)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Backlog != 0 || !stats.OldestUnpublished.IsZero() {
		t.Errorf("Stats at the end = %+v, want no backlog", stats)
	}

	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	f.restock(t, p)
	testenv.WaitFor(t, 30*time.Second, "oldest in-flight age", func() (bool, string) {
		stats, err = f.outbox.Stats(ctx, all[len(all)-1].At)
		if err != nil {
			t.Fatal(err)
		}
		return stats.OldestInFlight > 0, fmt.Sprintf("%+v", stats)
	})
	if stats.Backlog != 0 {
		t.Errorf("Stats with an older transaction open = %+v, want the restock held back (backlog 0)", stats)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	f.awaitStats(t, all[len(all)-1].At, func(s apprelay.Backlog) bool { return s.Backlog == 1 })
}

// awaitStats polls Stats until ok holds: another test's transaction on the
// same server can hold the horizon back for a moment.
func (f outboxFixture) awaitStats(t *testing.T, cp apprelay.LogPosition, ok func(apprelay.Backlog) bool) apprelay.Backlog {
	t.Helper()
	var stats apprelay.Backlog
	testenv.WaitFor(t, 30*time.Second, "outbox stats", func() (bool, string) {
		var err error
		if stats, err = f.outbox.Stats(context.Background(), cp); err != nil {
			t.Fatal(err)
		}
		return ok(stats), fmt.Sprintf("%+v", stats)
	})
	return stats
}

// One relay leads: a second TryLead is refused until the first lets go, and
// the leader wakes on an append's notification.
func TestTryLeadIsExclusiveAndWakesOnAppend(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	first, err := postgres.TryLead(ctx, f.dsn)
	if err != nil || first == nil {
		t.Fatalf("first TryLead = %v, %v; want the lock", first, err)
	}
	second, err := postgres.TryLead(ctx, f.dsn)
	if err != nil || second != nil {
		t.Fatalf("second TryLead while the first holds the lock = %v, %v; want nil, nil", second, err)
	}

	if notified, err := first.Wait(ctx, 50*time.Millisecond); err != nil || notified {
		t.Fatalf("Wait with nothing appended = %v, %v; want a timeout", notified, err)
	}
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		f.createProduct(t, "LEAD-1")
	}()
	notified, err := first.Wait(ctx, 30*time.Second)
	if err != nil || !notified {
		t.Fatalf("Wait across an append = %v, %v; want a notification", notified, err)
	}
	<-appended

	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	var next *postgres.Leadership
	testenv.WaitFor(t, 10*time.Second, "lock after release", func() (bool, string) {
		next, err = postgres.TryLead(ctx, f.dsn)
		if err != nil {
			t.Fatal(err)
		}
		return next != nil, "still held"
	})
	_ = next.Release(ctx)
}

// A checkpoint must be an event of the log below every transaction still to
// come: a made-up position, or an event whose id is above the counter (the
// log after a logical restore, whose counter restarted below the restored
// ids), is not one.
func TestOutboxHoldsOnlyPositionsItCanContinueFrom(t *testing.T) {
	f := newOutboxFixture(t)
	ctx := context.Background()
	f.createProduct(t, "HOLDS-1")
	events := f.readAll(t, 100)
	last := events[len(events)-1].At

	holds := func(p apprelay.LogPosition) bool {
		t.Helper()
		held, err := f.outbox.Holds(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	if !holds(apprelay.LogPosition{}) {
		t.Error("Holds(start of the log) = false, want true")
	}
	if !holds(last) {
		t.Errorf("Holds(%s, the last event) = false, want true", last)
	}
	if p := (apprelay.LogPosition{TxID: last.TxID, Position: last.Position + 1_000_000}); holds(p) {
		t.Errorf("Holds(%s, no such event) = true, want false", p)
	}

	// As after a logical restore: the event's id is above the counter.
	var ahead int64
	err := f.pool.QueryRow(ctx, `UPDATE events SET tx_id = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8
		WHERE global_position = $1 RETURNING tx_id::text::bigint`, last.Position).Scan(&ahead)
	if err != nil {
		t.Fatal(err)
	}
	if p := (apprelay.LogPosition{TxID: uint64(ahead), Position: last.Position}); holds(p) {
		t.Errorf("Holds(%s, an event above the transaction counter) = true, want false", p)
	}
}
