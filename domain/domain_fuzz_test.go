package domain_test

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/orderflow/orderflow/domain"
)

// Fuzz targets for the domain's constructors and validators. Each one checks
// the rules against an independent reading of docs/guarantees.md
// ("Validation"): what is accepted holds the invariants, and what is refused
// is refused with a ValidationError naming only fields of the input.
// scripts/fuzz.sh runs them for a bounded time; without -fuzz they run their
// seeds as plain tests.

// validation returns the fields of err when it is a ValidationError, and
// fails the test for any other error.
func validation(t *testing.T, err error) []string {
	t.Helper()
	var v *domain.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %T %v, want a *domain.ValidationError", err, err)
	}
	if len(v.Fields) == 0 {
		t.Fatal("ValidationError without fields")
	}
	fields := make([]string, len(v.Fields))
	for i, f := range v.Fields {
		if f.Message == "" {
			t.Fatalf("field %q has no message", f.Field)
		}
		fields[i] = f.Field
	}
	return fields
}

func onlyFields(t *testing.T, got []string, allowed ...string) {
	t.Helper()
	for _, f := range got {
		if !slices.Contains(allowed, f) {
			t.Fatalf("failing field %q is none of %v", f, allowed)
		}
	}
}

// The rules, written again from the words of docs/guarantees.md.

func skuOK(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == ""
}

func textOK(s string, minLen, maxLen int, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	if n := utf8.RuneCountInString(s); n < minLen || n > maxLen {
		return false
	}
	if minLen > 0 && strings.TrimSpace(s) == "" {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && strings.ContainsRune("\n\t\r", r))
	})
}

func currencyOK(s string) bool {
	return len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" && domain.IsCurrency(s)
}

func emailOK(s string) bool {
	if s == "" || len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func FuzzCreateProduct(f *testing.F) {
	f.Add("MUG-1", "Blue mug", "Holds tea\nand coffee", int64(1250), "EUR", int64(5))
	f.Add("", " ", "", int64(-1), "eur", int64(-1))
	f.Add(strings.Repeat("A", 65), strings.Repeat("é", 201), strings.Repeat("d", 2001), int64(1_000_000_000_001), "XXX", int64(math.MaxInt64))
	f.Add("a.b_c-D", "name\x00", "tab\tok", int64(0), "JPY", int64(0))
	f.Add("ü", "\xff\xfe", "\u202e", int64(math.MinInt64), "EURO", int64(1_000_000_000_000))
	// Currencies: only upper-case active codes (currencyOK); AED and ZWG
	// are the first and last of the table.
	for _, c := range []string{"eur", "XXX", "EU", "R A", "US\x00", "AED", "ZWG", " EU", "AED ", "D A"} {
		f.Add("S", "n", "", int64(1), c, int64(0))
	}
	f.Fuzz(func(t *testing.T, sku, name, description string, price int64, currency string, stock int64) {
		p, err := domain.CreateProduct("p1", sku, name, description, price, currency, stock)
		want := skuOK(sku) && textOK(name, 1, 200, false) && textOK(description, 0, 2000, true) &&
			price >= 0 && price <= 1_000_000_000_000 && currencyOK(currency) && stock >= 0 && stock <= domain.MaxStock
		if err != nil {
			onlyFields(t, validation(t, err), "sku", "name", "description", "priceCents", "currency", "initialStock")
			if p != nil {
				t.Fatal("a refused product was returned")
			}
			if want {
				t.Fatalf("refused valid input: %v", err)
			}
			return
		}
		if !want {
			t.Fatalf("accepted invalid input sku=%q name=%q price=%d currency=%q stock=%d", sku, name, price, currency, stock)
		}
		s := p.State()
		if s.SKU != sku || s.Name != name || s.Description != description || s.PriceCents != price || s.Currency != currency || s.Available != stock {
			t.Fatalf("state %+v does not hold the input", s)
		}
		if len(p.Changes()) != 1 || p.Version() != 1 {
			t.Fatalf("changes %v version %d, want one ProductCreated", p.Changes(), p.Version())
		}
	})
}

func FuzzProductChanges(f *testing.F) {
	f.Add(int64(5), int64(10), int64(990), "New name", true, "", false)
	f.Add(domain.MaxStock, int64(1), int64(-5), "", true, strings.Repeat("x", 2001), true)
	f.Add(int64(0), int64(math.MaxInt64), int64(math.MaxInt64), "\x7f", true, "\r\n", true)
	f.Add(int64(1), int64(-1), int64(1_000_000_000_000), "ok", false, "ok", false)
	f.Fuzz(func(t *testing.T, available, restock, price int64, name string, setName bool, description string, setDescription bool) {
		if available < 0 || available > domain.MaxStock {
			t.Skip("no product holds this stock")
		}
		state := domain.ProductState{SKU: "S", Name: "Old", Description: "d", PriceCents: 100, Currency: "EUR", Available: available}

		p := domain.RestoreProduct("p1", 3, state)
		err := p.AddStock(restock)
		if err == nil != (restock > 0 && restock <= domain.MaxStock-available) {
			t.Fatalf("AddStock(%d) on %d: %v", restock, available, err)
		}
		if err != nil {
			onlyFields(t, validation(t, err), "quantity")
			if p.State().Available != available || len(p.Changes()) != 0 {
				t.Fatal("a refused restock changed the product")
			}
		} else if p.State().Available != available+restock {
			t.Fatalf("available %d after adding %d to %d", p.State().Available, restock, available)
		}

		p = domain.RestoreProduct("p1", 3, state)
		err = p.ChangePrice(price)
		if err == nil != (price >= 0 && price <= domain.MaxPriceCents) {
			t.Fatalf("ChangePrice(%d): %v", price, err)
		}
		if err != nil {
			onlyFields(t, validation(t, err), "priceCents")
		} else if p.State().PriceCents != price || len(p.Changes()) != boolInt(price != 100) {
			t.Fatalf("price %d, changes %d after ChangePrice(%d)", p.State().PriceCents, len(p.Changes()), price)
		}

		var namePtr, descPtr *string
		if setName {
			namePtr = &name
		}
		if setDescription {
			descPtr = &description
		}
		p = domain.RestoreProduct("p1", 3, state)
		err = p.ChangeDetails(namePtr, descPtr)
		want := (!setName || textOK(name, 1, 200, false)) && (!setDescription || textOK(description, 0, 2000, true))
		if err == nil != want {
			t.Fatalf("ChangeDetails(%q, %q): %v", name, description, err)
		}
		if err != nil {
			onlyFields(t, validation(t, err), "name", "description")
			if p.State() != state {
				t.Fatal("refused details changed the product")
			}
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func FuzzCustomer(f *testing.F) {
	f.Add("ada@example.com", "Ada Lovelace", "new@example.com", "Ada")
	f.Add("Ada <ada@example.com>", "", "@", " ")
	f.Add("a@b", "\x00", strings.Repeat("a", 250)+"@b.co", strings.Repeat("ñ", 200))
	f.Add("\"quoted\"@example.com", "x\u0085y", "ada@[127.0.0.1]", "\xc3\x28")
	f.Fuzz(func(t *testing.T, email, name, newEmail, newName string) {
		c, err := domain.RegisterCustomer("c1", email, name)
		want := emailOK(email) && textOK(name, 1, 200, false)
		if err != nil {
			onlyFields(t, validation(t, err), "email", "name")
			if want {
				t.Fatalf("refused valid customer %q %q: %v", email, name, err)
			}
			return
		}
		if !want {
			t.Fatalf("accepted invalid customer %q %q", email, name)
		}
		if s := c.State(); s.Email != email || s.Name != name {
			t.Fatalf("state %+v does not hold the input", s)
		}
		c.MarkSaved()
		err = c.UpdateProfile(&newEmail, &newName)
		if err == nil != (emailOK(newEmail) && textOK(newName, 1, 200, false)) {
			t.Fatalf("UpdateProfile(%q, %q): %v", newEmail, newName, err)
		}
		if err != nil {
			onlyFields(t, validation(t, err), "email", "name")
			if s := c.State(); s.Email != email || s.Name != name || len(c.Changes()) != 0 {
				t.Fatal("a refused update changed the customer")
			}
		}
	})
}

// FuzzPlaceOrder reads an order from bytes: each line takes a product (one
// of four, so that duplicates happen) and a quantity. Products carry the
// fuzzed stock and price.
func FuzzPlaceOrder(f *testing.F) {
	f.Add([]byte{0, 1, 1, 2}, int64(10), int64(1250), false)
	f.Add([]byte{}, int64(0), int64(0), false)
	f.Add([]byte{0, 0xff, 0, 1}, int64(5), int64(1_000_000_000_000), true)
	f.Add(make([]byte, 202), int64(10_000), int64(1), false)
	f.Add([]byte{3, 0x7f, 2, 0x80, 1, 0x10}, int64(domain.MaxStock), domain.MaxPriceCents, true)
	f.Fuzz(func(t *testing.T, data []byte, stock, price int64, mixedCurrency bool) {
		if stock < 0 || stock > domain.MaxStock || price < 0 || price > domain.MaxPriceCents {
			t.Skip("no product holds this stock or price")
		}
		products := map[string]*domain.Product{}
		for i := range 4 {
			id := fmt.Sprintf("p%d", i)
			currency := "EUR"
			if mixedCurrency && i == 3 {
				currency = "USD"
			}
			products[id] = domain.RestoreProduct(id, 1, domain.ProductState{SKU: "S" + id, Name: "N", Currency: currency, PriceCents: price, Available: stock})
		}
		var lines []domain.LineRequest
		for i := 0; i+1 < len(data); i += 2 {
			// Quantities from -64 to 20,000 cover both ends of 1..10,000.
			q := int64(int8(data[i+1])) * 157
			lines = append(lines, domain.LineRequest{ProductID: fmt.Sprintf("p%d", data[i]%4), Quantity: q})
		}
		wantLines := len(lines) >= 1 && len(lines) <= domain.MaxOrderLines
		seen := map[string]bool{}
		for _, l := range lines {
			wantLines = wantLines && l.Quantity >= 1 && l.Quantity <= domain.MaxLineQuantity && !seen[l.ProductID]
			seen[l.ProductID] = true
		}
		err := domain.CheckLines(lines)
		if err == nil != wantLines {
			t.Fatalf("CheckLines(%v): %v", lines, err)
		}
		if err != nil {
			for _, field := range validation(t, err) {
				if field != "lines" && !strings.HasPrefix(field, "lines[") {
					t.Fatalf("failing field %q is not a line's", field)
				}
			}
		}
		o, err := domain.PlaceOrder("o1", "c1", lines, products)
		var short *domain.InsufficientStockError
		switch {
		case err == nil:
		case errors.As(err, &short):
			if short.Requested <= short.Available {
				t.Fatalf("refused %d with %d available", short.Requested, short.Available)
			}
		default:
			validation(t, err)
		}
		for id, p := range products {
			if err != nil && (len(p.Changes()) != 0 || p.State().Available != stock) {
				t.Fatalf("a refused order changed product %s", id)
			}
			if p.State().Available < 0 {
				t.Fatalf("product %s has %d available", id, p.State().Available)
			}
		}
		if err != nil {
			return
		}
		if !wantLines {
			t.Fatal("placed an order with invalid lines")
		}
		s := o.State()
		var total int64
		for i, l := range s.Lines {
			if l.Quantity != lines[i].Quantity || l.UnitPriceCents != price || l.TotalCents() < 0 {
				t.Fatalf("line %d = %+v", i, l)
			}
			total += l.TotalCents()
			if left := products[l.ProductID].State().Available; left != stock-l.Quantity {
				t.Fatalf("product %s has %d left, want %d", l.ProductID, left, stock-l.Quantity)
			}
		}
		if s.TotalCents() != total || total < 0 || s.Status != domain.OrderPlacedStatus || s.Currency != products[lines[0].ProductID].State().Currency {
			t.Fatalf("order %+v, total %d", s, total)
		}
	})
}
