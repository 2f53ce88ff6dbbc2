package seed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/adapters/postgres/pgtest"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/wire"
	"github.com/orderflow/orderflow/cmd/internal/seed"
)

// Seeding reports each phase in plain lines off a terminal (a buffer here,
// a CI log or a pipe in use), ending with its count, rate and time, and does
// nothing the second time.
func TestSeedReportsProgress(t *testing.T) {
	pool, _ := pgtest.NewPool(t)
	store := postgres.NewStore(pool)
	application, err := wire.New(store, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out strings.Builder
	cfg := seed.Config{Products: 20, Customers: 10, Orders: 30}
	if err := seed.Run(ctx, application, store, cfg, &out); err != nil {
		t.Fatalf("seed: %v; output:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"seed: 20/20 products (100%, ",
		"seed: 10/10 customers (100%, ",
		"seed: 30/30 orders (100%, ",
		"seed: 20 products, 10 customers, ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("output off a terminal holds terminal controls: %q", got)
	}
	page, err := store.ListProducts(ctx, app.ListProducts{Page: 1, PageSize: 1})
	if err != nil || page.TotalCount != 20 {
		t.Fatalf("products after seeding: %d, %v; want 20", page.TotalCount, err)
	}

	out.Reset()
	if err := seed.Run(ctx, application, store, cfg, &out); err != nil {
		t.Fatal(err)
	}
	if want := "seed: 20 products already present, nothing to do\n"; out.String() != want {
		t.Fatalf("second seed printed %q, want %q", out.String(), want)
	}
}
