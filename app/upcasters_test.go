package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/orderflow/orderflow/domain"
)

// rename returns an upcaster that renames one top-level field, as a real
// restructure would move a value.
func rename(from, to string) Upcaster {
	return func(data []byte) ([]byte, error) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, err
		}
		v, ok := m[from]
		if !ok {
			return nil, fmt.Errorf("no field %q", from)
		}
		delete(m, from)
		m[to] = v
		return json.Marshal(m)
	}
}

func TestUpcastChain(t *testing.T) {
	chain := []Upcaster{rename("a", "b"), rename("b", "c"), rename("c", "d")}
	cases := []struct {
		name    string
		from    int
		chain   []Upcaster
		in      string
		want    string
		wantErr error
	}{
		{name: "CurrentUntouched", from: 4, chain: chain, in: `{"d":1}`, want: `{"d":1}`},
		{name: "NoChainCurrent", from: 1, chain: nil, in: `{"x":1}`, want: `{"x":1}`},
		{name: "StepOneToTwo", from: 1, chain: chain[:1], in: `{"a":1}`, want: `{"b":1}`},
		{name: "StepTwoToThree", from: 2, chain: chain[:2], in: `{"b":1}`, want: `{"c":1}`},
		{name: "StepThreeToFour", from: 3, chain: chain, in: `{"c":1}`, want: `{"d":1}`},
		{name: "WholeChain", from: 1, chain: chain, in: `{"a":1}`, want: `{"d":1}`},
		{name: "MiddleOfChain", from: 2, chain: chain, in: `{"b":1}`, want: `{"d":1}`},
		{name: "TooNew", from: 5, chain: chain, in: `{"e":1}`, wantErr: ErrSchemaTooNew},
		{name: "TooNewWithoutChain", from: 2, chain: nil, in: `{}`, wantErr: ErrSchemaTooNew},
		{name: "Zero", from: 0, chain: chain, in: `{}`, wantErr: ErrSchemaUnknown},
		{name: "Negative", from: -1, chain: chain, in: `{}`, wantErr: ErrSchemaUnknown},
		{name: "StepFails", from: 1, chain: chain, in: `{"z":1}`, wantErr: errAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := upcast("Thing", tc.chain, tc.from, []byte(tc.in))
			switch {
			case tc.wantErr == errAny:
				if err == nil {
					t.Fatalf("upcast = %s, want an error", got)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("upcast error = %v, want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("upcast: %v", err)
			case !bytes.Equal(got, []byte(tc.want)):
				t.Fatalf("upcast = %s, want %s", got, tc.want)
			}
		})
	}
}

// errAny marks a case that must fail, with any error.
var errAny = errors.New("any error")

func TestSchemaTooNewErrorNamesTypeAndVersions(t *testing.T) {
	_, err := NewEventCodec().Decode("OrderPaid", 3, []byte(`{}`))
	var tooNew *SchemaTooNewError
	if !errors.As(err, &tooNew) {
		t.Fatalf("Decode error = %v, want a *SchemaTooNewError", err)
	}
	if want := (SchemaTooNewError{Type: "OrderPaid", Version: 3, Readable: 1}); *tooNew != want {
		t.Fatalf("error = %+v, want %+v", *tooNew, want)
	}
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("error %v does not wrap ErrSchemaTooNew", err)
	}
}

// TestEveryEventRoundTripsAtItsCurrentVersion: what Encode writes, Decode
// reads back equal, at the version Encode stamped.
func TestEveryEventRoundTripsAtItsCurrentVersion(t *testing.T) {
	events := []domain.Event{
		domain.ProductCreated{SKU: "S", Name: "N", Description: "D", Price: domain.Money{Amount: 250, Currency: "EUR"}, InitialStock: 3},
		domain.ProductDetailsChanged{Name: "N", Description: "D"},
		domain.ProductPriceChanged{PriceCents: 99},
		domain.StockAdded{Quantity: 2},
		domain.StockReserved{OrderID: "o", Quantity: 1},
		domain.StockReleased{OrderID: "o", Quantity: 1},
		domain.CustomerRegistered{Email: "a@b.c", Name: "A"},
		domain.CustomerProfileUpdated{Email: "a@b.c", Name: "B"},
		domain.OrderPlaced{CustomerID: "c", Currency: "EUR", Lines: []domain.OrderLine{{ProductID: "p", SKU: "S", Name: "N", Quantity: 1, UnitPriceCents: 5}}},
		domain.OrderPaid{},
		domain.OrderShipped{},
		domain.OrderCancelled{},
	}
	c := NewEventCodec()
	if len(events) != len(c.schemas) {
		t.Fatalf("test covers %d event types, codec knows %d", len(events), len(c.schemas))
	}
	for _, e := range events {
		name, v, data, err := c.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if v != c.SchemaVersion(name) {
			t.Errorf("%s encoded at version %d, codec's current is %d", name, v, c.SchemaVersion(name))
		}
		got, err := c.Decode(name, v, data)
		if err != nil {
			t.Fatalf("decode %s: %v", name, err)
		}
		if diff := cmp.Diff(e, got); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", name, diff)
		}
	}
}

// scalePrice is a step v1 → v2 that multiplies priceCents, so a test sees
// whether it ran.
func scalePrice(data []byte) ([]byte, error) {
	var e domain.ProductPriceChanged
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, err
	}
	e.PriceCents *= 100
	return json.Marshal(e)
}

// TestNextVersionCodec: a newer build upcasts v1 and reads v2 as is; this
// build refuses v2 with ErrSchemaTooNew.
func TestNextVersionCodec(t *testing.T) {
	newer := NewEventCodec(WithNextVersion("ProductPriceChanged", scalePrice))
	if got := newer.SchemaVersion("ProductPriceChanged"); got != 2 {
		t.Fatalf("newer codec's version = %d, want 2", got)
	}
	for _, tc := range []struct {
		version int
		want    int64
	}{{1, 700}, {2, 7}} {
		got, err := newer.Decode("ProductPriceChanged", tc.version, []byte(`{"priceCents":7}`))
		if want := (domain.ProductPriceChanged{PriceCents: tc.want}); err != nil || got != want {
			t.Fatalf("v%d decode = %v, %v; want %v", tc.version, got, err, want)
		}
	}
	if _, err := NewEventCodec().Decode("ProductPriceChanged", 2, []byte(`{"priceCents":7}`)); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("this build decoding v2: %v, want ErrSchemaTooNew", err)
	}
	if got := NewEventCodec().SchemaVersion("ProductPriceChanged"); got != 1 {
		t.Fatalf("options leaked into another codec: version %d", got)
	}
}

func TestOrderPlacedV1ToV2(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{name: "LinesTakeTheOrdersCurrency",
			in:   `{"customerId":"c","currency":"JPY","lines":[{"productId":"p","sku":"S","name":"N","quantity":1,"unitPriceCents":5},{"productId":"q","sku":"T","name":"M","quantity":2,"unitPriceCents":0}]}`,
			want: `{"customerId":"c","currency":"JPY","lines":[{"productId":"p","sku":"S","name":"N","quantity":1,"unitPriceCents":5,"currency":"JPY"},{"productId":"q","sku":"T","name":"M","quantity":2,"unitPriceCents":0,"currency":"JPY"}]}`},
		{name: "NoLines", in: `{"customerId":"c","currency":"EUR","lines":[]}`, want: `{"customerId":"c","currency":"EUR","lines":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := orderPlacedV1ToV2([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if _, err := orderPlacedV1ToV2([]byte(`[]`)); err == nil {
		t.Fatal("a payload that is no object upcast without an error")
	}
}

// TestOrderPlacedChain: the codec reads a stored v1 OrderPlaced with every
// line in the order's currency, v2 as written, and refuses v3.
func TestOrderPlacedChain(t *testing.T) {
	c := NewEventCodec()
	if got := c.SchemaVersion("OrderPlaced"); got != 2 {
		t.Fatalf("OrderPlaced is written at version %d, want 2", got)
	}
	want := domain.OrderPlaced{CustomerID: "c", Currency: "USD", Lines: []domain.OrderLine{
		{ProductID: "p", SKU: "S", Name: "N", Quantity: 2, UnitPriceCents: 150, Currency: "USD"},
	}}
	v1 := `{"customerId":"c","currency":"USD","lines":[{"productId":"p","sku":"S","name":"N","quantity":2,"unitPriceCents":150}]}`
	v2 := `{"customerId":"c","currency":"USD","lines":[{"productId":"p","sku":"S","name":"N","quantity":2,"unitPriceCents":150,"currency":"USD"}]}`
	for _, tc := range []struct {
		version int
		data    string
	}{{1, v1}, {2, v2}} {
		got, err := c.Decode("OrderPlaced", tc.version, []byte(tc.data))
		if err != nil {
			t.Fatalf("v%d: %v", tc.version, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("v%d decoded (-want +got):\n%s", tc.version, diff)
		}
	}
	if _, err := c.Decode("OrderPlaced", 3, []byte(v2)); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("v3: %v, want ErrSchemaTooNew", err)
	}
	_, version, data, err := c.Encode(want)
	if err != nil || version != 2 || !bytes.Contains(data, []byte(`"unitPriceCents":150,"currency":"USD"`)) {
		t.Fatalf("Encode = v%d %s, %v; want v2 with the line's currency", version, data, err)
	}
}

func TestProductCreatedV1ToV2(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{name: "PriceMovesIntoMoney",
			in:   `{"sku":"S","name":"N","description":"D","priceCents":1999,"currency":"EUR","initialStock":3}`,
			want: `{"sku":"S","name":"N","description":"D","price":{"amount":1999,"currency":"EUR"},"initialStock":3}`},
		{name: "ExponentZeroAmountUnscaled",
			in:   `{"sku":"S","name":"N","description":"","priceCents":500,"currency":"JPY","initialStock":0}`,
			want: `{"sku":"S","name":"N","description":"","price":{"amount":500,"currency":"JPY"},"initialStock":0}`},
		{name: "ExponentThreeAmountUnscaled",
			in:   `{"sku":"S","name":"N","description":"","priceCents":1250,"currency":"KWD","initialStock":1}`,
			want: `{"sku":"S","name":"N","description":"","price":{"amount":1250,"currency":"KWD"},"initialStock":1}`},
		{name: "ZeroPriceKept",
			in:   `{"sku":"S","name":"N","description":"","priceCents":0,"currency":"USD","initialStock":2}`,
			want: `{"sku":"S","name":"N","description":"","price":{"amount":0,"currency":"USD"},"initialStock":2}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := productCreatedV1ToV2([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`[]`, `{"currency":"EUR"}`, `{"priceCents":5}`, `{"priceCents":"5","currency":"EUR"}`} {
		if got, err := productCreatedV1ToV2([]byte(bad)); err == nil {
			t.Errorf("%s upcast to %s without an error", bad, got)
		}
	}
}

// TestProductCreatedChain: the codec reads a stored v1 ProductCreated and a
// v2 one into the same event, writes v2, and refuses v3.
func TestProductCreatedChain(t *testing.T) {
	c := NewEventCodec()
	if got := c.SchemaVersion("ProductCreated"); got != 2 {
		t.Fatalf("ProductCreated is written at version %d, want 2", got)
	}
	want := domain.ProductCreated{SKU: "S-1", Name: "N", Description: "D", Price: domain.Money{Amount: 150, Currency: "USD"}, InitialStock: 4}
	v1 := `{"sku":"S-1","name":"N","description":"D","priceCents":150,"currency":"USD","initialStock":4}`
	v2 := `{"sku":"S-1","name":"N","description":"D","price":{"amount":150,"currency":"USD"},"initialStock":4}`
	for _, tc := range []struct {
		version int
		data    string
	}{{1, v1}, {2, v2}} {
		got, err := c.Decode("ProductCreated", tc.version, []byte(tc.data))
		if err != nil {
			t.Fatalf("v%d: %v", tc.version, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("v%d decoded (-want +got):\n%s", tc.version, diff)
		}
	}
	if _, err := c.Decode("ProductCreated", 3, []byte(v2)); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("v3: %v, want ErrSchemaTooNew", err)
	}
	_, version, data, err := c.Encode(want)
	if err != nil || version != 2 || string(data) != v2 {
		t.Fatalf("Encode = v%d %s, %v; want v2 %s", version, data, err, v2)
	}
}

// TestShortcutsAgreeWithChains: every shortcut decodes what its chain
// decodes (and refuses what it refuses), on payloads of every shortcut's
// version; a shortcut without cases here fails the test.
func TestShortcutsAgreeWithChains(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	cases := map[string]map[int][]string{
		"OrderPlaced": {1: {
			`{"customerId":"c","currency":"JPY","lines":[]}`,
			`{"customerId":"c","currency":"EUR","lines":[{"productId":"p","sku":"S","name":"N","quantity":1,"unitPriceCents":5}]}`,
			`{"customerId":"c"}`,
			`[]`,
			`{"lines":"x"}`,
		}},
		"ProductCreated": {1: {
			`{"sku":"S","name":"N","description":"","priceCents":0,"currency":"KWD","initialStock":0}`,
			`{"sku":"S","name":"N","description":"","currency":"EUR","initialStock":0}`,
			`{"sku":"S","priceCents":5}`,
			`{"priceCents":"5","currency":"EUR"}`,
			`7`,
		}},
	}
	for range 200 {
		lines := make([]string, r.IntN(4))
		for i := range lines {
			lines[i] = fmt.Sprintf(`{"productId":"p%d","sku":"S-%d","name":"N %d","quantity":%d,"unitPriceCents":%d}`, i, r.IntN(100), i, 1+r.IntN(50), r.IntN(100000))
		}
		cases["OrderPlaced"][1] = append(cases["OrderPlaced"][1], fmt.Sprintf(`{"customerId":"c%d","currency":%q,"lines":[%s]}`, r.IntN(9), []string{"EUR", "JPY", "KWD"}[r.IntN(3)], strings.Join(lines, ",")))
		cases["ProductCreated"][1] = append(cases["ProductCreated"][1], fmt.Sprintf(`{"sku":"S-%d","name":"N","description":"d %d","priceCents":%d,"currency":"USD","initialStock":%d}`, r.IntN(1000), r.IntN(9), r.Int64N(1e12), r.IntN(10000)))
	}
	c := NewEventCodec()
	for name, s := range c.schemas {
		for version, shortcut := range s.shortcuts {
			payloads := cases[name][version]
			if len(payloads) == 0 {
				t.Errorf("%s version %d has a shortcut and no cases here", name, version)
			}
			for _, p := range payloads {
				got, gotErr := shortcut([]byte(p))
				var want domain.Event
				data, wantErr := upcast(name, s.upcasters, version, []byte(p))
				if wantErr == nil {
					want, wantErr = s.decode(data)
				}
				if (gotErr == nil) != (wantErr == nil) {
					t.Errorf("%s v%d %s: shortcut error %v, chain error %v", name, version, p, gotErr, wantErr)
					continue
				}
				if diff := cmp.Diff(want, got); wantErr == nil && diff != "" {
					t.Errorf("%s v%d %s: shortcut differs from the chain (-chain +shortcut):\n%s", name, version, p, diff)
				}
			}
		}
	}
}
