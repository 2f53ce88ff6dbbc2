package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/cmd/internal/progress"
	"github.com/orderflow/orderflow/domain"
)

// Config sizes the demo data.
type Config struct {
	Products  int
	Customers int
	Orders    int
}

// Run loads demo data through the real command handlers, reporting each
// phase's progress to out. It does nothing when the catalogue already has
// products, so `make run` can run it each time.
func Run(ctx context.Context, a *app.Application, reads app.ReadModel, cfg Config, out io.Writer) error {
	existing, err := reads.ListProducts(ctx, app.ListProducts{Page: 1, PageSize: 1})
	if err != nil {
		return err
	}
	if existing.TotalCount > 0 {
		fmt.Fprintf(out, "seed: %d products already present, nothing to do\n", existing.TotalCount)
		return nil
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(42, 7))
	adjectives := []string{"Red", "Blue", "Quiet", "Rapid", "Sturdy", "Tiny", "Grand", "Smart", "Classic", "Bright"}
	nouns := []string{"Kettle", "Lamp", "Chair", "Backpack", "Notebook", "Headphones", "Mug", "Desk", "Bicycle", "Umbrella"}

	products := make([]string, 0, cfg.Products)
	bar := progress.New(out, progress.Config{Label: "seed", Unit: "products", Total: int64(cfg.Products)})
	defer func() { bar.Stop() }()
	for i := range cfg.Products {
		p, err := a.Commands.CreateProduct.Handle(ctx, app.CreateProduct{
			SKU:          fmt.Sprintf("DEMO-%05d", i+1),
			Name:         fmt.Sprintf("%s %s %d", adjectives[rng.IntN(len(adjectives))], nouns[rng.IntN(len(nouns))], i+1),
			Description:  "Demo product loaded by orderflow-api seed.",
			PriceCents:   int64(199 + rng.IntN(20_000)),
			Currency:     "EUR",
			InitialStock: int64(50 + rng.IntN(500)),
		})
		if err != nil {
			return fmt.Errorf("seed product %d: %w", i+1, err)
		}
		products = append(products, p.ID)
		bar.Add(1)
	}
	bar.Done()

	customers := make([]string, 0, cfg.Customers)
	bar = progress.New(out, progress.Config{Label: "seed", Unit: "customers", Total: int64(cfg.Customers)})
	for i := range cfg.Customers {
		c, err := a.Commands.RegisterCustomer.Handle(ctx, app.RegisterCustomer{
			Email: fmt.Sprintf("customer%04d@example.com", i+1),
			Name:  fmt.Sprintf("Demo Customer %d", i+1),
		})
		if err != nil {
			return fmt.Errorf("seed customer %d: %w", i+1, err)
		}
		customers = append(customers, c.ID)
		bar.Add(1)
	}
	bar.Done()

	var refused int
	bar = progress.New(out, progress.Config{Label: "seed", Unit: "orders", Total: int64(cfg.Orders)})
	for i := 0; i < cfg.Orders && len(customers) > 0 && len(products) > 0; i++ {
		lines := make([]domain.LineRequest, 0, 3)
		for _, j := range rng.Perm(len(products))[:1+rng.IntN(min(3, len(products)))] {
			lines = append(lines, domain.LineRequest{ProductID: products[j], Quantity: int64(1 + rng.IntN(3))})
		}
		placed, err := a.Commands.PlaceOrder.Handle(ctx, app.PlaceOrder{CustomerID: customers[rng.IntN(len(customers))], Lines: lines})
		if errors.Is(err, domain.ErrInsufficientStock) {
			refused++
			bar.Add(1)
			continue
		}
		if err != nil {
			return fmt.Errorf("seed order %d: %w", i+1, err)
		}
		if err := advance(ctx, a, placed.Order.ID, rng.IntN(4)); err != nil {
			return fmt.Errorf("seed order %d: %w", i+1, err)
		}
		bar.Add(1)
	}
	bar.Done()
	fmt.Fprintf(out, "seed: %d products, %d customers, %d orders (%d refused for stock) in %s\n",
		len(products), len(customers), cfg.Orders-refused, refused, time.Since(start).Round(time.Millisecond))
	return nil
}

// advance moves a demo order along its lifecycle: 0 stays placed, 1 paid,
// 2 shipped, 3 cancelled.
func advance(ctx context.Context, a *app.Application, orderID string, stage int) error {
	id := app.OrderTransition{OrderID: orderID}
	switch stage {
	case 1, 2:
		if _, err := a.Commands.PayOrder.Handle(ctx, id); err != nil {
			return err
		}
		if stage == 2 {
			_, err := a.Commands.ShipOrder.Handle(ctx, id)
			return err
		}
	case 3:
		_, err := a.Commands.CancelOrder.Handle(ctx, id)
		return err
	}
	return nil
}
