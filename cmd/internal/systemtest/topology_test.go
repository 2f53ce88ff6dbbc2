package systemtest_test

// The replicated topology (docs/guarantees.md, "Topology") on one machine: two API instances
// (the client alternates between them), two projectors in one consumer
// group and two relays, active and standby, all real processes under a
// mixed load. A write through one API is read back through the other at
// once; the active relay is killed mid-load; at the end the streams hold
// every committed event exactly once and verify finds no drift.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/adapters/redis/redistest"
	"github.com/orderflow/orderflow/cmd/internal/systemtest"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
)

func TestReplicatedTopology(t *testing.T) {
	bin := testenv.Binaries(t)
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := pgtest.NewDatabase(t)
	rdb, prefix := redistest.New(t)
	sys := &systemtest.System{Bin: bin, DatabaseURL: dsn, RedisURL: redistest.URL(t), KeyPrefix: prefix,
		StreamShards: redistest.StreamShards(t), LogDir: t.TempDir()}

	must := func(p *process.Process, err error) *process.Process {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	api1, api2 := must(sys.NewAPI("api-1", nil)), must(sys.NewAPI("api-2", nil))
	relay1, relay2 := must(sys.NewRelay("relay-1", nil)), must(sys.NewRelay("relay-2", nil))
	proj1, proj2 := must(sys.NewProjector("projector-1", nil)), must(sys.NewProjector("projector-2", nil))
	testenv.Track(t, api1, api2, relay1, relay2, proj1, proj2)
	// The first API migrates the database alone; the rest start together.
	testenv.StartAll(t, api1)
	testenv.StartAll(t, api2, relay1, relay2, proj1, proj2)

	token, err := sys.AdminToken(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := systemtest.NewClient(token, api1.URL(), api2.URL())
	load := &systemtest.Load{Client: client, NamePrefix: "load-", Workers: 3, Pace: 5 * time.Millisecond, LostAnswers: 0.1}
	if err := load.Seed(ctx, 10, 10); err != nil {
		t.Fatal(err)
	}

	// The read-your-writes checker owns its products (named to sort first,
	// so they are on page one) and its customer; the load never writes them.
	ryw := &readYourWrites{t: t, ctx: ctx, c: client, apis: [2]string{api1.URL(), api2.URL()}}
	ryw.setup(3)

	loadCtx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(loadCtx) })
	defer func() {
		stopLoad()
		wg.Wait()
	}()

	// Rounds of writes read back through the other instance; the active
	// relay is killed after a third of them.
	const rounds = 24
	var killed, standby *process.Process
	for i := range rounds {
		ryw.round(i)
		if i == rounds/3 {
			killed, standby = activeRelay(t, ctx, relay1, relay2)
			killed.Kill()
			t.Logf("killed the active relay %s after round %d", killed.Name, i)
		}
	}
	testenv.WaitFor(t, 20*time.Second, "the standby relay takes over", func() (bool, string) {
		v, err := standby.Metric(ctx, "orderflow_relay_active")
		return err == nil && v == 1, fmt.Sprintf("%s orderflow_relay_active = %v (%v)", standby.Name, v, err)
	})
	// Writes after the takeover still flow.
	for i := range 4 {
		ryw.round(rounds + i)
	}
	stopLoad()
	wg.Wait()
	if err := killed.Start(); err != nil { // back as the standby, stopped cleanly at the end
		t.Fatal(err)
	}

	resolveCtx, cancelResolve := context.WithTimeout(ctx, 30*time.Second)
	defer cancelResolve()
	if left := load.Resolve(resolveCtx); left > 0 {
		t.Fatalf("%d order placements never got a definite answer", left)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	checker := systemtest.Checker{Pool: pool, Redis: rdb, Keys: sys.Keys()}
	took, err := systemtest.Converge(ctx, sys, checker, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkAll(t, ctx, checker, load.Acknowledged())
	w := client.Stats.Snapshot().Window(systemtest.Snapshot{})
	ack := load.Acknowledged()
	t.Logf("%d requests (errors %s); %d orders, %d answered Idempotent-Replayed to a retry; %d read-your-writes rounds; converged %s after the load stopped; %s after the build",
		w.Requests(), w.Errors(), len(ack.Orders), ack.Replayed, rounds+4, took.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	if n := w.ServerErrors(); n > 0 {
		t.Errorf("the API answered %d 5xx: %v", n, client.Stats.Samples())
	}
}

// checkAll runs every check of the Checker.
func checkAll(t *testing.T, ctx context.Context, c systemtest.Checker, ack systemtest.Acknowledged) {
	t.Helper()
	sr, err := c.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sr.OK() {
		t.Errorf("streams: %s", sr)
	}
	or, err := c.Orders(ctx, ack)
	if err != nil {
		t.Fatal(err)
	}
	if !or.OK() {
		t.Errorf("orders: %s; lost %v; extra %v; shared keys %v", or, or.Lost, or.Extra, or.SharedKeys)
	}
	st, err := c.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Mismatched {
		t.Errorf("stock: %s", m)
	}
	problems, err := c.Acknowledged(ctx, ack)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("acknowledged writes: %s", p)
	}
}

// activeRelay returns the relay holding the lock and the other one.
func activeRelay(t *testing.T, ctx context.Context, a, b *process.Process) (active, standby *process.Process) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, "one relay is active", func() (bool, string) {
		va, errA := a.Metric(ctx, "orderflow_relay_active")
		vb, errB := b.Metric(ctx, "orderflow_relay_active")
		switch {
		case errA == nil && va == 1:
			active, standby = a, b
		case errB == nil && vb == 1:
			active, standby = b, a
		}
		return active != nil, fmt.Sprintf("%v %v %v %v", va, errA, vb, errB)
	})
	return active, standby
}

// readYourWrites writes through one API instance and reads through the
// other at once, never accepting the state from before the write.
type readYourWrites struct {
	t        *testing.T
	ctx      context.Context
	c        *systemtest.Client
	apis     [2]string
	products []string
	customer string
}

type resource struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"priceCents"`
	Status     string `json:"status"`
	Version    int64  `json:"version"`
}

type page struct {
	Items []resource `json:"items"`
}

func (r *readYourWrites) call(base, method, path string, body any, auth bool, want int, out any) {
	r.t.Helper()
	resp := r.c.DoAt(r.ctx, base, method, path, body, auth)
	if resp.Status != want {
		r.t.Fatalf("%s %s%s: HTTP %d (%v), want %d: %s", method, base, path, resp.Status, resp.Err, want, resp.Body)
	}
	if out != nil {
		if err := resp.Decode(out); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *readYourWrites) setup(products int) {
	for i := range products {
		var p resource
		r.call(r.apis[0], http.MethodPost, "/api/v1/products", map[string]any{
			"sku": fmt.Sprintf("RYW-%d-%d", i, time.Now().UnixNano()), "name": fmt.Sprintf("aaa ryw %d", i),
			"priceCents": 500, "currency": "EUR", "initialStock": 1_000_000,
		}, true, http.StatusCreated, &p)
		r.products = append(r.products, p.ID)
	}
	var c resource
	r.call(r.apis[0], http.MethodPost, "/api/v1/customers", map[string]any{
		"email": fmt.Sprintf("ryw-%d@systemtest.example", time.Now().UnixNano()), "name": "RYW",
	}, true, http.StatusCreated, &c)
	r.customer = c.ID
}

// round writes through instance i%2 and reads through the other: a price
// change (product, list page one, public catalogue), a profile change, an
// order placed and paid (the customer's order summaries).
func (r *readYourWrites) round(i int) {
	t := r.t
	t.Helper()
	w, rd := r.apis[i%2], r.apis[(i+1)%2]
	product := r.products[i%len(r.products)]
	price := int64(1000 + i)

	var changed resource
	r.call(w, http.MethodPut, "/api/v1/products/"+product+"/price", map[string]any{"priceCents": price}, true, http.StatusOK, &changed)
	var got resource
	r.call(rd, http.MethodGet, "/api/v1/products/"+product, nil, false, http.StatusOK, &got)
	if got.PriceCents != price || got.Version < changed.Version {
		t.Errorf("round %d: product read through the other API: price %d v%d, want %d v≥%d", i, got.PriceCents, got.Version, price, changed.Version)
	}
	for _, path := range []string{"/api/v1/products", "/public/products"} {
		var p page
		r.call(rd, http.MethodGet, path, nil, false, http.StatusOK, &p)
		j := slices.IndexFunc(p.Items, func(x resource) bool { return x.ID == product })
		if j < 0 || p.Items[j].PriceCents != price {
			t.Errorf("round %d: %s through the other API: product %s missing or at the old price (%+v)", i, path, product, p.Items)
		}
	}

	name := fmt.Sprintf("RYW round %d", i)
	r.call(w, http.MethodPatch, "/api/v1/customers/"+r.customer, map[string]any{"name": name}, true, http.StatusOK, nil)
	var cust resource
	r.call(rd, http.MethodGet, "/api/v1/customers/"+r.customer, nil, true, http.StatusOK, &cust)
	if cust.Name != name {
		t.Errorf("round %d: customer read through the other API: name %q, want %q", i, cust.Name, name)
	}

	var order resource
	r.call(w, http.MethodPost, "/api/v1/orders", map[string]any{
		"customerId": r.customer, "lines": []map[string]any{{"productId": product, "quantity": 1}},
	}, true, http.StatusCreated, &order)
	r.summary(i, rd, order.ID, "placed")
	r.call(w, http.MethodPost, "/api/v1/orders/"+order.ID+"/pay", nil, true, http.StatusOK, nil)
	r.summary(i, rd, order.ID, "paid")
}

func (r *readYourWrites) summary(i int, base, order, status string) {
	r.t.Helper()
	var p page
	r.call(base, http.MethodGet, "/api/v1/customers/"+r.customer+"/orders", nil, true, http.StatusOK, &p)
	j := slices.IndexFunc(p.Items, func(x resource) bool { return x.ID == order })
	if j < 0 || p.Items[j].Status != status {
		r.t.Errorf("round %d: order summaries through the other API: order %s missing or not %s", i, order, status)
	}
}
