package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
)

type fixture struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	app   *app.Application
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	return fixture{pool: e.Pool, store: e.Store, app: e.App}
}

func (f fixture) product(t *testing.T, sku string, stock int64) app.Product {
	t.Helper()
	p, err := f.app.Commands.CreateProduct.Handle(context.Background(), app.CreateProduct{
		SKU: sku, Name: "Product " + sku, PriceCents: 1250, Currency: "EUR", InitialStock: stock,
	})
	if err != nil {
		t.Fatalf("create product %s: %v", sku, err)
	}
	return p
}

func (f fixture) customer(t *testing.T, email string) app.Customer {
	t.Helper()
	c, err := f.app.Commands.RegisterCustomer.Handle(context.Background(), app.RegisterCustomer{Email: email, Name: "Customer " + email})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return c
}

func (f fixture) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := f.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	product := f.product(t, "SCARCE-1", 20)
	customer := f.customer(t, "buyer@example.com")

	const buyers = 100
	var mu sync.Mutex
	outcomes := map[string]int{}
	var wg sync.WaitGroup
	for range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.app.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{
				CustomerID: customer.ID, Lines: []domain.LineRequest{{ProductID: product.ID, Quantity: 1}},
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				outcomes["placed"]++
			case errors.Is(err, domain.ErrInsufficientStock):
				outcomes["insufficient-stock"]++
			default:
				outcomes[err.Error()]++
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"placed": 20, "insufficient-stock": 80}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	got, _, err := f.app.Queries.Product.ByID(ctx, product.ID)
	if err != nil {
		t.Fatal(err)
	}
	if *got.StockLevel != 0 {
		t.Errorf("stock level = %d, want 0", *got.StockLevel)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'StockReserved'`, product.ID); n != 20 {
		t.Errorf("StockReserved events = %d, want 20", n)
	}
	if n := f.count(t, `SELECT count(*) FROM orders`); n != 20 {
		t.Errorf("orders = %d, want 20", n)
	}
}

func TestIdempotencyKeyRepeatedConcurrentlyPlacesOneOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	product := f.product(t, "IDEM-1", 100)
	customer := f.customer(t, "idem@example.com")
	cmd := app.PlaceOrder{
		CustomerID: customer.ID, Lines: []domain.LineRequest{{ProductID: product.ID, Quantity: 2}},
		IdempotencyKey: "key-1", Caller: "tester",
	}

	var wg sync.WaitGroup
	results := make([]app.PlacedOrder, 10)
	errs := make([]error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = f.app.Commands.PlaceOrder.Handle(ctx, cmd)
		}()
	}
	wg.Wait()

	orderIDs := map[string]bool{}
	fresh := 0
	for i, err := range errs {
		switch {
		case err == nil:
			orderIDs[results[i].Order.ID] = true
			if !results[i].Replayed {
				fresh++
			}
		case errors.Is(err, app.ErrIdempotencyInFlight):
		default:
			t.Errorf("request %d: %v", i, err)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM orders`); n != 1 {
		t.Errorf("orders = %d, want 1", n)
	}
	if fresh != 1 || len(orderIDs) != 1 {
		t.Errorf("fresh answers = %d, distinct orders answered = %d; want 1 and 1", fresh, len(orderIDs))
	}

	again, err := f.app.Commands.PlaceOrder.Handle(ctx, cmd)
	if err != nil || !again.Replayed || !orderIDs[again.Order.ID] {
		t.Errorf("repeat after completion = %+v, %v; want the same order replayed", again, err)
	}
	other := cmd
	other.Lines = []domain.LineRequest{{ProductID: product.ID, Quantity: 3}}
	if _, err := f.app.Commands.PlaceOrder.Handle(ctx, other); !errors.Is(err, app.ErrIdempotencyKeyReused) {
		t.Errorf("same key, other body: err = %v, want ErrIdempotencyKeyReused", err)
	}
	if n := f.count(t, `SELECT count(*) FROM orders`); n != 1 {
		t.Errorf("orders after repeats = %d, want 1", n)
	}
}

func TestAppendAtSameExpectedVersionOneWins(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.customer(t, "race@example.com")

	loadedA, loadedB := make(chan struct{}), make(chan struct{})
	savedA := make(chan struct{})
	errc := make(chan error, 2)
	update := func(name string, loaded, waitFor chan struct{}, saved chan struct{}) {
		errc <- f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			cust, err := tx.LoadCustomer(ctx, c.ID)
			if err != nil {
				return err
			}
			close(loaded)
			<-waitFor
			if err := cust.UpdateProfile(nil, &name); err != nil {
				return err
			}
			if _, err := tx.Save(ctx, cust); err != nil {
				return err
			}
			if saved != nil {
				close(saved)
			}
			return nil
		})
	}
	go update("Writer A", loadedA, loadedB, savedA)
	<-loadedA
	go update("Writer B", loadedB, savedA, nil)

	var conflicts, wins int
	for range 2 {
		switch err := <-errc; {
		case err == nil:
			wins++
		case errors.Is(err, app.ErrConflict):
			conflicts++
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 || conflicts != 1 {
		t.Fatalf("wins = %d, conflicts = %d; want 1 and 1", wins, conflicts)
	}
	if n := f.count(t, `SELECT count(*) FROM events WHERE stream_id = $1`, c.ID); n != 2 {
		t.Errorf("events in stream = %d, want 2 (registration and the winner's update)", n)
	}
	view, _, err := f.app.Queries.Customer.Handle(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := view.Value()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Writer A" || got.Version != 2 {
		t.Errorf("customer = %q at version %d, want the winner's \"Writer A\" at 2", got.Name, got.Version)
	}
}

func TestDuplicatesAreRefusedCaseInsensitively(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.product(t, "Mixed-Case", 1)
	f.customer(t, "Ada@Example.com")
	if _, err := f.app.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "mixed-CASE", Name: "x", Currency: "EUR"}); !errors.Is(err, app.ErrDuplicateSKU) {
		t.Errorf("duplicate SKU: err = %v, want ErrDuplicateSKU", err)
	}
	if _, err := f.app.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "ada@example.COM", Name: "x"}); !errors.Is(err, app.ErrDuplicateEmail) {
		t.Errorf("duplicate e-mail: err = %v, want ErrDuplicateEmail", err)
	}
	if n := f.count(t, `SELECT count(*) FROM events`); n != 2 {
		t.Errorf("events = %d, want 2: a refused command writes nothing", n)
	}
}

func TestSnapshotsBoundTheFold(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.store.SnapshotEvery = 10
	p := f.product(t, "SNAP-1", 0)
	for range 25 {
		if _, err := f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p.ID, Quantity: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if v := f.count(t, `SELECT version FROM snapshots WHERE stream_id = $1`, p.ID); v != 20 {
		t.Errorf("snapshot version = %d, want 20", v)
	}
	// Corrupt the events the snapshot covers: a load that still works and is
	// right can only have come from the snapshot.
	if _, err := f.pool.Exec(ctx, `UPDATE events SET data = '{"quantity": 1000}' WHERE stream_id = $1 AND version <= 20 AND event_type = 'StockAdded'`, p.ID); err != nil {
		t.Fatal(err)
	}
	err := f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
		products, err := tx.LoadProducts(ctx, p.ID)
		if err != nil {
			return err
		}
		got := products[p.ID]
		if got.Version() != 26 || got.State().Available != 50 {
			t.Errorf("loaded version %d with %d available; want 26 and 50", got.Version(), got.State().Available)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotOfAnotherStateSchemaIsIgnored: a snapshot whose state schema
// is not the one this build reads (here a shape of its own, as a build with
// another ProductState would write) is never decoded: the aggregate is
// folded from all its events, and the next save writes a fresh snapshot.
func TestSnapshotOfAnotherStateSchemaIsIgnored(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.store.SnapshotEvery = 10
	p := f.product(t, "SNAP-OLD", 0)
	c := f.customer(t, "snap-old@example.com")
	for i := range 12 {
		if _, err := f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p.ID, Quantity: 2}); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("Name %d", i)
		if _, err := f.app.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c.ID, Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	// Versions: product 13 (snapshot at 10), customer 13 (snapshot at 10).
	if n := f.count(t, `SELECT count(*) FROM snapshots WHERE schema_version = 1 AND version = 10 AND stream_id IN ($1, $2)`, p.ID, c.ID); n != 2 {
		t.Fatalf("%d snapshots of schema 1 at version 10, want 2", n)
	}
	// The foreign snapshots claim to cover every event so far: only a load
	// that ignores them folds the events.
	if _, err := f.pool.Exec(ctx, `UPDATE snapshots SET schema_version = $2, version = 13,
		state = '{"sku": "SNAP-OLD", "price": {"amount": 1, "currency": "EUR"}, "available": 999999, "name": "From a snapshot", "email": "x@y.z"}'
		WHERE stream_id = ANY($1::uuid[])`, []string{p.ID, c.ID}, domain.ProductStateSchema+1); err != nil {
		t.Fatal(err)
	}
	err := f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
		products, err := tx.LoadProducts(ctx, p.ID)
		if err != nil {
			return err
		}
		if got := products[p.ID]; got.Version() != 13 || got.State().Available != 24 || got.State().PriceCents != 1250 {
			t.Errorf("product loaded at version %d with %d available at %d cents; want 13, 24, 1250 (folded from the events)",
				got.Version(), got.State().Available, got.State().PriceCents)
		}
		cust, err := tx.LoadCustomer(ctx, c.ID)
		if err != nil {
			return err
		}
		if cust.Version() != 13 || cust.State().Name != "Name 11" {
			t.Errorf("customer loaded at version %d named %q; want 13, \"Name 11\"", cust.Version(), cust.State().Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The next save replaces the stale snapshot, though no interval was crossed.
	if _, err := f.app.Commands.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: p.ID, Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	var (
		version, schema int64
		available       int64
	)
	if err := f.pool.QueryRow(ctx, `SELECT version, schema_version, (state->>'available')::bigint FROM snapshots WHERE stream_id = $1`, p.ID).
		Scan(&version, &schema, &available); err != nil {
		t.Fatal(err)
	}
	if version != 14 || schema != domain.ProductStateSchema || available != 25 {
		t.Errorf("snapshot after the save: version %d, schema %d, %d available; want 14, %d, 25", version, schema, available, domain.ProductStateSchema)
	}
}

// TestReadTablesEqualFoldOfLog runs a random mix of commands, then folds the
// whole log into a fresh database: its read tables must equal the live ones.
func TestReadTablesEqualFoldOfLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var products, customers, orders []string
	for i := range 12 {
		products = append(products, f.product(t, fmt.Sprintf("FOLD-%d", i), int64(rng.IntN(20))).ID)
	}
	for i := range 6 {
		customers = append(customers, f.customer(t, fmt.Sprintf("fold%d@example.com", i)).ID)
	}
	c := f.app.Commands
	for range 300 {
		var err error
		pick := func(ids []string) string { return ids[rng.IntN(len(ids))] }
		switch rng.IntN(8) {
		case 0:
			name := fmt.Sprintf("Renamed %d", rng.IntN(1000))
			_, err = c.ChangeProductDetails.Handle(ctx, app.ChangeProductDetails{ProductID: pick(products), Name: &name})
		case 1:
			_, err = c.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: pick(products), PriceCents: int64(rng.IntN(5000))})
		case 2:
			_, err = c.RestockProduct.Handle(ctx, app.RestockProduct{ProductID: pick(products), Quantity: int64(1 + rng.IntN(5))})
		case 3:
			name := fmt.Sprintf("Name %d", rng.IntN(1000))
			_, err = c.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: pick(customers), Name: &name})
		case 4, 5:
			var placed app.PlacedOrder
			placed, err = c.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: pick(customers), Lines: []domain.LineRequest{
				{ProductID: products[rng.IntN(6)], Quantity: int64(1 + rng.IntN(3))},
				{ProductID: products[6+rng.IntN(6)], Quantity: int64(1 + rng.IntN(3))},
			}})
			if err == nil {
				orders = append(orders, placed.Order.ID)
			}
		case 6, 7:
			if len(orders) == 0 {
				continue
			}
			id := app.OrderTransition{OrderID: pick(orders)}
			switch rng.IntN(3) {
			case 0:
				_, err = c.PayOrder.Handle(ctx, id)
			case 1:
				_, err = c.ShipOrder.Handle(ctx, id)
			default:
				_, err = c.CancelOrder.Handle(ctx, id)
			}
		}
		if err != nil && !errors.Is(err, domain.ErrInsufficientStock) && !errors.Is(err, domain.ErrIllegalTransition) {
			t.Fatalf("command: %v", err)
		}
	}
	if len(orders) == 0 {
		t.Fatal("the mix placed no order; the comparison would prove little")
	}

	rebuilt, _ := pgtest.NewPool(t)
	n, err := f.store.RebuildReadTables(ctx, rebuilt, 64)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.count(t, `SELECT count(*) FROM events`); n != want {
		t.Errorf("rebuild folded %d events, the log holds %d", n, want)
	}
	for _, table := range []string{"products", "customers", "orders", "order_lines", "catalog_version"} {
		live, folded := dumpTable(t, f.pool, table), dumpTable(t, rebuilt, table)
		if len(live) == 0 {
			t.Errorf("%s is empty", table)
		}
		if diff := cmp.Diff(live, folded); diff != "" {
			t.Errorf("%s: live (-) vs folded from the log (+):\n%s", table, diff)
		}
	}
}

func dumpTable(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT to_jsonb(t)::text FROM `+table+` t ORDER BY to_jsonb(t)::text`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadAfterLockWaitSeesTheHoldersCommit: a command that waited for a
// product's lock must load the product as the lock holder committed it, not
// as it was when the command began waiting; otherwise every contended order
// would conflict on its append and be retried.
func TestLoadAfterLockWaitSeesTheHoldersCommit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.product(t, "LOCKWAIT-1", 10)

	holding, release := make(chan struct{}), make(chan struct{})
	holderDone := make(chan error, 1)
	go func() {
		holderDone <- f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			products, err := tx.LoadProducts(ctx, p.ID)
			if err != nil {
				return err
			}
			close(holding)
			<-release
			if err := products[p.ID].AddStock(5); err != nil {
				return err
			}
			_, err = tx.Save(ctx, products[p.ID])
			return err
		})
	}()
	<-holding

	waiterDone := make(chan error, 1)
	var loadedVersion int64
	var loadedAvailable int64
	go func() {
		waiterDone <- f.store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			products, err := tx.LoadProducts(ctx, p.ID)
			if err != nil {
				return err
			}
			loadedVersion, loadedAvailable = products[p.ID].Version(), products[p.ID].State().Available
			return nil
		})
	}()
	// Release the holder only once the waiter is blocked on the row lock.
	deadline := time.Now().Add(10 * time.Second)
	for f.count(t, `SELECT count(*) FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second transaction never waited for the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if err := <-holderDone; err != nil {
		t.Fatal(err)
	}
	if err := <-waiterDone; err != nil {
		t.Fatal(err)
	}
	if loadedVersion != 2 || loadedAvailable != 15 {
		t.Errorf("after the wait the product loaded at version %d with %d available; want the holder's commit: version 2, 15", loadedVersion, loadedAvailable)
	}
}
