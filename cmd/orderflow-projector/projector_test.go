package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/orderflow/orderflow/adapters/streams"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/relay"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/internal/testenv/process"
	"github.com/orderflow/orderflow/projections"
)

// The projector as it is deployed: orderflow-api, orderflow-relay and
// orderflow-projector as separate processes over one PostgreSQL database and
// one Redis keyspace, killed and restarted like in production.

// waitLimit bounds every wait for a condition.
const waitLimit = 60 * time.Second

func TestMain(m *testing.M) { testenv.Main(m) }

// start runs one of the binaries the way StartProcess does (ready, on
// loopback, stopped on cleanup), with settings given as KEY=VALUE.
func start(t *testing.T, name, path, addrEnv string, env []string, args ...string) *process.Process {
	t.Helper()
	return testenv.StartProcess(t, process.Spec{Name: name, Path: path, Args: args, Settings: settingsOf(env), AddrEnv: addrEnv})
}

// runOnce runs a subcommand to its end and returns its stdout, stderr and exit code.
func runOnce(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return testenv.RunOnce(t, process.Spec{Name: "orderflow-projector", Path: testenv.Binaries(t).Projector, Args: args, Settings: settingsOf(env)})
}

// settingsOf turns KEY=VALUE pairs into settings; a later pair wins.
func settingsOf(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// deployment is one test's database and keyspace, and in-process access to
// both. Its commands evict what they change, as the API does, so the
// projector writes over tombstones as it would in production.
type deployment struct{ *testenv.Env }

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	return &deployment{testenv.New(t, testenv.Options{Cache: true})}
}

// env is what every binary of this deployment is started with.
func (d *deployment) env(t *testing.T, extra ...string) []string {
	env := []string{
		"ORDERFLOW_HTTP_ADDR=127.0.0.1:0",
		"ORDERFLOW_RELAY_HTTP_ADDR=127.0.0.1:0",
		"ORDERFLOW_PROJECTOR_HTTP_ADDR=127.0.0.1:0",
		"ORDERFLOW_JWT_SECRET=" + apiTestSecret,
		"ORDERFLOW_RATE_LIMIT=0",
	}
	for k, v := range d.Settings() {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

func (d *deployment) startAPI(t *testing.T) *process.Process {
	return start(t, "orderflow-api", testenv.Binaries(t).API, "ORDERFLOW_HTTP_ADDR", d.env(t), "serve")
}

func (d *deployment) startRelay(t *testing.T) *process.Process {
	return start(t, "orderflow-relay", testenv.Binaries(t).Relay, "ORDERFLOW_RELAY_HTTP_ADDR", d.env(t, "ORDERFLOW_RELAY_POLL_INTERVAL=50ms"))
}

func (d *deployment) startProjector(t *testing.T, consumer string, extra ...string) *process.Process {
	env := d.env(t, append([]string{"ORDERFLOW_CONSUMER=" + consumer}, extra...)...)
	return start(t, "orderflow-projector "+consumer, testenv.Binaries(t).Projector, "ORDERFLOW_PROJECTOR_HTTP_ADDR", env, "run")
}

// caughtUp holds once every event is on the streams (extra entries were
// added by hand) and the group has delivered and acknowledged every entry.
func (d *deployment) caughtUp(t *testing.T, extra int64) func() (bool, string) {
	return func() (bool, string) {
		ctx := context.Background()
		var events, entries int64
		if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
			t.Fatal(err)
		}
		for _, s := range d.Keys.EventStreams() {
			n, err := d.Redis.XLen(ctx, s).Result()
			if err != nil {
				t.Fatal(err)
			}
			entries += n
		}
		if entries != events+extra {
			return false, fmt.Sprintf("%d stream entries, want %d events + %d added", entries, events, extra)
		}
		lags, err := streams.ConsumerLag(ctx, d.Redis, d.Keys, streams.DefaultConsumerGroup)
		if err != nil {
			t.Fatal(err)
		}
		if len(lags) != len(d.Keys.EventStreams()) {
			return false, fmt.Sprintf("group on %d streams: %+v", len(lags), lags)
		}
		for _, l := range lags {
			if l.Lag != 0 || l.Pending != 0 {
				return false, fmt.Sprintf("lag: %+v", lags)
			}
		}
		return true, ""
	}
}

// value decodes the value at key; ok is false for a miss or a tombstone.
func value[T any](t *testing.T, d *deployment, key cache.Key) (v T, version int64, ok bool) {
	t.Helper()
	e := d.Entry(t, key)
	if !e.Found || e.Tombstone {
		return v, 0, false
	}
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatalf("%s: %v", key.Name, err)
	}
	return v, e.Version, true
}

// drift compares every cached projection with PostgreSQL, in-process.
func (d *deployment) drift(t *testing.T) projections.Drift {
	t.Helper()
	ctx := context.Background()
	if err := d.Cache.RefreshGenerations(ctx); err != nil {
		t.Fatal(err)
	}
	drift, err := projections.Verify(ctx, d.Cache, d.CacheStore, d.Store)
	if err != nil {
		t.Fatal(err)
	}
	return drift
}

func doJSON(t *testing.T, method, url, body string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet {
		// The writes here are an admin's; the reads are anonymous, so the
		// public catalogue goes through the output cache.
		req.Header.Set("Authorization", "Bearer "+apiAdminToken(t))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode >= 300 && res.StatusCode != http.StatusNotModified {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, data)
		}
	}
	return res
}

// A price change made through the API reaches the cache through the relay
// and the projector, each its own process: the product's details, the
// page-one list and the public catalogue all show the new price.
func TestPriceChangeReachesTheCacheThroughEveryProcess(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	api := d.startAPI(t)
	d.startRelay(t)
	projector := d.startProjector(t, "e2e")

	var p app.Product
	doJSON(t, http.MethodPost, api.URL()+"/api/v1/products",
		`{"sku":"E2E-1","name":"End to end","description":"d","priceCents":1000,"currency":"EUR","initialStock":5}`, &p)
	// The public catalogue is cached by the API before the change.
	var before app.ProductPage
	doJSON(t, http.MethodGet, api.URL()+"/public/products", "", &before)
	if len(before.Items) != 1 || before.Items[0].PriceCents != 1000 {
		t.Fatalf("public catalogue before the change: %+v", before)
	}

	var changed app.Product
	doJSON(t, http.MethodPut, api.URL()+"/api/v1/products/"+p.ID+"/price", `{"priceCents":2500}`, &changed)
	if changed.PriceCents != 2500 || changed.Version != 2 {
		t.Fatalf("price change answered %+v", changed)
	}

	// Nothing reads through the API meanwhile, so only the projector can
	// turn the API's tombstones into values.
	testenv.WaitFor(t, waitLimit, "the projector to rewrite products:{id}", func() (bool, string) {
		got, version, ok := value[app.Product](t, d, cache.ProductKey(p.ID))
		return ok && got.PriceCents == 2500 && version == 2, fmt.Sprintf("%+v at v%d (value: %v)", got, version, ok)
	})
	testenv.WaitFor(t, waitLimit, "the projector to rewrite products:sku and products:list", func() (bool, string) {
		bySKU, _, ok1 := value[app.Product](t, d, cache.ProductSKUKey("e2e-1"))
		list, _, ok2 := value[app.ProductPage](t, d, cache.ProductListKey())
		ok := ok1 && ok2 && bySKU.PriceCents == 2500 && len(list.Items) == 1 && list.Items[0].PriceCents == 2500
		return ok, fmt.Sprintf("by SKU %+v (%v), list %+v (%v)", bySKU, ok1, list, ok2)
	})
	if got := d.Entry(t, cache.ProductKey(p.ID)); got.Data != nil && bytes.Contains(got.Data, []byte(`"stockLevel":5`)) {
		t.Errorf("cached details carry stock: %s", got.Data)
	}

	var public app.ProductPage
	doJSON(t, http.MethodGet, api.URL()+"/public/products", "", &public)
	if len(public.Items) != 1 || public.Items[0].PriceCents != 2500 {
		t.Errorf("public catalogue after the change: %+v", public)
	}
	var read app.Product
	res := doJSON(t, http.MethodGet, api.URL()+"/api/v1/products/"+p.ID, "", &read)
	if read.PriceCents != 2500 || res.Header.Get("X-Cache") != "HIT" {
		t.Errorf("GET product: price %d, X-Cache %q; want 2500 served from the projector's entry (HIT)", read.PriceCents, res.Header.Get("X-Cache"))
	}

	// A handler's duration is observed once it returns, just after its
	// cache write, which the waits above may already have seen.
	testenv.WaitFor(t, waitLimit, "the projector's handler metrics", func() (bool, string) {
		n, _ := testenv.MetricSum(t, testenv.Scrape(t, projector.URL()), "orderflow_projector_handler_duration_seconds_count", `aggregate_type="product"`)
		return n >= 2, fmt.Sprintf("orderflow_projector_handler_duration_seconds_count{product} = %v, want at least 2 (created, price changed)", n)
	})
	if drift := d.drift(t); drift.Drifted != 0 || drift.Checked < 3 {
		t.Errorf("verify: %+v", drift)
	}
}

// A projector killed with SIGKILL while its handlers hold delivered entries
// leaves them pending; another instance claims them once they have been
// idle for ORDERFLOW_PROJECTOR_MAX_IDLE, and nothing is lost.
func TestKilledProjectorsPendingEntriesAreClaimedByAnother(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	first := d.startProjector(t, "doomed", "ORDERFLOW_PROJECTOR_MAX_IDLE=1s")

	var customers []app.Customer
	for i := range 6 {
		c, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("k%d@example.com", i), Name: fmt.Sprintf("Kill %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		customers = append(customers, c)
	}
	product, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "KILL-1", Name: "Kill", PriceCents: 100, Currency: "EUR", InitialStock: 50})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range customers[:3] {
		if _, err := d.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: product.ID, Quantity: 1}}}); err != nil {
			t.Fatal(err)
		}
	}

	// Reads of the customers table wait behind this lock, so the customer
	// and order handlers hold the entries they were given: those stay
	// pending, unacknowledged, for as long as the test wants.
	conn, err := pgx.Connect(ctx, d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE customers IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	unlock := sync.OnceFunc(func() { _ = tx.Rollback(ctx) })
	t.Cleanup(unlock)

	d.RelayAll(t)
	customerStream := d.Keys.AggregateEventStream(domain.CustomerAggregate, customers[0].ID)
	testenv.WaitFor(t, waitLimit, "entries pending at the doomed projector", func() (bool, string) {
		pending, err := d.Redis.XPending(ctx, customerStream, streams.DefaultConsumerGroup).Result()
		if err != nil {
			return false, err.Error()
		}
		return pending.Count > 0 && pending.Consumers["doomed"] > 0, fmt.Sprintf("%+v", pending)
	})
	first.Kill()
	pendingAtKill, err := d.Redis.XPending(ctx, customerStream, streams.DefaultConsumerGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pending after SIGKILL: %+v", pendingAtKill)
	if pendingAtKill.Count == 0 {
		t.Fatal("no entry pending after SIGKILL")
	}
	unlock()

	survivor := d.startProjector(t, "survivor", "ORDERFLOW_PROJECTOR_MAX_IDLE=1s")
	testenv.WaitFor(t, waitLimit, "the survivor to claim and project everything", d.caughtUp(t, 0))
	for _, c := range customers {
		got, version, ok := value[app.Customer](t, d, cache.CustomerKey(c.ID))
		if !ok || got.Email != c.Email || version != 1 {
			t.Errorf("customers:%s = %+v v%d (value: %v), want %s at v1", c.ID, got, version, ok, c.Email)
		}
	}
	for _, c := range customers[:3] {
		got, _, ok := value[app.CustomerOrders](t, d, cache.CustomerOrdersKey(c.ID))
		if !ok || len(got.Items) != 1 {
			t.Errorf("orders:customer:%s = %+v (value: %v), want one order", c.ID, got, ok)
		}
	}
	if drift := d.drift(t); drift.Drifted != 0 || drift.Checked != 6+3+3 {
		t.Errorf("verify: %+v, want 12 checked (6 customers, 3 order lists, product, SKU, list) and none drifted", drift)
	}
	consumers, err := d.Redis.XInfoConsumers(ctx, customerStream, streams.DefaultConsumerGroup).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range consumers {
		if c.Pending != 0 {
			t.Errorf("consumer %s still holds %d entries", c.Name, c.Pending)
		}
	}
	if n, _ := testenv.MetricSum(t, testenv.Scrape(t, survivor.URL()), "orderflow_projector_handler_duration_seconds_count", `aggregate_type="customer"`); n < 1 {
		t.Errorf("the survivor projected no customer event (handler count %v)", n)
	}
}

// Two projectors share the streams while writers change everything for a
// few seconds; once the group has caught up, `orderflow-projector verify`
// finds no cached projection that differs from PostgreSQL.
func TestTwoProjectorsUnderLoadConverge(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	d.startRelay(t)
	projectors := []*process.Process{d.startProjector(t, "a"), d.startProjector(t, "b")}

	var products, customers []string
	for i := range 6 {
		p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: fmt.Sprintf("LOAD-%d", i), Name: fmt.Sprintf("Load %d", i), PriceCents: 100, Currency: "EUR", InitialStock: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		products = append(products, p.ID)
		c, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("load%d@example.com", i), Name: "Load"})
		if err != nil {
			t.Fatal(err)
		}
		customers = append(customers, c.ID)
	}

	const writers = 4
	var ops, conflicts atomic.Int64
	stop := time.Now().Add(3 * time.Second)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 42))
			var orders []string
			for n := 0; time.Now().Before(stop); n++ {
				var err error
				p, c := products[r.IntN(len(products))], customers[r.IntN(len(customers))]
				switch r.IntN(6) {
				case 0:
					_, err = d.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: p, PriceCents: int64(100 + r.IntN(10_000))})
				case 1:
					name := fmt.Sprintf("Load %d/%d", w, n)
					_, err = d.App.Commands.ChangeProductDetails.Handle(ctx, app.ChangeProductDetails{ProductID: p, Name: &name})
				case 2:
					name := fmt.Sprintf("Customer %d/%d", w, n)
					_, err = d.App.Commands.UpdateCustomer.Handle(ctx, app.UpdateCustomer{CustomerID: c, Name: &name})
				case 3, 4:
					var o app.PlacedOrder
					o, err = d.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c, Lines: []domain.LineRequest{{ProductID: p, Quantity: 1}}})
					orders = append(orders, o.Order.ID)
				default:
					if len(orders) == 0 {
						continue
					}
					o := app.OrderTransition{OrderID: orders[r.IntN(len(orders))]}
					switch r.IntN(3) {
					case 0:
						_, err = d.App.Commands.PayOrder.Handle(ctx, o)
					case 1:
						_, err = d.App.Commands.ShipOrder.Handle(ctx, o)
					default:
						_, err = d.App.Commands.CancelOrder.Handle(ctx, o)
					}
					if errors.Is(err, domain.ErrIllegalTransition) {
						err = nil
					}
				}
				if errors.Is(err, app.ErrConflict) {
					// Customers are not locked: concurrent updates of one
					// may lose the append race past the retry budget (a 409).
					conflicts.Add(1)
					err = nil
				}
				if err != nil {
					errs <- err
					return
				}
				ops.Add(1)
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d commands in 3 s (%d refused after losing every append race)", ops.Load(), conflicts.Load())

	testenv.WaitFor(t, waitLimit, "the group to catch up", d.caughtUp(t, 0))
	stdout, stderr, code := runOnce(t, d.env(t), "verify")
	if code != 0 || !regexp.MustCompile(`checked in .*, 0 drifted`).MatchString(stdout) {
		t.Fatalf("verify exited %d:\n%s\n%s", code, stdout, stderr)
	}
	m := regexp.MustCompile(`verify: (\d+) cached projections checked`).FindStringSubmatch(stdout)
	if checked, _ := strconv.Atoi(m[1]); checked < 2*6+1 {
		t.Errorf("verify checked %d projections, want every product, SKU, customer and the list at least:\n%s", checked, stdout)
	}
	for _, p := range projectors {
		if _, found := testenv.MetricSum(t, testenv.Scrape(t, p.URL()), "orderflow_projector_handler_duration_seconds_count", ""); !found {
			t.Errorf("%s exposes no orderflow_projector_handler_duration_seconds", p.Name)
		}
	}
}

// A poison entry is parked after its attempts while later events keep being
// projected; once its cause is fixed, `dlq replay --all` applies it, and
// `dlq list` and `dlq drop` show and remove what is parked.
func TestParkedEntriesAreListedReplayedAndDropped(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	d.startProjector(t, "dlq", "ORDERFLOW_PROJECTOR_MAX_RETRIES=1")

	fine, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "fine@example.com", Name: "Fine"})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "broken@example.com", Name: "Broken"})
	if err != nil {
		t.Fatal(err)
	}
	// The cause: the read table lost the customer's row, so its projection
	// cannot be loaded. The row is kept aside to be put back later.
	if _, err := d.Pool.Exec(ctx, `CREATE TABLE customers_aside AS SELECT * FROM customers WHERE id = '`+broken.ID+`'`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Pool.Exec(ctx, `DELETE FROM customers WHERE id = $1`, broken.ID); err != nil {
		t.Fatal(err)
	}
	d.RelayAll(t)
	// A second poison entry no fix can help: an order that never existed was paid.
	ghost := uuid.NewString()
	ghostEntry := streams.Message(relay.CommittedEvent{
		RecordedEvent: app.RecordedEvent{EventID: uuid.NewString(), AggregateType: domain.OrderAggregate, AggregateID: ghost,
			Version: 2, GlobalPosition: 1_000_000, Type: "OrderPaid", SchemaVersion: 1, OccurredAt: time.Now()},
		Data: []byte(`{}`),
	})
	fields, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal("", ghostEntry)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Redis.XAdd(ctx, &redis.XAddArgs{Stream: d.Keys.EventStream(domain.OrderAggregate), Values: fields}).Err(); err != nil {
		t.Fatal(err)
	}

	// Later events still flow.
	p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "DLQ-1", Name: "After", PriceCents: 700, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	d.RelayAll(t)
	testenv.WaitFor(t, waitLimit, "later events projected and both poison entries parked", func() (bool, string) {
		n, err := d.Redis.XLen(ctx, d.Keys.DeadLetterStream()).Result()
		if err != nil {
			return false, err.Error()
		}
		_, _, product := value[app.Product](t, d, cache.ProductKey(p.ID))
		_, _, customer := value[app.Customer](t, d, cache.CustomerKey(fine.ID))
		return n == 2 && product && customer, fmt.Sprintf("%d parked, product projected %v, customer projected %v", n, product, customer)
	})
	testenv.WaitFor(t, waitLimit, "the group to catch up", d.caughtUp(t, 1))

	stdout, stderr, code := runOnce(t, d.env(t), "dlq", "list")
	if code != 0 || !strings.HasPrefix(stdout, "2 parked entries\n") {
		t.Fatalf("dlq list exited %d:\n%s\n%s", code, stdout, stderr)
	}
	lines := map[string]string{}
	for line := range strings.Lines(stdout) {
		if id, _, ok := strings.Cut(line, "  "); ok {
			switch {
			case strings.Contains(line, broken.ID):
				lines["broken"] = id
			case strings.Contains(line, ghost):
				lines["ghost"] = id
			}
		}
		// MaxRetries=1: the first run and one retry.
		if strings.Contains(line, "error:") && (!strings.Contains(line, "attempts 2 ") || !strings.Contains(line, "not found")) {
			t.Errorf("dlq list line %q: want attempts 2 and a not-found error", line)
		}
	}
	if lines["broken"] == "" || lines["ghost"] == "" {
		t.Fatalf("dlq list does not show both entries:\n%s", stdout)
	}
	if !strings.Contains(stdout, "CustomerRegistered "+broken.ID+" v1") || !strings.Contains(stdout, "OrderPaid "+ghost+" v2") {
		t.Errorf("dlq list names neither event type, aggregate nor version:\n%s", stdout)
	}

	stdout, _, code = runOnce(t, d.env(t), "dlq", "drop", lines["ghost"])
	if code != 0 || !strings.Contains(stdout, "dropped 1 parked entries") {
		t.Fatalf("dlq drop exited %d: %s", code, stdout)
	}
	if _, err := d.Pool.Exec(ctx, `INSERT INTO customers SELECT * FROM customers_aside`); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = runOnce(t, d.env(t), "dlq", "replay", "--all")
	if code != 0 || !strings.Contains(stdout, "re-drove 1 of 1 parked entries") {
		t.Fatalf("dlq replay --all exited %d: %s", code, stdout)
	}
	testenv.WaitFor(t, waitLimit, "the re-driven entry to be projected", func() (bool, string) {
		got, version, ok := value[app.Customer](t, d, cache.CustomerKey(broken.ID))
		return ok && got.Email == broken.Email && version == 1, fmt.Sprintf("%+v v%d (value %v)", got, version, ok)
	})
	testenv.WaitFor(t, waitLimit, "the group to catch up", d.caughtUp(t, 2))
	if n, err := d.Redis.XLen(ctx, d.Keys.DeadLetterStream()).Result(); err != nil || n != 0 {
		t.Errorf("dead-letter stream holds %d entries after the replay (%v), want 0", n, err)
	}
	stdout, _, _ = runOnce(t, d.env(t), "dlq", "list")
	if !strings.HasPrefix(stdout, "0 parked entries") {
		t.Errorf("dlq list after the replay:\n%s", stdout)
	}
	if drift := d.drift(t); drift.Drifted != 0 || drift.Checked != 5 {
		t.Errorf("verify: %+v, want 5 checked (2 customers, product, SKU, list), none drifted", drift)
	}
}

// ORDERFLOW_PROJECTOR_MAX_RETRIES=0, which the flag allows, means no re-run:
// an entry whose handler fails is parked after its first attempt.
func TestMaxRetriesZeroParksAfterOneAttempt(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	env := map[string]string{}
	for _, kv := range d.env(t, "ORDERFLOW_CONSUMER=zero", "ORDERFLOW_PROJECTOR_MAX_RETRIES=0", "ORDERFLOW_LOG_LEVEL=error") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	logs := testenv.NewLogSink()
	m := NewMain(io.Discard, logs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []string{"run"}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v; logs:\n%s", err, logs)
		}
	})

	ghost := streams.Message(relay.CommittedEvent{
		RecordedEvent: app.RecordedEvent{EventID: uuid.NewString(), AggregateType: domain.OrderAggregate, AggregateID: uuid.NewString(),
			Version: 2, GlobalPosition: 1, Type: "OrderPaid", SchemaVersion: 1, OccurredAt: time.Now()},
		Data: []byte(`{}`),
	})
	fields, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal("", ghost)
	if err != nil {
		t.Fatal(err)
	}
	ctxBG := context.Background()
	if err := d.Redis.XAdd(ctxBG, &redis.XAddArgs{Stream: d.Keys.EventStream(domain.OrderAggregate), Values: fields}).Err(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, waitLimit, "the entry parked", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("run ended: %v; logs:\n%s", err, logs)
		default:
		}
		n, err := d.Redis.XLen(ctxBG, d.Keys.DeadLetterStream()).Result()
		return err == nil && n == 1, fmt.Sprintf("%d parked (%v)", n, err)
	})
	parked, err := streams.NewDeadLetters(d.Redis, d.Keys).List(ctxBG, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 1 || parked[0].Attempts != "1" {
		t.Errorf("parked %+v; want 1 attempt with ORDERFLOW_PROJECTOR_MAX_RETRIES=0", parked)
	}
}

// `replay` (--from=auto) finds the trimmed streams unusable, rebuilds from
// the event store, and switches readers; verify then finds no drift, and the
// running projector writes the next change into the new generation.
func TestReplayCommandFallsBackToTheStoreWhenStreamsWereTrimmed(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	d.startProjector(t, "live")

	var products []string
	for i := range 3 {
		p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: fmt.Sprintf("RP-%d", i), Name: fmt.Sprintf("Replayed %d", i), PriceCents: 100, Currency: "EUR", InitialStock: 10})
		if err != nil {
			t.Fatal(err)
		}
		products = append(products, p.ID)
		c, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("rp%d@example.com", i), Name: "Replayed"})
		if err != nil {
			t.Fatal(err)
		}
		o, err := d.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.App.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: o.Order.ID}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: products[0], PriceCents: 150}); err != nil {
		t.Fatal(err)
	}
	d.RelayAll(t)
	testenv.WaitFor(t, waitLimit, "the projector to catch up", d.caughtUp(t, 0))
	for _, s := range d.Keys.EventStreams() {
		if err := d.Redis.XTrimMaxLen(ctx, s, 2).Err(); err != nil {
			t.Fatal(err)
		}
	}

	stdout, stderr, code := runOnce(t, d.env(t), "replay")
	if code != 0 || !strings.Contains(stdout, "the streams were trimmed") || !strings.Contains(stdout, "replay: done from the event store") {
		t.Fatalf("replay exited %d:\n%s\n%s", code, stdout, stderr)
	}
	gen := regexp.MustCompile(`into generation "([^"]+)"`).FindStringSubmatch(stdout)
	if gen == nil {
		t.Fatalf("replay names no generation:\n%s", stdout)
	}
	if cur, err := d.Redis.Get(ctx, d.CacheKeys.Generation()).Result(); err != nil || cur != gen[1] {
		t.Fatalf("generation pointer %q (%v), want %q", cur, err, gen[1])
	}
	stdout, stderr, code = runOnce(t, d.env(t), "verify")
	want := fmt.Sprintf("verify: %d cached projections checked", 3+3+1+3+3)
	if code != 0 || !strings.Contains(stdout, want) || !strings.Contains(stdout, ", 0 drifted") {
		t.Fatalf("verify exited %d, want %q and no drift:\n%s\n%s", code, want, stdout, stderr)
	}

	if _, err := d.App.Commands.ChangeProductPrice.Handle(ctx, app.ChangeProductPrice{ProductID: products[1], PriceCents: 999}); err != nil {
		t.Fatal(err)
	}
	d.RelayAll(t)
	key := d.CacheKeys.Key(gen[1], cache.ProductKey(products[1]))
	testenv.WaitFor(t, waitLimit, "the projector to write the new generation", func() (bool, string) {
		e, err := d.CacheStore.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		var p app.Product
		ok := e.Found && !e.Tombstone && json.Unmarshal(e.Data, &p) == nil && p.PriceCents == 999
		return ok, fmt.Sprintf("%s = %+v", key, e)
	})
	if n, err := d.Redis.Exists(ctx, d.CacheKeys.Key("", cache.ProductKey(products[0]))).Result(); err != nil || n != 0 {
		t.Errorf("the old generation's products:%s still exists (%v)", products[0], err)
	}
}

// `verify` exits 1 and names every drifted key: a wrong value, a tombstone
// no projector replaced (an expected projection that is missing) and a
// value from the future. It says how many entries it checked, and checking
// none while the log holds events is a failure, not a pass.
func TestVerifyCommandNamesDriftedKeys(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	ref, err := projections.NewRefresher(d.Store, d.Cache)
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: "VC-1", Name: "Verified", PriceCents: 100, Currency: "EUR", InitialStock: 10})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: "vc@example.com", Name: "Verified"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, write := range []error{ref.Product(ctx, p.ID), ref.Catalogue(ctx), ref.Customer(ctx, c.ID), ref.CustomerOrders(ctx, c.ID)} {
		if write != nil {
			t.Fatal(write)
		}
	}
	stdout, stderr, code := runOnce(t, d.env(t), "verify")
	if code != 0 || !strings.HasPrefix(stdout, "verify: 5 cached projections checked in ") || !strings.Contains(stdout, ", 0 drifted") {
		t.Fatalf("verify of the projectors' writes exited %d, want 0 with 5 checked:\n%s\n%s", code, stdout, stderr)
	}

	// Wrong: another name at the customer's version.
	customerKey := d.CacheKeys.Key("", cache.CustomerKey(c.ID))
	wrong := c
	wrong.Name = "Someone else"
	data, err := json.Marshal(wrong)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Redis.Del(ctx, customerKey).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CacheStore.SetFenced(ctx, customerKey, c.Version, data, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Missing but expected: paying evicts the order summaries, and no
	// projector runs to rewrite them.
	if _, err := d.App.Commands.PayOrder.Handle(ctx, app.OrderTransition{OrderID: o.Order.ID}); err != nil {
		t.Fatal(err)
	}
	ordersKey := d.CacheKeys.Key("", cache.CustomerOrdersKey(c.ID))
	// From the future: the product's details at a version the log never had.
	productKey := d.CacheKeys.Key("", cache.ProductKey(p.ID))
	e := d.Entry(t, cache.ProductKey(p.ID))
	if _, err := d.CacheStore.SetFenced(ctx, productKey, e.Version+10, e.Data, time.Hour); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code = runOnce(t, d.env(t), "verify")
	if code != 1 || !strings.HasPrefix(stdout, "verify: 5 cached projections checked in ") || !strings.Contains(stdout, ", 3 drifted") ||
		!strings.Contains(stderr, "3 cached projections drifted") {
		t.Fatalf("verify exited %d, want 1 with 5 checked and 3 drifted:\n%s\n%s", code, stdout, stderr)
	}
	for key, why := range map[string]string{customerKey: "wrong", ordersKey: "missing", productKey: "from the future"} {
		if !strings.Contains(stdout, "  drift: "+key+": "+why) {
			t.Errorf("verify does not report %s as %s:\n%s", key, why, stdout)
		}
	}

	for _, family := range []string{"products:", "customers:", "orders:"} {
		if _, err := d.CacheStore.DeletePrefix(ctx, d.Keys.Prefix+family); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code = runOnce(t, d.env(t), "verify")
	if code != 1 || !strings.HasPrefix(stdout, "verify: 0 cached projections checked in ") ||
		!strings.Contains(stdout, "nothing was compared although the event log holds") {
		t.Errorf("verify of an empty cache exited %d, want 1 saying nothing was compared:\n%s\n%s", code, stdout, stderr)
	}

	empty := newDeployment(t)
	stdout, stderr, code = runOnce(t, empty.env(t), "verify")
	if code != 0 || !strings.Contains(stdout, "verify: 0 cached projections checked in ") || !strings.Contains(stdout, "the event log is empty") {
		t.Errorf("verify of an empty deployment exited %d, want 0 saying the log is empty:\n%s\n%s", code, stdout, stderr)
	}
}

// `replay` (--from=auto) notices streams that lost every event of their
// oldest aggregates, which leaves no version gap, says why it reads the
// event store instead, and rebuilds every projection: verify then checks
// all of them.
func TestReplayCommandFallsBackWhenStreamsLostWholeAggregates(t *testing.T) {
	t.Parallel()
	d := newDeployment(t)
	ctx := context.Background()
	projections := 1 // the page-one list
	part := func(name string) {
		for i := range 2 {
			p, err := d.App.Commands.CreateProduct.Handle(ctx, app.CreateProduct{SKU: fmt.Sprintf("%s-%d", name, i), Name: name, PriceCents: 100, Currency: "EUR", InitialStock: 10})
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.App.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{Email: fmt.Sprintf("%s%d@example.com", name, i), Name: name})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.App.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: c.ID, Lines: []domain.LineRequest{{ProductID: p.ID, Quantity: 1}}}); err != nil {
				t.Fatal(err)
			}
			projections += 2 + 2 // product by id and SKU, customer and their orders
		}
		d.RelayAll(t)
	}
	part("old")
	old := map[string]int64{}
	for _, s := range d.Keys.EventStreams() {
		n, err := d.Redis.XLen(ctx, s).Result()
		if err != nil {
			t.Fatal(err)
		}
		old[s] = n
	}
	part("new")
	// Keep only the second part's entries: the first part's aggregates
	// vanish whole.
	for _, s := range d.Keys.EventStreams() {
		n, err := d.Redis.XLen(ctx, s).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Redis.XTrimMaxLen(ctx, s, n-old[s]).Err(); err != nil {
			t.Fatal(err)
		}
	}

	stdout, stderr, code := runOnce(t, d.env(t), "replay")
	if code != 0 || !strings.Contains(stdout, "the streams were trimmed") || !strings.Contains(stdout, "lost its oldest entries") ||
		!strings.Contains(stdout, "replay: done from the event store") {
		t.Fatalf("replay exited %d, want it to read the event store because the streams lost their oldest aggregates:\n%s\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = runOnce(t, d.env(t), "verify")
	if want := fmt.Sprintf("verify: %d cached projections checked", projections); code != 0 || !strings.HasPrefix(stdout, want) || !strings.Contains(stdout, ", 0 drifted") {
		t.Fatalf("verify exited %d, want %q and no drift:\n%s\n%s", code, want, stdout, stderr)
	}
}

// Settings come from ORDERFLOW_* variables, flags win, and settings that
// cannot work are refused before anything starts.
func TestProjectorSettings(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		m := map[string]string{"ORDERFLOW_DATABASE_URL": "postgres://127.0.0.1:1/x"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	m := NewMain(io.Discard, io.Discard, env(
		"ORDERFLOW_REDIS_URL", "redis://127.0.0.1:1/3", "ORDERFLOW_KEY_PREFIX", "p:", "ORDERFLOW_CONSUMER", "c1",
		"ORDERFLOW_PROJECTOR_HTTP_ADDR", "127.0.0.1:0", "ORDERFLOW_PROJECTOR_MAX_RETRIES", "0", "ORDERFLOW_PROJECTOR_MAX_IDLE", "2s"))
	cmd, rest, err := m.ParseFlags([]string{"dlq", "drop", "--consumer", "c2", "1-0", "2-0"})
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if cmd != "dlq drop" || strings.Join(rest, ",") != "1-0,2-0" || c.RedisURL != "redis://127.0.0.1:1/3" || c.KeyPrefix != "p:" ||
		c.Consumer != "c2" || c.HTTPAddr != "127.0.0.1:0" || c.MaxRetries != 0 || c.MaxIdleTime != 2*time.Second || c.ConsumerGroup != streams.DefaultConsumerGroup {
		t.Errorf("ParseFlags = %q %v %+v", cmd, rest, c)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"too many retries", []string{"ORDERFLOW_PROJECTOR_MAX_RETRIES", "21"}, nil},
		{"negative retries", nil, []string{"--projector-max-retries=-1"}},
		{"retries not a number", []string{"ORDERFLOW_PROJECTOR_MAX_RETRIES", "three"}, nil},
		{"idle below a second", []string{"ORDERFLOW_PROJECTOR_MAX_IDLE", "500ms"}, nil},
		{"no consumer", []string{"ORDERFLOW_CONSUMER", ""}, nil},
		{"replay from nowhere", nil, []string{"replay", "--from=tape"}},
		{"unknown command", nil, []string{"project"}},
		{"dlq without a verb", nil, []string{"dlq"}},
		{"dlq unknown verb", nil, []string{"dlq", "purge"}},
	} {
		if _, _, err := NewMain(io.Discard, io.Discard, env(tc.env...)).ParseFlags(tc.args); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
