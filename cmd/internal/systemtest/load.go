package systemtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Load is a steady mixed load through the API: product creations,
// restocks, price changes, customer registrations, orders placed, paid and
// cancelled, and reads. It remembers every write the API acknowledged, so a
// check can later demand that each exists exactly once.
type Load struct {
	Client *Client
	// NamePrefix starts the name of every product the load creates.
	NamePrefix string
	// Workers is the number of closed-loop clients (default 4).
	Workers int
	// Pace is a pause each worker takes between operations, so the load
	// stays steady rather than saturating the machine; 0 for none.
	Pace time.Duration
	// OrderRetry bounds how long a placement is retried with its
	// Idempotency-Key before it is left for Resolve (default 15 s).
	OrderRetry time.Duration
	// LostAnswers is the share of placements whose first attempt the
	// client abandons after 0–20 ms, as a client timing out would: the
	// order may or may not be committed, and the retry with the same key
	// must not place it twice.
	LostAnswers float64

	mu         sync.Mutex
	products   []string
	customers  []string
	orders     map[string]string // acknowledged order id → Idempotency-Key
	open       []string          // orders last seen placed
	unresolved map[string]OrderRequest
	restocks   map[string]int64 // product id → acknowledged restocked units
	uncertain  map[string]int64 // product id → restocked units with no answer
	replayed   int              // placements answered Idempotent-Replayed
}

// OrderRequest is the body of POST /api/v1/orders.
type OrderRequest struct {
	CustomerID string      `json:"customerId"`
	Lines      []OrderLine `json:"lines"`
}

// OrderLine is one line of an order.
type OrderLine struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
}

type created struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Status  string `json:"status"`
}

// InitialStock is the stock of every product the load creates.
const InitialStock = 100_000

func (l *Load) init() {
	if l.orders == nil {
		l.orders = map[string]string{}
		l.unresolved = map[string]OrderRequest{}
		l.restocks = map[string]int64{}
		l.uncertain = map[string]int64{}
	}
}

// Seed creates products and customers for the load; it retries nothing and
// fails on any error, as the system is expected to be healthy.
func (l *Load) Seed(ctx context.Context, products, customers int) error {
	l.mu.Lock()
	l.init()
	l.mu.Unlock()
	for range products {
		if _, err := l.createProduct(ctx); err != nil {
			return err
		}
	}
	for range customers {
		if _, err := l.registerCustomer(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (l *Load) createProduct(ctx context.Context) (string, error) {
	sku := uuid.NewString()[:18]
	r := l.Client.Do(ctx, http.MethodPost, "/api/v1/products", map[string]any{
		"sku": "ST-" + sku, "name": l.NamePrefix + sku, "description": "system test",
		"priceCents": 1000, "currency": "EUR", "initialStock": InitialStock,
	}, true)
	if r.Status != http.StatusCreated {
		return "", answerError("create product", r)
	}
	var c created
	if err := r.Decode(&c); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.products = append(l.products, c.ID)
	l.mu.Unlock()
	return c.ID, nil
}

func (l *Load) registerCustomer(ctx context.Context) (string, error) {
	r := l.Client.Do(ctx, http.MethodPost, "/api/v1/customers", map[string]any{
		"email": uuid.NewString() + "@systemtest.example", "name": "System Test",
	}, true)
	if r.Status != http.StatusCreated {
		return "", answerError("register customer", r)
	}
	var c created
	if err := r.Decode(&c); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.customers = append(l.customers, c.ID)
	l.mu.Unlock()
	return c.ID, nil
}

func answerError(what string, r Response) error {
	if r.Err != nil {
		return fmt.Errorf("%s: %w", what, r.Err)
	}
	return fmt.Errorf("%s: HTTP %d: %s", what, r.Status, r.Body)
}

// Run applies the load until ctx ends, then waits for the workers. Errors
// are counted in the client's Stats, never fatal.
func (l *Load) Run(ctx context.Context) {
	l.mu.Lock()
	l.init()
	l.mu.Unlock()
	var wg sync.WaitGroup
	for i := range max(l.Workers, 1) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))
			for ctx.Err() == nil {
				l.step(ctx, rng)
				if l.Pace > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(l.Pace):
					}
				}
			}
		})
	}
	wg.Wait()
}

func (l *Load) pick(rng *rand.Rand, ids []string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(ids) == 0 {
		return ""
	}
	return ids[rng.IntN(len(ids))]
}

func (l *Load) step(ctx context.Context, rng *rand.Rand) {
	l.mu.Lock()
	products, customers := l.products, l.customers
	l.mu.Unlock()
	product, customer := l.pick(rng, products), l.pick(rng, customers)
	if product == "" || customer == "" {
		return
	}
	switch n := rng.IntN(100); {
	case n < 3:
		_, _ = l.createProduct(ctx)
	case n < 6:
		_, _ = l.registerCustomer(ctx)
	case n < 14:
		l.restock(ctx, product, int64(1+rng.IntN(20)))
	case n < 20:
		l.Client.Do(ctx, http.MethodPut, "/api/v1/products/"+product+"/price",
			map[string]any{"priceCents": 100 + rng.IntN(10_000)}, true)
	case n < 45:
		lines := []OrderLine{{ProductID: product, Quantity: int64(1 + rng.IntN(3))}}
		if other := l.pick(rng, products); other != product && rng.IntN(2) == 0 {
			lines = append(lines, OrderLine{ProductID: other, Quantity: 1})
		}
		l.PlaceOrder(ctx, OrderRequest{CustomerID: customer, Lines: lines})
	case n < 60:
		l.transition(ctx, rng, "pay")
	case n < 68:
		l.transition(ctx, rng, "cancel")
	case n < 78:
		l.Client.Do(ctx, http.MethodGet, "/api/v1/products/"+product, nil, false)
	case n < 86:
		l.Client.Do(ctx, http.MethodGet, "/api/v1/products", nil, false)
	case n < 94:
		l.Client.Do(ctx, http.MethodGet, "/api/v1/customers/"+customer+"/orders", nil, true)
	default:
		l.Client.Do(ctx, http.MethodGet, "/public/products", nil, false)
	}
}

func (l *Load) restock(ctx context.Context, product string, qty int64) {
	r := l.Client.Do(ctx, http.MethodPost, "/api/v1/products/"+product+"/stock", map[string]any{"quantity": qty}, true)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case r.Status == http.StatusOK:
		l.restocks[product] += qty
	case r.Status == 0 || r.Status >= 500:
		// It may or may not have committed.
		l.uncertain[product] += qty
	}
}

func (l *Load) transition(ctx context.Context, rng *rand.Rand, action string) {
	l.mu.Lock()
	if len(l.open) == 0 {
		l.mu.Unlock()
		return
	}
	i := rng.IntN(len(l.open))
	id := l.open[i]
	l.open[i] = l.open[len(l.open)-1]
	l.open = l.open[:len(l.open)-1]
	l.mu.Unlock()
	r := l.Client.Do(ctx, http.MethodPost, "/api/v1/orders/"+id+"/"+action, nil, true)
	if r.Status == 0 || r.Status >= 500 || (action == "pay" && r.Status == http.StatusOK) {
		// Unknown outcome, or paid (still cancellable): keep it in play.
		l.mu.Lock()
		l.open = append(l.open, id)
		l.mu.Unlock()
	}
}

// PlaceOrder places req with a fresh Idempotency-Key, retrying the same
// key after a lost answer, a 5xx or 409 idempotency-in-flight until a
// definite answer or OrderRetry has passed; an order still unanswered then
// is left for Resolve. It returns the order id on 201.
func (l *Load) PlaceOrder(ctx context.Context, req OrderRequest) string {
	key := uuid.NewString()
	budget := l.OrderRetry
	if budget == 0 {
		budget = 15 * time.Second
	}
	id, done := l.placeWithKey(ctx, key, req, time.Now().Add(budget))
	if !done {
		l.mu.Lock()
		l.unresolved[key] = req
		l.mu.Unlock()
	}
	return id
}

// placeWithKey reports done when the answer was definite: 201 (id set) or
// a 4xx other than idempotency-in-flight.
func (l *Load) placeWithKey(ctx context.Context, key string, req OrderRequest, deadline time.Time) (string, bool) {
	abandon := rand.Float64() < l.LostAnswers
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		attemptCtx, cancel := ctx, context.CancelFunc(func() {})
		if abandon {
			attemptCtx, cancel = context.WithTimeout(ctx, rand.N(20*time.Millisecond))
			abandon = false
		}
		r := l.Client.Do(attemptCtx, http.MethodPost, "/api/v1/orders", req, true, "Idempotency-Key", key)
		cancel()
		switch {
		case r.Status == http.StatusCreated:
			var c created
			if err := r.Decode(&c); err != nil || c.ID == "" {
				return "", false
			}
			l.mu.Lock()
			if prev, seen := l.orders[c.ID]; seen && prev != key {
				// Two keys answered with one order: impossible unless ids collide.
				l.orders[c.ID] = prev + "," + key
			} else {
				l.orders[c.ID] = key
			}
			if r.Header.Get("Idempotent-Replayed") == "true" {
				l.replayed++
			} else {
				l.open = append(l.open, c.ID)
			}
			l.mu.Unlock()
			return c.ID, true
		case r.Status == http.StatusConflict && isProblem(r, "idempotency-in-flight"):
		case r.Status >= 400 && r.Status < 500 && r.Status != http.StatusTooManyRequests:
			return "", true
		}
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return "", false
		}
		select {
		case <-ctx.Done():
			return "", false
		case <-time.After(backoff): // retry backoff, as a real client would
		}
	}
}

func isProblem(r Response, kind string) bool {
	var p struct {
		Type string `json:"type"`
	}
	return r.Decode(&p) == nil && len(p.Type) >= len(kind) && p.Type[len(p.Type)-len(kind):] == kind
}

// Resolve re-sends every placement left without a definite answer, with
// its original key, until each has one or ctx ends; it returns how many
// remain unresolved.
func (l *Load) Resolve(ctx context.Context) int {
	l.mu.Lock()
	pending := make(map[string]OrderRequest, len(l.unresolved))
	for k, v := range l.unresolved {
		pending[k] = v
	}
	l.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	left := 0
	for key, req := range pending {
		if _, done := l.placeWithKey(ctx, key, req, deadline); done {
			l.mu.Lock()
			delete(l.unresolved, key)
			l.mu.Unlock()
		} else {
			left++
		}
	}
	return left
}

// Acknowledged is what the API acknowledged so far.
type Acknowledged struct {
	Products, Customers []string
	// Orders maps each order id answered 201 to the Idempotency-Key(s) that got it.
	Orders map[string]string
	// Restocked and Uncertain are units per product: acknowledged
	// restocks, and restocks whose answer was lost or 5xx.
	Restocked, Uncertain map[string]int64
	// Unresolved is how many placements have no definite answer yet.
	Unresolved int
	// Replayed is how many retried placements were answered with the
	// order their key had already created (Idempotent-Replayed).
	Replayed int
}

// Acknowledged returns a copy of the acknowledged writes.
func (l *Load) Acknowledged() Acknowledged {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := Acknowledged{
		Products: append([]string(nil), l.products...), Customers: append([]string(nil), l.customers...),
		Orders: map[string]string{}, Restocked: map[string]int64{}, Uncertain: map[string]int64{},
		Unresolved: len(l.unresolved), Replayed: l.replayed,
	}
	for k, v := range l.orders {
		a.Orders[k] = v
	}
	for k, v := range l.restocks {
		a.Restocked[k] = v
	}
	for k, v := range l.uncertain {
		a.Uncertain[k] = v
	}
	return a
}
