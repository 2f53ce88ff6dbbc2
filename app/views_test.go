package app_test

import (
	"testing"

	"github.com/orderflow/orderflow/app"
)

// A view answers the same representation whether it holds the value or
// the JSON the cache holds, and hands the cached bytes on untouched.
func TestViewHoldsValueOrJSON(t *testing.T) {
	c := app.Customer{ID: "c-1", Email: "c@example.com", Name: "C", Version: 3}
	byValue := app.ViewOf(c, 3)
	data, err := byValue.JSON()
	if err != nil {
		t.Fatal(err)
	}
	cached := app.ViewOfJSON[app.Customer](data, 3)
	got, err := cached.Value()
	if err != nil || got != c {
		t.Errorf("Value() of the JSON = %+v, %v; want %+v", got, err, c)
	}
	if again, err := cached.JSON(); err != nil || &again[0] != &data[0] {
		t.Error("JSON() of a cached view is not the cached bytes")
	}
	if v, err := byValue.Value(); err != nil || v != c {
		t.Errorf("Value() = %+v, %v; want %+v", v, err, c)
	}
	if byValue.Version() != 3 || cached.Version() != 3 {
		t.Errorf("versions %d and %d, want 3", byValue.Version(), cached.Version())
	}
	if _, err := app.ViewOfJSON[app.Customer]([]byte(`[`), 1).Value(); err == nil {
		t.Error("Value() of broken JSON: no error")
	}
}
