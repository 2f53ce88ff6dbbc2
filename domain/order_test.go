package domain_test

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/domain"
)

// catalogue returns saved products:
//
//	p1 EUR 2.50, 10 in stock; p2 EUR 10.00, 5 in stock; p3 USD 5.00, 5 in stock;
//	p4 EUR 0.00 (free), 3 in stock; p5 EUR 1.00, 0 in stock.
func catalogue(t *testing.T) map[string]*domain.Product {
	t.Helper()
	return map[string]*domain.Product{
		"p1": newProduct(t, "p1", "SKU-1", "One", 250, "EUR", 10),
		"p2": newProduct(t, "p2", "SKU-2", "Two", 1000, "EUR", 5),
		"p3": newProduct(t, "p3", "SKU-3", "Three", 500, "USD", 5),
		"p4": newProduct(t, "p4", "SKU-4", "Four", 0, "EUR", 3),
		"p5": newProduct(t, "p5", "SKU-5", "Five", 100, "EUR", 0),
	}
}

// bigCatalogue returns n saved EUR products q0..q(n-1), each with stock units.
func bigCatalogue(t *testing.T, n int, stock int64) map[string]*domain.Product {
	t.Helper()
	products := make(map[string]*domain.Product, n)
	for i := range n {
		id := "q" + strconv.Itoa(i)
		products[id] = newProduct(t, id, "SKU-Q"+strconv.Itoa(i), "Q "+strconv.Itoa(i), 100, "EUR", stock)
	}
	return products
}

func manyLines(n int, quantity int64) []domain.LineRequest {
	lines := make([]domain.LineRequest, n)
	for i := range lines {
		lines[i] = domain.LineRequest{ProductID: "q" + strconv.Itoa(i), Quantity: quantity}
	}
	return lines
}

// stateOf snapshots every product's state, to check nothing moved.
func stateOf(products map[string]*domain.Product) map[string]domain.ProductState {
	out := make(map[string]domain.ProductState, len(products))
	for id, p := range products {
		out[id] = p.State()
	}
	return out
}

// checkUntouched asserts no product recorded anything or changed state.
func checkUntouched(t *testing.T, products map[string]*domain.Product, before map[string]domain.ProductState) {
	t.Helper()
	for id, p := range products {
		if len(p.Changes()) != 0 {
			t.Errorf("product %s recorded %v, want nothing", id, p.Changes())
		}
		if diff := cmp.Diff(before[id], p.State()); diff != "" {
			t.Errorf("product %s state changed (-before +after):\n%s", id, diff)
		}
	}
}

// ---------------------------------------------------------------------------
// Validation of lines
// ---------------------------------------------------------------------------

func TestPlaceOrderValidation(t *testing.T) {
	tests := []struct {
		name       string
		lines      []domain.LineRequest
		big        bool // use bigCatalogue(t, 101, 10_000)
		wantFields []string
	}{
		{name: "nil lines", lines: nil, wantFields: []string{"lines"}},
		{name: "no lines", lines: []domain.LineRequest{}, wantFields: []string{"lines"}},
		{name: "101 lines", lines: manyLines(101, 1), big: true, wantFields: []string{"lines"}},
		{name: "101 lines, one with a bad quantity", big: true,
			lines:      func() []domain.LineRequest { l := manyLines(101, 1); l[7].Quantity = 0; return l }(),
			wantFields: []string{"lines", "lines[7].quantity"}},
		{name: "quantity zero", lines: []domain.LineRequest{{"p1", 1}, {"p2", 0}}, wantFields: []string{"lines[1].quantity"}},
		{name: "quantity negative", lines: []domain.LineRequest{{"p1", -3}}, wantFields: []string{"lines[0].quantity"}},
		{name: "quantity 10,001", big: true, lines: []domain.LineRequest{{"q0", 10_001}}, wantFields: []string{"lines[0].quantity"}},
		{name: "quantity far too large", lines: []domain.LineRequest{{"p1", 1 << 62}}, wantFields: []string{"lines[0].quantity"}},
		{name: "same product twice", lines: []domain.LineRequest{{"p1", 1}, {"p2", 1}, {"p1", 2}}, wantFields: []string{"lines[2].productId"}},
		{name: "same product three times", lines: []domain.LineRequest{{"p1", 1}, {"p1", 1}, {"p1", 1}}, wantFields: []string{"lines[1].productId", "lines[2].productId"}},
		{name: "several failures listed at once",
			lines:      []domain.LineRequest{{"p1", 0}, {"p1", 20_000}, {"p2", 1}},
			wantFields: []string{"lines[0].quantity", "lines[1].quantity", "lines[1].productId"}},
		{name: "two currencies", lines: []domain.LineRequest{{"p1", 1}, {"p3", 1}}, wantFields: []string{"lines[1].productId"}},
		{name: "order takes the first line's currency", lines: []domain.LineRequest{{"p3", 1}, {"p1", 1}, {"p2", 1}},
			wantFields: []string{"lines[1].productId", "lines[2].productId"}},
		{name: "currency checked even when stock is short", lines: []domain.LineRequest{{"p1", 1}, {"p3", 99}}, wantFields: []string{"lines[1].productId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := catalogue(t)
			if tt.big {
				products = bigCatalogue(t, 101, 10_000)
			}
			before := stateOf(products)

			o, err := domain.PlaceOrder("o1", "c1", tt.lines, products)
			checkFields(t, err, tt.wantFields)
			if o != nil {
				t.Errorf("PlaceOrder returned an order with an error: %+v", o.State())
			}
			checkUntouched(t, products, before)
		})
	}
}

func TestCheckLines(t *testing.T) {
	tests := []struct {
		name       string
		lines      []domain.LineRequest
		wantFields []string
	}{
		{name: "one line", lines: []domain.LineRequest{{"a", 1}}},
		{name: "quantity 10,000", lines: []domain.LineRequest{{"a", 10_000}}},
		{name: "100 lines", lines: manyLines(100, 1)},
		{name: "products are told apart by exact id", lines: []domain.LineRequest{{"a", 1}, {"A", 1}}},
		{name: "none", lines: nil, wantFields: []string{"lines"}},
		{name: "101 lines", lines: manyLines(101, 1), wantFields: []string{"lines"}},
		{name: "quantity 0 on the second line", lines: []domain.LineRequest{{"a", 1}, {"b", 0}}, wantFields: []string{"lines[1].quantity"}},
		{name: "quantity 10,001", lines: []domain.LineRequest{{"a", 10_001}}, wantFields: []string{"lines[0].quantity"}},
		{name: "duplicate product", lines: []domain.LineRequest{{"a", 1}, {"a", 1}}, wantFields: []string{"lines[1].productId"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkFields(t, domain.CheckLines(tt.lines), tt.wantFields)
		})
	}
}

func TestPlaceOrderUnknownProduct(t *testing.T) {
	products := catalogue(t)
	before := stateOf(products)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 1}, {"nope", 1}}, products)
	if err == nil {
		t.Fatal("error = nil, want one for a product not loaded")
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) || errors.Is(err, domain.ErrInsufficientStock) || errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("error = %v (%T), want a plain error", err, err)
	}
	if o != nil {
		t.Errorf("PlaceOrder returned an order with an error")
	}
	checkUntouched(t, products, before)
}

// ---------------------------------------------------------------------------
// Successful placement
// ---------------------------------------------------------------------------

func TestPlaceOrder(t *testing.T) {
	tests := []struct {
		name          string
		lines         []domain.LineRequest
		wantLines     []domain.OrderLine
		wantCurrency  string
		wantTotal     int64
		wantItems     int64
		wantAvailable map[string]int64 // products not listed keep their stock
	}{
		{
			name:         "one line",
			lines:        []domain.LineRequest{{"p1", 3}},
			wantLines:    []domain.OrderLine{{ProductID: "p1", SKU: "SKU-1", Name: "One", Quantity: 3, UnitPriceCents: 250, Currency: "EUR"}},
			wantCurrency: "EUR", wantTotal: 750, wantItems: 3,
			wantAvailable: map[string]int64{"p1": 7},
		},
		{
			name:  "two lines keep the requested order",
			lines: []domain.LineRequest{{"p2", 2}, {"p1", 4}},
			wantLines: []domain.OrderLine{
				{ProductID: "p2", SKU: "SKU-2", Name: "Two", Quantity: 2, UnitPriceCents: 1000, Currency: "EUR"},
				{ProductID: "p1", SKU: "SKU-1", Name: "One", Quantity: 4, UnitPriceCents: 250, Currency: "EUR"},
			},
			wantCurrency: "EUR", wantTotal: 3000, wantItems: 6,
			wantAvailable: map[string]int64{"p1": 6, "p2": 3},
		},
		{
			name:  "exact stock on every line leaves zero",
			lines: []domain.LineRequest{{"p1", 10}, {"p2", 5}, {"p4", 3}},
			wantLines: []domain.OrderLine{
				{ProductID: "p1", SKU: "SKU-1", Name: "One", Quantity: 10, UnitPriceCents: 250, Currency: "EUR"},
				{ProductID: "p2", SKU: "SKU-2", Name: "Two", Quantity: 5, UnitPriceCents: 1000, Currency: "EUR"},
				{ProductID: "p4", SKU: "SKU-4", Name: "Four", Quantity: 3, UnitPriceCents: 0, Currency: "EUR"},
			},
			wantCurrency: "EUR", wantTotal: 7500, wantItems: 18,
			wantAvailable: map[string]int64{"p1": 0, "p2": 0, "p4": 0},
		},
		{
			name:         "free product",
			lines:        []domain.LineRequest{{"p4", 2}},
			wantLines:    []domain.OrderLine{{ProductID: "p4", SKU: "SKU-4", Name: "Four", Quantity: 2, UnitPriceCents: 0, Currency: "EUR"}},
			wantCurrency: "EUR", wantTotal: 0, wantItems: 2,
			wantAvailable: map[string]int64{"p4": 1},
		},
		{
			name:         "other currency",
			lines:        []domain.LineRequest{{"p3", 5}},
			wantLines:    []domain.OrderLine{{ProductID: "p3", SKU: "SKU-3", Name: "Three", Quantity: 5, UnitPriceCents: 500, Currency: "USD"}},
			wantCurrency: "USD", wantTotal: 2500, wantItems: 5,
			wantAvailable: map[string]int64{"p3": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := catalogue(t)
			before := stateOf(products)

			o, err := domain.PlaceOrder("o1", "c1", tt.lines, products)
			if err != nil {
				t.Fatalf("PlaceOrder: %v", err)
			}

			wantState := domain.OrderState{CustomerID: "c1", Status: domain.OrderPlacedStatus, Currency: tt.wantCurrency, Lines: tt.wantLines}
			if diff := cmp.Diff(wantState, o.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
			if got := o.State().TotalCents(); got != tt.wantTotal {
				t.Errorf("TotalCents() = %d, want %d", got, tt.wantTotal)
			}
			if got := o.State().ItemCount(); got != tt.wantItems {
				t.Errorf("ItemCount() = %d, want %d", got, tt.wantItems)
			}
			checkChanges(t, o, []domain.Event{domain.OrderPlaced{CustomerID: "c1", Currency: tt.wantCurrency, Lines: tt.wantLines}})
			checkVersions(t, o, 1, 0)
			if o.AggregateID() != "o1" || o.AggregateType() != domain.OrderAggregate {
				t.Errorf("aggregate = %s %s, want order o1", o.AggregateType(), o.AggregateID())
			}

			quantities := make(map[string]int64)
			for _, l := range tt.lines {
				quantities[l.ProductID] = l.Quantity
			}
			for id, p := range products {
				wantAvail := before[id].Available
				if a, ok := tt.wantAvailable[id]; ok {
					wantAvail = a
				}
				if got := p.State().Available; got != wantAvail {
					t.Errorf("product %s Available = %d, want %d", id, got, wantAvail)
				}
				if q, ok := quantities[id]; ok {
					checkChanges(t, p, []domain.Event{domain.StockReserved{OrderID: "o1", Quantity: q}})
					checkVersions(t, p, 2, 1)
				} else {
					checkChanges(t, p, nil)
					checkVersions(t, p, 1, 1)
				}
			}
		})
	}
}

func TestPlaceOrderLimits(t *testing.T) {
	t.Run("100 lines of 10,000 units", func(t *testing.T) {
		products := bigCatalogue(t, 100, 10_000)
		o, err := domain.PlaceOrder("o1", "c1", manyLines(100, 10_000), products)
		if err != nil {
			t.Fatalf("PlaceOrder: %v", err)
		}
		if got := len(o.State().Lines); got != 100 {
			t.Errorf("lines = %d, want 100", got)
		}
		if got, want := o.State().ItemCount(), int64(1_000_000); got != want {
			t.Errorf("ItemCount() = %d, want %d", got, want)
		}
		if got, want := o.State().TotalCents(), int64(100*10_000*100); got != want {
			t.Errorf("TotalCents() = %d, want %d", got, want)
		}
		for id, p := range products {
			if got := p.State().Available; got != 0 {
				t.Errorf("product %s Available = %d, want 0", id, got)
			}
		}
	})
}

func TestOrderTotals(t *testing.T) {
	tests := []struct {
		name      string
		lines     []domain.OrderLine
		wantTotal int64
		wantItems int64
	}{
		{name: "no lines", lines: nil, wantTotal: 0, wantItems: 0},
		{name: "one line", lines: []domain.OrderLine{{Quantity: 3, UnitPriceCents: 199}}, wantTotal: 597, wantItems: 3},
		{name: "several lines", lines: []domain.OrderLine{{Quantity: 2, UnitPriceCents: 1000}, {Quantity: 1, UnitPriceCents: 5}, {Quantity: 7, UnitPriceCents: 0}}, wantTotal: 2005, wantItems: 10},
		{name: "largest order does not overflow", lines: func() []domain.OrderLine {
			ls := make([]domain.OrderLine, domain.MaxOrderLines)
			for i := range ls {
				ls[i] = domain.OrderLine{Quantity: domain.MaxLineQuantity, UnitPriceCents: domain.MaxPriceCents}
			}
			return ls
		}(), wantTotal: 1_000_000_000_000_000_000, wantItems: 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := domain.OrderState{Lines: tt.lines}
			if got := s.TotalCents(); got != tt.wantTotal {
				t.Errorf("TotalCents() = %d, want %d", got, tt.wantTotal)
			}
			if got := s.ItemCount(); got != tt.wantItems {
				t.Errorf("ItemCount() = %d, want %d", got, tt.wantItems)
			}
			var sum int64
			for _, l := range tt.lines {
				if got, want := l.TotalCents(), l.Quantity*l.UnitPriceCents; got != want {
					t.Errorf("line TotalCents() = %d, want %d", got, want)
				}
				sum += l.TotalCents()
			}
			if sum != tt.wantTotal {
				t.Errorf("sum of line totals = %d, want %d", sum, tt.wantTotal)
			}
		})
	}
}

func TestPlaceOrderCapturesPricesAndNames(t *testing.T) {
	products := catalogue(t)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 2}, {"p2", 1}}, products)
	if err != nil {
		t.Fatal(err)
	}
	wantLines := []domain.OrderLine{
		{ProductID: "p1", SKU: "SKU-1", Name: "One", Quantity: 2, UnitPriceCents: 250, Currency: "EUR"},
		{ProductID: "p2", SKU: "SKU-2", Name: "Two", Quantity: 1, UnitPriceCents: 1000, Currency: "EUR"},
	}
	if err := products["p1"].ChangePrice(9999); err != nil {
		t.Fatal(err)
	}
	if err := products["p2"].ChangePrice(0); err != nil {
		t.Fatal(err)
	}
	if err := products["p1"].ChangeDetails(ptr("Renamed"), ptr("new")); err != nil {
		t.Fatal(err)
	}
	if err := products["p1"].AddStock(100); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantLines, o.State().Lines); diff != "" {
		t.Errorf("order lines changed after the products did (-want +got):\n%s", diff)
	}
	if got := o.State().TotalCents(); got != 1500 {
		t.Errorf("TotalCents() = %d, want 1500", got)
	}
	checkChanges(t, o, []domain.Event{domain.OrderPlaced{CustomerID: "c1", Currency: "EUR", Lines: wantLines}})

	// The captured prices survive a reload from the events, too.
	loaded := domain.LoadOrder("o1", nil, o.Changes())
	if diff := cmp.Diff(wantLines, loaded.State().Lines); diff != "" {
		t.Errorf("reloaded order lines mismatch (-want +got):\n%s", diff)
	}

	// A new order takes the new price and name.
	o2, err := domain.PlaceOrder("o2", "c1", []domain.LineRequest{{"p1", 1}}, products)
	if err != nil {
		t.Fatal(err)
	}
	want2 := []domain.OrderLine{{ProductID: "p1", SKU: "SKU-1", Name: "Renamed", Quantity: 1, UnitPriceCents: 9999, Currency: "EUR"}}
	if diff := cmp.Diff(want2, o2.State().Lines); diff != "" {
		t.Errorf("second order lines mismatch (-want +got):\n%s", diff)
	}
}

// ---------------------------------------------------------------------------
// Insufficient stock
// ---------------------------------------------------------------------------

func TestPlaceOrderInsufficientStock(t *testing.T) {
	tests := []struct {
		name      string
		lines     []domain.LineRequest
		want      domain.InsufficientStockError
		untouched []string // products that must have recorded nothing
	}{
		{name: "one more than in stock", lines: []domain.LineRequest{{"p1", 11}},
			want: domain.InsufficientStockError{ProductID: "p1", Requested: 11, Available: 10}, untouched: []string{"p1"}},
		{name: "out of stock", lines: []domain.LineRequest{{"p5", 1}},
			want: domain.InsufficientStockError{ProductID: "p5", Requested: 1, Available: 0}, untouched: []string{"p5"}},
		{name: "first line short", lines: []domain.LineRequest{{"p2", 6}, {"p1", 1}},
			want: domain.InsufficientStockError{ProductID: "p2", Requested: 6, Available: 5}, untouched: []string{"p1", "p2"}},
		{name: "last line short", lines: []domain.LineRequest{{"p1", 1}, {"p4", 1}, {"p2", 6}},
			want: domain.InsufficientStockError{ProductID: "p2", Requested: 6, Available: 5}, untouched: []string{"p2"}},
		{name: "maximum quantity on a small stock", lines: []domain.LineRequest{{"p1", 10_000}},
			want: domain.InsufficientStockError{ProductID: "p1", Requested: 10_000, Available: 10}, untouched: []string{"p1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			products := catalogue(t)
			before := stateOf(products)

			o, err := domain.PlaceOrder("o1", "c1", tt.lines, products)
			if err == nil {
				t.Fatal("error = nil, want insufficient stock")
			}
			if o != nil {
				t.Errorf("PlaceOrder returned an order with an error")
			}
			if !errors.Is(err, domain.ErrInsufficientStock) {
				t.Errorf("errors.Is(%v, ErrInsufficientStock) = false", err)
			}
			if errors.Is(err, domain.ErrIllegalTransition) {
				t.Errorf("errors.Is(%v, ErrIllegalTransition) = true", err)
			}
			var ise *domain.InsufficientStockError
			if !errors.As(err, &ise) {
				t.Fatalf("errors.As(%v, *InsufficientStockError) = false", err)
			}
			if diff := cmp.Diff(tt.want, *ise); diff != "" {
				t.Errorf("InsufficientStockError mismatch (-want +got):\n%s", diff)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
			// Wrapped, it is still recognised.
			wrapped := fmt.Errorf("place: %w", err)
			if !errors.Is(wrapped, domain.ErrInsufficientStock) || !errors.As(wrapped, &ise) {
				t.Errorf("wrapped error %v no longer matches", wrapped)
			}
			for _, id := range tt.untouched {
				p := products[id]
				if len(p.Changes()) != 0 {
					t.Errorf("product %s recorded %v, want nothing", id, p.Changes())
				}
				if got := p.State().Available; got != before[id].Available {
					t.Errorf("product %s Available = %d, want %d", id, got, before[id].Available)
				}
			}
		})
	}
}

// A refused order must leave every product as it was, even those on lines
// before the short one.
func TestPlaceOrderShortLineLeavesEarlierProductsUntouched(t *testing.T) {
	products := catalogue(t)
	before := stateOf(products)
	if _, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 1}, {"p2", 6}}, products); err == nil {
		t.Fatal("want insufficient stock")
	}
	checkUntouched(t, products, before)
}

func TestReservationsAccumulate(t *testing.T) {
	products := catalogue(t)
	if _, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p2", 3}}, products); err != nil {
		t.Fatal(err)
	}
	if got := products["p2"].State().Available; got != 2 {
		t.Fatalf("Available = %d, want 2", got)
	}
	_, err := domain.PlaceOrder("o2", "c1", []domain.LineRequest{{"p2", 3}}, products)
	var ise *domain.InsufficientStockError
	if !errors.As(err, &ise) {
		t.Fatalf("error = %v, want *InsufficientStockError", err)
	}
	if diff := cmp.Diff(domain.InsufficientStockError{ProductID: "p2", Requested: 3, Available: 2}, *ise); diff != "" {
		t.Errorf("InsufficientStockError mismatch (-want +got):\n%s", diff)
	}
	if _, err := domain.PlaceOrder("o3", "c1", []domain.LineRequest{{"p2", 2}}, products); err != nil {
		t.Fatalf("exact remaining stock refused: %v", err)
	}
	if got := products["p2"].State().Available; got != 0 {
		t.Errorf("Available = %d, want 0", got)
	}
	checkChanges(t, products["p2"], []domain.Event{
		domain.StockReserved{OrderID: "o1", Quantity: 3},
		domain.StockReserved{OrderID: "o3", Quantity: 2},
	})
	if _, err := domain.PlaceOrder("o4", "c1", []domain.LineRequest{{"p2", 1}}, products); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Errorf("order on an emptied product: error = %v, want ErrInsufficientStock", err)
	}
	// Restocking makes it orderable again.
	if err := products["p2"].AddStock(1); err != nil {
		t.Fatal(err)
	}
	if _, err := domain.PlaceOrder("o5", "c1", []domain.LineRequest{{"p2", 1}}, products); err != nil {
		t.Errorf("order after restock: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------

type action string

const (
	pay    action = "pay"
	ship   action = "ship"
	cancel action = "cancel"
)

func do(o *domain.Order, a action, products map[string]*domain.Product) error {
	switch a {
	case pay:
		return o.Pay()
	case ship:
		return o.Ship()
	case cancel:
		return o.Cancel(products)
	}
	panic("unknown action " + string(a))
}

// orderAt places o1 (p1×3, p2×2) and walks it along path, then saves
// everything.
func orderAt(t *testing.T, path ...action) (*domain.Order, map[string]*domain.Product) {
	t.Helper()
	products := catalogue(t)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 3}, {"p2", 2}}, products)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range path {
		if err := do(o, a, products); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	o.MarkSaved()
	for _, p := range products {
		p.MarkSaved()
	}
	return o, products
}

func TestOrderTransitions(t *testing.T) {
	tests := []struct {
		name       string
		path       []action
		from       domain.OrderStatus
		act        action
		wantStatus domain.OrderStatus // "" means illegal
		wantEvent  domain.Event
	}{
		// legal
		{name: "pay a placed order", from: domain.OrderPlacedStatus, act: pay, wantStatus: domain.OrderPaidStatus, wantEvent: domain.OrderPaid{}},
		{name: "ship a paid order", path: []action{pay}, from: domain.OrderPaidStatus, act: ship, wantStatus: domain.OrderShippedStatus, wantEvent: domain.OrderShipped{}},
		{name: "cancel a placed order", from: domain.OrderPlacedStatus, act: cancel, wantStatus: domain.OrderCancelledStatus, wantEvent: domain.OrderCancelled{}},
		{name: "cancel a paid order", path: []action{pay}, from: domain.OrderPaidStatus, act: cancel, wantStatus: domain.OrderCancelledStatus, wantEvent: domain.OrderCancelled{}},

		// illegal
		{name: "ship a placed order", from: domain.OrderPlacedStatus, act: ship},
		{name: "pay twice", path: []action{pay}, from: domain.OrderPaidStatus, act: pay},
		{name: "pay a shipped order", path: []action{pay, ship}, from: domain.OrderShippedStatus, act: pay},
		{name: "ship twice", path: []action{pay, ship}, from: domain.OrderShippedStatus, act: ship},
		{name: "cancel a shipped order", path: []action{pay, ship}, from: domain.OrderShippedStatus, act: cancel},
		{name: "pay a cancelled order", path: []action{cancel}, from: domain.OrderCancelledStatus, act: pay},
		{name: "ship a cancelled order", path: []action{cancel}, from: domain.OrderCancelledStatus, act: ship},
		{name: "cancel a cancelled order", path: []action{cancel}, from: domain.OrderCancelledStatus, act: cancel},
		{name: "pay an order cancelled after payment", path: []action{pay, cancel}, from: domain.OrderCancelledStatus, act: pay},
		{name: "ship an order cancelled after payment", path: []action{pay, cancel}, from: domain.OrderCancelledStatus, act: ship},
		{name: "cancel an order cancelled after payment", path: []action{pay, cancel}, from: domain.OrderCancelledStatus, act: cancel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, products := orderAt(t, tt.path...)
			if got := o.State().Status; got != tt.from {
				t.Fatalf("setup: status = %q, want %q", got, tt.from)
			}
			v := o.Version()
			before := stateOf(products)
			beforeOrder := o.State()

			err := do(o, tt.act, products)

			if tt.wantStatus != "" {
				if err != nil {
					t.Fatalf("%s from %s: %v", tt.act, tt.from, err)
				}
				if got := o.State().Status; got != tt.wantStatus {
					t.Errorf("status = %q, want %q", got, tt.wantStatus)
				}
				checkChanges(t, o, []domain.Event{tt.wantEvent})
				checkVersions(t, o, v+1, v)
				if tt.act != cancel {
					checkUntouched(t, products, before)
				}
				wantOrder := beforeOrder
				wantOrder.Status = tt.wantStatus
				if diff := cmp.Diff(wantOrder, o.State()); diff != "" {
					t.Errorf("State() mismatch (-want +got):\n%s", diff)
				}
				return
			}

			if err == nil {
				t.Fatalf("%s from %s: error = nil, want illegal transition", tt.act, tt.from)
			}
			if !errors.Is(err, domain.ErrIllegalTransition) {
				t.Errorf("errors.Is(%v, ErrIllegalTransition) = false", err)
			}
			if errors.Is(err, domain.ErrInsufficientStock) {
				t.Errorf("errors.Is(%v, ErrInsufficientStock) = true", err)
			}
			var ite *domain.IllegalTransitionError
			if !errors.As(err, &ite) {
				t.Fatalf("errors.As(%v, *IllegalTransitionError) = false", err)
			}
			if diff := cmp.Diff(domain.IllegalTransitionError{From: tt.from, Action: string(tt.act)}, *ite); diff != "" {
				t.Errorf("IllegalTransitionError mismatch (-want +got):\n%s", diff)
			}
			if err.Error() == "" {
				t.Error("empty error message")
			}
			if !errors.Is(fmt.Errorf("wrapped: %w", err), domain.ErrIllegalTransition) {
				t.Error("wrapped error no longer matches ErrIllegalTransition")
			}
			checkChanges(t, o, nil)
			checkVersions(t, o, v, v)
			if diff := cmp.Diff(beforeOrder, o.State()); diff != "" {
				t.Errorf("State() changed (-before +after):\n%s", diff)
			}
			checkUntouched(t, products, before)
		})
	}
}

func TestTransitionsOfAnUnplacedOrder(t *testing.T) {
	for _, a := range []action{pay, ship, cancel} {
		t.Run(string(a), func(t *testing.T) {
			o := domain.LoadOrder("o9", nil, nil)
			err := do(o, a, map[string]*domain.Product{})
			if !errors.Is(err, domain.ErrIllegalTransition) {
				t.Errorf("error = %v, want ErrIllegalTransition", err)
			}
			checkChanges(t, o, nil)
			checkVersions(t, o, 0, 0)
		})
	}
}

func TestCancelReleasesStock(t *testing.T) {
	tests := []struct {
		name string
		path []action
	}{
		{name: "placed", path: nil},
		{name: "paid", path: []action{pay}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, products := orderAt(t, tt.path...)
			if got := products["p1"].State().Available; got != 7 {
				t.Fatalf("setup: p1 Available = %d, want 7", got)
			}
			if got := products["p2"].State().Available; got != 3 {
				t.Fatalf("setup: p2 Available = %d, want 3", got)
			}
			// Stock moves meanwhile: a restock on p1, another order on p2.
			if err := products["p1"].AddStock(4); err != nil {
				t.Fatal(err)
			}
			if _, err := domain.PlaceOrder("o2", "c1", []domain.LineRequest{{"p2", 3}}, products); err != nil {
				t.Fatal(err)
			}
			for _, p := range products {
				p.MarkSaved()
			}
			before := stateOf(products)

			if err := o.Cancel(products); err != nil {
				t.Fatalf("Cancel: %v", err)
			}

			wantAvail := map[string]int64{"p1": 7 + 4 + 3, "p2": 0 + 2}
			for id, want := range wantAvail {
				if got := products[id].State().Available; got != want {
					t.Errorf("product %s Available = %d, want %d", id, got, want)
				}
			}
			checkChanges(t, products["p1"], []domain.Event{domain.StockReleased{OrderID: "o1", Quantity: 3}})
			checkChanges(t, products["p2"], []domain.Event{domain.StockReleased{OrderID: "o1", Quantity: 2}})
			for _, id := range []string{"p3", "p4", "p5"} {
				if len(products[id].Changes()) != 0 || products[id].State() != before[id] {
					t.Errorf("product %s touched by a cancel that does not concern it", id)
				}
			}
			checkChanges(t, o, []domain.Event{domain.OrderCancelled{}})
			if got := o.State().Status; got != domain.OrderCancelledStatus {
				t.Errorf("status = %q, want cancelled", got)
			}
		})
	}
}

func TestCancelRestoresExactStock(t *testing.T) {
	products := catalogue(t)
	before := stateOf(products)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 10}, {"p2", 5}, {"p4", 3}}, products)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Cancel(products); err != nil {
		t.Fatal(err)
	}
	for id, p := range products {
		if got, want := p.State().Available, before[id].Available; got != want {
			t.Errorf("product %s Available = %d, want %d", id, got, want)
		}
	}
	checkChanges(t, products["p1"], []domain.Event{
		domain.StockReserved{OrderID: "o1", Quantity: 10},
		domain.StockReleased{OrderID: "o1", Quantity: 10},
	})
}

func TestCancelWithAProductMissing(t *testing.T) {
	o, products := orderAt(t)
	partial := map[string]*domain.Product{"p1": products["p1"]}
	before := stateOf(partial)

	err := o.Cancel(partial)
	if err == nil {
		t.Fatal("error = nil, want one for a product not loaded")
	}
	if errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("error %v should not be an illegal transition", err)
	}
	checkChanges(t, o, nil)
	checkVersions(t, o, 1, 1)
	if got := o.State().Status; got != domain.OrderPlacedStatus {
		t.Errorf("status = %q, want placed", got)
	}
	checkUntouched(t, partial, before)
}

// ---------------------------------------------------------------------------
// Rehydration
// ---------------------------------------------------------------------------

func TestLoadOrder(t *testing.T) {
	paths := []struct {
		name string
		path []action
		want domain.OrderStatus
	}{
		{name: "placed", want: domain.OrderPlacedStatus},
		{name: "paid", path: []action{pay}, want: domain.OrderPaidStatus},
		{name: "shipped", path: []action{pay, ship}, want: domain.OrderShippedStatus},
		{name: "cancelled", path: []action{cancel}, want: domain.OrderCancelledStatus},
		{name: "paid then cancelled", path: []action{pay, cancel}, want: domain.OrderCancelledStatus},
	}
	for _, pt := range paths {
		t.Run(pt.name, func(t *testing.T) {
			products := catalogue(t)
			created := stateOf(products)
			o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 3}, {"p2", 2}}, products)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range pt.path {
				if err := do(o, a, products); err != nil {
					t.Fatal(err)
				}
			}
			if got := o.State().Status; got != pt.want {
				t.Fatalf("status = %q, want %q", got, pt.want)
			}
			events := o.Changes()
			checkVersions(t, o, int64(1+len(pt.path)), 0)

			got := domain.LoadOrder("o1", nil, events)
			if diff := cmp.Diff(o.State(), got.State()); diff != "" {
				t.Errorf("full fold State() mismatch (-built +loaded):\n%s", diff)
			}
			checkChanges(t, got, nil)
			checkVersions(t, got, o.Version(), o.Version())

			for k := 0; k <= len(events); k++ {
				snap := domain.LoadOrder("o1", nil, events[:k])
				restored := domain.RestoreOrder("o1", snap.Version(), snap.State())
				checkVersions(t, restored, int64(k), int64(k))
				got := domain.LoadOrder("o1", restored, events[k:])
				if diff := cmp.Diff(o.State(), got.State()); diff != "" {
					t.Errorf("snapshot at %d: State() mismatch (-full fold +snapshot fold):\n%s", k, diff)
				}
				checkChanges(t, got, nil)
				checkVersions(t, got, o.Version(), o.Version())
			}

			// The products rebuild too, from their saved creation (version 1)
			// plus the reservations and releases.
			for id, p := range products {
				lp := domain.LoadProduct(id, domain.RestoreProduct(id, 1, created[id]), p.Changes())
				if diff := cmp.Diff(p.State(), lp.State()); diff != "" {
					t.Errorf("product %s State() mismatch (-built +loaded):\n%s", id, diff)
				}
				checkVersions(t, lp, p.Version(), p.Version())
			}
		})
	}
}

func TestLoadedOrderTransitions(t *testing.T) {
	products := catalogue(t)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 3}}, products)
	if err != nil {
		t.Fatal(err)
	}
	loaded := domain.LoadOrder("o1", nil, o.Changes())
	if err := loaded.Pay(); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, loaded, []domain.Event{domain.OrderPaid{}})
	checkVersions(t, loaded, 2, 1)

	restored := domain.RestoreOrder("o1", loaded.Version(), loaded.State())
	if err := restored.Pay(); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("paying a restored paid order: error = %v, want ErrIllegalTransition", err)
	}
	if err := restored.Cancel(products); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, restored, []domain.Event{domain.OrderCancelled{}})
	checkVersions(t, restored, 3, 2)
	checkChanges(t, products["p1"], []domain.Event{
		domain.StockReserved{OrderID: "o1", Quantity: 3},
		domain.StockReleased{OrderID: "o1", Quantity: 3},
	})
	if got := products["p1"].State().Available; got != 10 {
		t.Errorf("p1 Available = %d, want 10", got)
	}
}

func TestOrderMarkSaved(t *testing.T) {
	products := catalogue(t)
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{"p1", 1}}, products)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Pay(); err != nil {
		t.Fatal(err)
	}
	o.MarkSaved()
	checkChanges(t, o, nil)
	checkVersions(t, o, 2, 2)
	if err := o.Ship(); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, o, []domain.Event{domain.OrderShipped{}})
	checkVersions(t, o, 3, 2)
}
