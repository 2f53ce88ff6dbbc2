package domain_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/domain"
)

// ---------------------------------------------------------------------------
// Helpers shared by every test file of package domain_test.
// ---------------------------------------------------------------------------

func ptr[T any](v T) *T { return &v }

// fieldsOf returns the field names of err, which must be a *ValidationError.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want *domain.ValidationError", err, err)
	}
	names := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		if f.Message == "" {
			t.Errorf("field %q has an empty message", f.Field)
		}
		names[i] = f.Field
	}
	return names
}

// checkFields asserts err is a *ValidationError naming exactly want, in order;
// want nil means err must be nil.
func checkFields(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error = %v, want nil", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("error = nil, want validation error on %v", want)
	}
	if errors.Is(err, domain.ErrInsufficientStock) || errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("validation error %v also matches a sentinel error", err)
	}
	if diff := cmp.Diff(want, fieldsOf(t, err)); diff != "" {
		t.Errorf("failing fields mismatch (-want +got):\n%s", diff)
	}
}

// checkChanges asserts the aggregate's pending events.
func checkChanges(t *testing.T, a domain.Aggregate, want []domain.Event) {
	t.Helper()
	if diff := cmp.Diff(want, a.Changes()); diff != "" {
		t.Errorf("%s %s pending events mismatch (-want +got):\n%s", a.AggregateType(), a.AggregateID(), diff)
	}
}

// checkVersions asserts Version() and ExpectedVersion().
func checkVersions(t *testing.T, a domain.Aggregate, version, expected int64) {
	t.Helper()
	if got := a.Version(); got != version {
		t.Errorf("%s %s Version() = %d, want %d", a.AggregateType(), a.AggregateID(), got, version)
	}
	if got := domain.ExpectedVersion(a); got != expected {
		t.Errorf("%s %s ExpectedVersion() = %d, want %d", a.AggregateType(), a.AggregateID(), got, expected)
	}
}

// newProduct creates a valid product whose creation is already saved.
func newProduct(t *testing.T, id, sku, name string, priceCents int64, currency string, stock int64) *domain.Product {
	t.Helper()
	p, err := domain.CreateProduct(id, sku, name, "description of "+name, priceCents, currency, stock)
	if err != nil {
		t.Fatalf("CreateProduct(%s): %v", id, err)
	}
	p.MarkSaved()
	return p
}

// ---------------------------------------------------------------------------
// CreateProduct
// ---------------------------------------------------------------------------

type productInput struct {
	sku, name, description string
	priceCents             int64
	currency               string
	initialStock           int64
}

func validProductInput() productInput {
	return productInput{sku: "WID-001", name: "Widget", description: "A small widget.", priceCents: 1999, currency: "EUR", initialStock: 10}
}

func TestCreateProduct(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(*productInput)
		wantFields []string // nil: success
	}{
		{name: "valid", edit: func(*productInput) {}},

		// SKU
		{name: "sku of one character", edit: func(in *productInput) { in.sku = "a" }},
		{name: "sku of 64 characters", edit: func(in *productInput) { in.sku = strings.Repeat("A", 64) }},
		{name: "sku of every allowed character class, case kept", edit: func(in *productInput) { in.sku = "aZ09._-Xy" }},
		{name: "sku of lower case only", edit: func(in *productInput) { in.sku = "widget-001" }},
		{name: "sku empty", edit: func(in *productInput) { in.sku = "" }, wantFields: []string{"sku"}},
		{name: "sku of 65 characters", edit: func(in *productInput) { in.sku = strings.Repeat("A", 65) }, wantFields: []string{"sku"}},
		{name: "sku with a space", edit: func(in *productInput) { in.sku = "WID 001" }, wantFields: []string{"sku"}},
		{name: "sku with a slash", edit: func(in *productInput) { in.sku = "WID/001" }, wantFields: []string{"sku"}},
		{name: "sku with an exclamation mark", edit: func(in *productInput) { in.sku = "WID!" }, wantFields: []string{"sku"}},
		{name: "sku with a plus", edit: func(in *productInput) { in.sku = "WID+1" }, wantFields: []string{"sku"}},
		{name: "sku with an accented letter", edit: func(in *productInput) { in.sku = "WIDÉ" }, wantFields: []string{"sku"}},
		{name: "sku with a non-ASCII digit", edit: func(in *productInput) { in.sku = "WID٣" }, wantFields: []string{"sku"}},
		{name: "sku with a NUL", edit: func(in *productInput) { in.sku = "WID\x00" }, wantFields: []string{"sku"}},
		{name: "sku with a newline", edit: func(in *productInput) { in.sku = "WID\n" }, wantFields: []string{"sku"}},
		{name: "sku of invalid UTF-8", edit: func(in *productInput) { in.sku = "WID\xff" }, wantFields: []string{"sku"}},

		// name
		{name: "name of one character", edit: func(in *productInput) { in.name = "W" }},
		{name: "name of 200 ASCII characters", edit: func(in *productInput) { in.name = strings.Repeat("n", 200) }},
		{name: "name of 200 two-byte characters (400 bytes)", edit: func(in *productInput) { in.name = strings.Repeat("é", 200) }},
		{name: "name of 200 three-byte characters (600 bytes)", edit: func(in *productInput) { in.name = strings.Repeat("日", 200) }},
		{name: "name of 200 four-byte characters (800 bytes)", edit: func(in *productInput) { in.name = strings.Repeat("🙂", 200) }},
		{name: "name with inner spaces and punctuation", edit: func(in *productInput) { in.name = "Widget, large (blue) — 2 pack" }},
		{name: "name empty", edit: func(in *productInput) { in.name = "" }, wantFields: []string{"name"}},
		{name: "name of 201 ASCII characters", edit: func(in *productInput) { in.name = strings.Repeat("n", 201) }, wantFields: []string{"name"}},
		{name: "name of 201 two-byte characters", edit: func(in *productInput) { in.name = strings.Repeat("é", 201) }, wantFields: []string{"name"}},
		{name: "name of spaces only", edit: func(in *productInput) { in.name = "   " }, wantFields: []string{"name"}},
		{name: "name of tab and newline only", edit: func(in *productInput) { in.name = "\t\n\r" }, wantFields: []string{"name"}},
		{name: "name of no-break space only", edit: func(in *productInput) { in.name = "\u00a0" }, wantFields: []string{"name"}},
		{name: "name of ideographic space only", edit: func(in *productInput) { in.name = "\u3000" }, wantFields: []string{"name"}},
		{name: "name with NUL", edit: func(in *productInput) { in.name = "Wid\x00get" }, wantFields: []string{"name"}},
		{name: "name with escape", edit: func(in *productInput) { in.name = "Wid\x1bget" }, wantFields: []string{"name"}},
		{name: "name with DEL", edit: func(in *productInput) { in.name = "Wid\x7fget" }, wantFields: []string{"name"}},
		{name: "name with C1 control", edit: func(in *productInput) { in.name = "Wid\u0085get" }, wantFields: []string{"name"}},
		{name: "name of invalid UTF-8", edit: func(in *productInput) { in.name = "Wid\xffget" }, wantFields: []string{"name"}},
		{name: "name with a newline", edit: func(in *productInput) { in.name = "Wid\nget" }, wantFields: []string{"name"}},
		{name: "name with a tab", edit: func(in *productInput) { in.name = "Wid\tget" }, wantFields: []string{"name"}},

		// description
		{name: "description empty", edit: func(in *productInput) { in.description = "" }},
		{name: "description of 2000 ASCII characters", edit: func(in *productInput) { in.description = strings.Repeat("d", 2000) }},
		{name: "description of 2000 three-byte characters", edit: func(in *productInput) { in.description = strings.Repeat("日", 2000) }},
		{name: "description with newlines, tabs and carriage returns", edit: func(in *productInput) { in.description = "Line one.\r\n\tLine two." }},
		{name: "description of spaces only", edit: func(in *productInput) { in.description = "   " }},
		{name: "description of 2001 ASCII characters", edit: func(in *productInput) { in.description = strings.Repeat("d", 2001) }, wantFields: []string{"description"}},
		{name: "description of 2001 two-byte characters", edit: func(in *productInput) { in.description = strings.Repeat("é", 2001) }, wantFields: []string{"description"}},
		{name: "description with NUL", edit: func(in *productInput) { in.description = "bad\x00" }, wantFields: []string{"description"}},
		{name: "description with bell", edit: func(in *productInput) { in.description = "bad\a" }, wantFields: []string{"description"}},
		{name: "description of invalid UTF-8", edit: func(in *productInput) { in.description = "bad\xc3" }, wantFields: []string{"description"}},

		// price
		{name: "price zero", edit: func(in *productInput) { in.priceCents = 0 }},
		{name: "price 10^12", edit: func(in *productInput) { in.priceCents = 1_000_000_000_000 }},
		{name: "price 10^12+1", edit: func(in *productInput) { in.priceCents = 1_000_000_000_001 }, wantFields: []string{"priceCents"}},
		{name: "price -1", edit: func(in *productInput) { in.priceCents = -1 }, wantFields: []string{"priceCents"}},
		{name: "price MinInt64", edit: func(in *productInput) { in.priceCents = math.MinInt64 }, wantFields: []string{"priceCents"}},
		{name: "price MaxInt64", edit: func(in *productInput) { in.priceCents = math.MaxInt64 }, wantFields: []string{"priceCents"}},

		// currency
		{name: "currency USD", edit: func(in *productInput) { in.currency = "USD" }},
		{name: "currency JPY", edit: func(in *productInput) { in.currency = "JPY" }},
		{name: "currency lower case", edit: func(in *productInput) { in.currency = "eur" }, wantFields: []string{"currency"}},
		{name: "currency mixed case", edit: func(in *productInput) { in.currency = "Eur" }, wantFields: []string{"currency"}},
		{name: "currency of four letters", edit: func(in *productInput) { in.currency = "EURO" }, wantFields: []string{"currency"}},
		{name: "currency fake XXX", edit: func(in *productInput) { in.currency = "XXX" }, wantFields: []string{"currency"}},
		{name: "currency fake ABC", edit: func(in *productInput) { in.currency = "ABC" }, wantFields: []string{"currency"}},
		{name: "currency empty", edit: func(in *productInput) { in.currency = "" }, wantFields: []string{"currency"}},
		{name: "currency with a space", edit: func(in *productInput) { in.currency = "EU " }, wantFields: []string{"currency"}},
		{name: "currency symbol", edit: func(in *productInput) { in.currency = "€" }, wantFields: []string{"currency"}},

		// initial stock
		{name: "initial stock zero", edit: func(in *productInput) { in.initialStock = 0 }},
		{name: "initial stock MaxStock", edit: func(in *productInput) { in.initialStock = domain.MaxStock }},
		{name: "initial stock -1", edit: func(in *productInput) { in.initialStock = -1 }, wantFields: []string{"initialStock"}},
		{name: "initial stock MinInt64", edit: func(in *productInput) { in.initialStock = math.MinInt64 }, wantFields: []string{"initialStock"}},
		{name: "initial stock above MaxStock", edit: func(in *productInput) { in.initialStock = domain.MaxStock + 1 }, wantFields: []string{"initialStock"}},

		// several at once
		{name: "every field failing at once", edit: func(in *productInput) {
			*in = productInput{sku: "", name: "", description: strings.Repeat("d", 2001), priceCents: -1, currency: "eur", initialStock: -1}
		}, wantFields: []string{"sku", "name", "description", "priceCents", "currency", "initialStock"}},
		{name: "two fields failing", edit: func(in *productInput) { in.sku = "bad sku"; in.currency = "XXX" }, wantFields: []string{"sku", "currency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validProductInput()
			tt.edit(&in)
			p, err := domain.CreateProduct("p1", in.sku, in.name, in.description, in.priceCents, in.currency, in.initialStock)
			checkFields(t, err, tt.wantFields)
			if tt.wantFields != nil {
				if p != nil {
					t.Errorf("CreateProduct returned a product with an error: %+v", p.State())
				}
				return
			}
			if p == nil {
				t.Fatal("CreateProduct returned nil product and nil error")
			}
			wantState := domain.ProductState{SKU: in.sku, Name: in.name, Description: in.description, PriceCents: in.priceCents, Currency: in.currency, Available: in.initialStock}
			if diff := cmp.Diff(wantState, p.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
			checkChanges(t, p, []domain.Event{domain.ProductCreated{SKU: in.sku, Name: in.name, Description: in.description, Price: domain.Money{Amount: in.priceCents, Currency: in.currency}, InitialStock: in.initialStock}})
			checkVersions(t, p, 1, 0)
			if got := p.AggregateID(); got != "p1" {
				t.Errorf("AggregateID() = %q, want p1", got)
			}
			if got := p.AggregateType(); got != domain.ProductAggregate {
				t.Errorf("AggregateType() = %q, want %q", got, domain.ProductAggregate)
			}
		})
	}
}

func TestEventNames(t *testing.T) {
	tests := []struct {
		event domain.Event
		want  string
	}{
		{domain.ProductCreated{}, "ProductCreated"},
		{domain.ProductDetailsChanged{}, "ProductDetailsChanged"},
		{domain.ProductPriceChanged{}, "ProductPriceChanged"},
		{domain.StockAdded{}, "StockAdded"},
		{domain.StockReserved{}, "StockReserved"},
		{domain.StockReleased{}, "StockReleased"},
		{domain.CustomerRegistered{}, "CustomerRegistered"},
		{domain.CustomerProfileUpdated{}, "CustomerProfileUpdated"},
		{domain.OrderPlaced{}, "OrderPlaced"},
		{domain.OrderPaid{}, "OrderPaid"},
		{domain.OrderShipped{}, "OrderShipped"},
		{domain.OrderCancelled{}, "OrderCancelled"},
	}
	for _, tt := range tests {
		if got := tt.event.EventName(); got != tt.want {
			t.Errorf("%T.EventName() = %q, want %q", tt.event, got, tt.want)
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	_, err := domain.CreateProduct("p1", "", "", "", -1, "EUR", 0)
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	for _, want := range []string{"validation failed", "sku:", "name:", "priceCents:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() = %q, want it to contain %q", msg, want)
		}
	}
}

// ---------------------------------------------------------------------------
// ChangeDetails
// ---------------------------------------------------------------------------

func TestProductChangeDetails(t *testing.T) {
	const oldName, oldDesc = "Widget", "A small widget."
	tests := []struct {
		name       string
		newName    *string
		newDesc    *string
		wantFields []string
		wantEvent  *domain.ProductDetailsChanged // nil: nothing recorded
		wantName   string
		wantDesc   string
	}{
		{name: "both nil keep both, no event", wantName: oldName, wantDesc: oldDesc},
		{name: "same name, no event", newName: ptr(oldName), wantName: oldName, wantDesc: oldDesc},
		{name: "same description, no event", newDesc: ptr(oldDesc), wantName: oldName, wantDesc: oldDesc},
		{name: "same name and description, no event", newName: ptr(oldName), newDesc: ptr(oldDesc), wantName: oldName, wantDesc: oldDesc},
		{name: "new name keeps description", newName: ptr("Gadget"),
			wantEvent: &domain.ProductDetailsChanged{Name: "Gadget", Description: oldDesc}, wantName: "Gadget", wantDesc: oldDesc},
		{name: "new description keeps name", newDesc: ptr("Now in blue."),
			wantEvent: &domain.ProductDetailsChanged{Name: oldName, Description: "Now in blue."}, wantName: oldName, wantDesc: "Now in blue."},
		{name: "both new", newName: ptr("Gadget"), newDesc: ptr("Now in blue."),
			wantEvent: &domain.ProductDetailsChanged{Name: "Gadget", Description: "Now in blue."}, wantName: "Gadget", wantDesc: "Now in blue."},
		{name: "description cleared", newDesc: ptr(""),
			wantEvent: &domain.ProductDetailsChanged{Name: oldName, Description: ""}, wantName: oldName, wantDesc: ""},
		{name: "name changed only in case", newName: ptr("WIDGET"),
			wantEvent: &domain.ProductDetailsChanged{Name: "WIDGET", Description: oldDesc}, wantName: "WIDGET", wantDesc: oldDesc},
		{name: "name of 200 multi-byte characters", newName: ptr(strings.Repeat("日", 200)),
			wantEvent: &domain.ProductDetailsChanged{Name: strings.Repeat("日", 200), Description: oldDesc}, wantName: strings.Repeat("日", 200), wantDesc: oldDesc},
		{name: "name empty refused", newName: ptr(""), wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "name blank refused", newName: ptr("  \t "), wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "name of 201 characters refused", newName: ptr(strings.Repeat("é", 201)), wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "name with control character refused", newName: ptr("Wid\x00get"), wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "name of invalid UTF-8 refused", newName: ptr("\xff"), wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "invalid name refuses a valid description too", newName: ptr(""), newDesc: ptr("Now in blue."),
			wantFields: []string{"name"}, wantName: oldName, wantDesc: oldDesc},
		{name: "description of 2001 characters refused", newDesc: ptr(strings.Repeat("d", 2001)), wantFields: []string{"description"}, wantName: oldName, wantDesc: oldDesc},
		{name: "description with control character refused", newDesc: ptr("bad\x01"), wantFields: []string{"description"}, wantName: oldName, wantDesc: oldDesc},
		{name: "invalid description refuses a valid name too", newName: ptr("Gadget"), newDesc: ptr(strings.Repeat("d", 2001)),
			wantFields: []string{"description"}, wantName: oldName, wantDesc: oldDesc},
		{name: "both invalid, both listed", newName: ptr(""), newDesc: ptr("\x00"),
			wantFields: []string{"name", "description"}, wantName: oldName, wantDesc: oldDesc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := domain.CreateProduct("p1", "WID-001", oldName, oldDesc, 1999, "EUR", 10)
			if err != nil {
				t.Fatal(err)
			}
			p.MarkSaved()
			before := p.State()

			err = p.ChangeDetails(tt.newName, tt.newDesc)
			checkFields(t, err, tt.wantFields)

			var want []domain.Event
			wantVersion := int64(1)
			if tt.wantEvent != nil {
				want = []domain.Event{*tt.wantEvent}
				wantVersion = 2
			}
			checkChanges(t, p, want)
			checkVersions(t, p, wantVersion, 1)

			wantState := before
			wantState.Name, wantState.Description = tt.wantName, tt.wantDesc
			if diff := cmp.Diff(wantState, p.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// ChangePrice
// ---------------------------------------------------------------------------

func TestProductChangePrice(t *testing.T) {
	const oldPrice int64 = 1999
	tests := []struct {
		name       string
		price      int64
		wantFields []string
		wantEvent  bool
		wantPrice  int64
	}{
		{name: "same price, no event", price: oldPrice, wantPrice: oldPrice},
		{name: "new price", price: 2499, wantEvent: true, wantPrice: 2499},
		{name: "price zero", price: 0, wantEvent: true, wantPrice: 0},
		{name: "price 10^12", price: domain.MaxPriceCents, wantEvent: true, wantPrice: domain.MaxPriceCents},
		{name: "price 10^12+1 refused", price: domain.MaxPriceCents + 1, wantFields: []string{"priceCents"}, wantPrice: oldPrice},
		{name: "price -1 refused", price: -1, wantFields: []string{"priceCents"}, wantPrice: oldPrice},
		{name: "price MinInt64 refused", price: math.MinInt64, wantFields: []string{"priceCents"}, wantPrice: oldPrice},
		{name: "price MaxInt64 refused", price: math.MaxInt64, wantFields: []string{"priceCents"}, wantPrice: oldPrice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProduct(t, "p1", "WID-001", "Widget", oldPrice, "EUR", 10)
			before := p.State()

			err := p.ChangePrice(tt.price)
			checkFields(t, err, tt.wantFields)

			var want []domain.Event
			wantVersion := int64(1)
			if tt.wantEvent {
				want = []domain.Event{domain.ProductPriceChanged{PriceCents: tt.price}}
				wantVersion = 2
			}
			checkChanges(t, p, want)
			checkVersions(t, p, wantVersion, 1)

			wantState := before
			wantState.PriceCents = tt.wantPrice
			if diff := cmp.Diff(wantState, p.State()); diff != "" {
				t.Errorf("State() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// AddStock
// ---------------------------------------------------------------------------

func TestProductAddStock(t *testing.T) {
	tests := []struct {
		name          string
		initial       int64
		quantity      int64
		wantFields    []string
		wantAvailable int64
	}{
		{name: "one unit", initial: 10, quantity: 1, wantAvailable: 11},
		{name: "to an empty product", initial: 0, quantity: 25, wantAvailable: 25},
		{name: "exactly up to MaxStock", initial: domain.MaxStock - 10, quantity: 10, wantAvailable: domain.MaxStock},
		{name: "MaxStock to an empty product", initial: 0, quantity: domain.MaxStock, wantAvailable: domain.MaxStock},
		{name: "zero refused", initial: 10, quantity: 0, wantFields: []string{"quantity"}, wantAvailable: 10},
		{name: "negative refused", initial: 10, quantity: -5, wantFields: []string{"quantity"}, wantAvailable: 10},
		{name: "MinInt64 refused", initial: 10, quantity: math.MinInt64, wantFields: []string{"quantity"}, wantAvailable: 10},
		{name: "one above MaxStock refused", initial: domain.MaxStock - 10, quantity: 11, wantFields: []string{"quantity"}, wantAvailable: domain.MaxStock - 10},
		{name: "any unit at MaxStock refused", initial: domain.MaxStock, quantity: 1, wantFields: []string{"quantity"}, wantAvailable: domain.MaxStock},
		{name: "MaxStock on top of some stock refused", initial: 1, quantity: domain.MaxStock, wantFields: []string{"quantity"}, wantAvailable: 1},
		{name: "quantity above MaxStock refused", initial: 0, quantity: domain.MaxStock + 1, wantFields: []string{"quantity"}, wantAvailable: 0},
		{name: "MaxInt64 refused, no overflow", initial: domain.MaxStock, quantity: math.MaxInt64, wantFields: []string{"quantity"}, wantAvailable: domain.MaxStock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProduct(t, "p1", "WID-001", "Widget", 100, "EUR", tt.initial)

			err := p.AddStock(tt.quantity)
			checkFields(t, err, tt.wantFields)

			var want []domain.Event
			wantVersion := int64(1)
			if tt.wantFields == nil {
				want = []domain.Event{domain.StockAdded{Quantity: tt.quantity}}
				wantVersion = 2
			}
			checkChanges(t, p, want)
			checkVersions(t, p, wantVersion, 1)
			if got := p.State().Available; got != tt.wantAvailable {
				t.Errorf("Available = %d, want %d", got, tt.wantAvailable)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Rehydration
// ---------------------------------------------------------------------------

// productHistory builds a product through every kind of event, stock
// reservations and releases included, and returns it unsaved.
func productHistory(t *testing.T) *domain.Product {
	t.Helper()
	p, err := domain.CreateProduct("p1", "WID-001", "Widget", "A small widget.", 1999, "EUR", 10)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return p.ChangeDetails(ptr("Gadget"), nil) },
		func() error { return p.ChangePrice(2499) },
		func() error { return p.AddStock(5) },
		func() error { return p.ChangeDetails(nil, ptr("Now in blue.")) },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	products := map[string]*domain.Product{"p1": p}
	o, err := domain.PlaceOrder("o1", "c1", []domain.LineRequest{{ProductID: "p1", Quantity: 4}}, products)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := domain.PlaceOrder("o2", "c1", []domain.LineRequest{{ProductID: "p1", Quantity: 3}}, products); err != nil {
		t.Fatal(err)
	}
	if err := o.Cancel(products); err != nil {
		t.Fatal(err)
	}
	if err := p.ChangePrice(0); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProductHistoryEvents(t *testing.T) {
	p := productHistory(t)
	want := []domain.Event{
		domain.ProductCreated{SKU: "WID-001", Name: "Widget", Description: "A small widget.", Price: domain.Money{Amount: 1999, Currency: "EUR"}, InitialStock: 10},
		domain.ProductDetailsChanged{Name: "Gadget", Description: "A small widget."},
		domain.ProductPriceChanged{PriceCents: 2499},
		domain.StockAdded{Quantity: 5},
		domain.ProductDetailsChanged{Name: "Gadget", Description: "Now in blue."},
		domain.StockReserved{OrderID: "o1", Quantity: 4},
		domain.StockReserved{OrderID: "o2", Quantity: 3},
		domain.StockReleased{OrderID: "o1", Quantity: 4},
		domain.ProductPriceChanged{PriceCents: 0},
	}
	checkChanges(t, p, want)
	checkVersions(t, p, int64(len(want)), 0)
	wantState := domain.ProductState{SKU: "WID-001", Name: "Gadget", Description: "Now in blue.", PriceCents: 0, Currency: "EUR", Available: 12}
	if diff := cmp.Diff(wantState, p.State()); diff != "" {
		t.Errorf("State() mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadProduct(t *testing.T) {
	p := productHistory(t)
	events := p.Changes()

	t.Run("full fold equals the built product", func(t *testing.T) {
		got := domain.LoadProduct("p1", nil, events)
		if diff := cmp.Diff(p.State(), got.State()); diff != "" {
			t.Errorf("State() mismatch (-built +loaded):\n%s", diff)
		}
		checkChanges(t, got, nil)
		checkVersions(t, got, p.Version(), p.Version())
		if got.AggregateID() != "p1" {
			t.Errorf("AggregateID() = %q, want p1", got.AggregateID())
		}
	})

	t.Run("no events gives the empty product", func(t *testing.T) {
		got := domain.LoadProduct("p9", nil, nil)
		if diff := cmp.Diff(domain.ProductState{}, got.State()); diff != "" {
			t.Errorf("State() mismatch (-want +got):\n%s", diff)
		}
		checkVersions(t, got, 0, 0)
	})

	for k := 0; k <= len(events); k++ {
		t.Run("snapshot at version "+strconv.Itoa(k)+" plus the rest", func(t *testing.T) {
			snap := domain.LoadProduct("p1", nil, events[:k])
			restored := domain.RestoreProduct("p1", snap.Version(), snap.State())
			checkVersions(t, restored, int64(k), int64(k))
			got := domain.LoadProduct("p1", restored, events[k:])
			if diff := cmp.Diff(p.State(), got.State()); diff != "" {
				t.Errorf("State() mismatch (-full fold +snapshot fold):\n%s", diff)
			}
			checkChanges(t, got, nil)
			checkVersions(t, got, p.Version(), p.Version())
		})
	}

	t.Run("a loaded product records on top of its version", func(t *testing.T) {
		got := domain.LoadProduct("p1", nil, events)
		if err := got.AddStock(1); err != nil {
			t.Fatal(err)
		}
		checkChanges(t, got, []domain.Event{domain.StockAdded{Quantity: 1}})
		checkVersions(t, got, p.Version()+1, p.Version())
	})
}

func TestProductMarkSaved(t *testing.T) {
	p := productHistory(t)
	v := p.Version()
	p.MarkSaved()
	checkChanges(t, p, nil)
	checkVersions(t, p, v, v)
	if err := p.ChangePrice(5); err != nil {
		t.Fatal(err)
	}
	checkChanges(t, p, []domain.Event{domain.ProductPriceChanged{PriceCents: 5}})
	checkVersions(t, p, v+1, v)
	p.MarkSaved()
	checkChanges(t, p, nil)
	checkVersions(t, p, v+1, v+1)
}
