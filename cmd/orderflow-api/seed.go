package main

import (
	"github.com/orderflow/orderflow/cmd/internal/seed"
	"github.com/orderflow/orderflow/cmd/internal/service"
)

// registerSeed adds the seed settings to fs.
func registerSeed(fs *service.Flags, c *seed.Config) {
	fs.Int(&c.Products, "seed-products", 300, "seed: number of demo products")
	fs.Int(&c.Customers, "seed-customers", 200, "seed: number of demo customers")
	fs.Int(&c.Orders, "seed-orders", 500, "seed: number of demo orders")
}
