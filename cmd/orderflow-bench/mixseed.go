package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/domain"
)

// mixSeed is what seedMix created, and the stale-read check that follows
// every write made to it.
type mixSeed struct {
	products, customers []string
	// skus and prices are the products', index by index.
	skus           []string
	prices         []int64
	orders, events int
	took           time.Duration
	stale          *staleCheck
}

// Shape of the mix's seed: products in transactions of mixSeedChunk, each
// with its share of the customers, who place mixSeedOrders orders each on
// the transaction's products, so that order summaries are not empty.
const (
	mixSeedChunk  = 250
	mixSeedOrders = 3
)

// seedMix creates the products, customers and their first orders through
// the real store (events and read tables in one transaction each, as the
// API writes them), several transactions at once: far faster than one HTTP
// request per entity, and the relay publishes them meanwhile.
func seedMix(ctx context.Context, e *env, store *postgres.Store, nProducts, nCustomers int) (*mixSeed, error) {
	chunks := (nProducts + mixSeedChunk - 1) / mixSeedChunk
	if nCustomers < chunks {
		return nil, fmt.Errorf("%d customers for %d products: at least one customer per %d products is needed", nCustomers, nProducts, mixSeedChunk)
	}
	products, customers := make([][]string, chunks), make([][]string, chunks)
	skus, prices := make([][]string, chunks), make([][]int64, chunks)
	events := make([]int, chunks)
	start := time.Now()
	e.printf("seeding %s products, %s customers and %d orders each through the store, %d builders, %d transactions",
		thousands(float64(nProducts)), thousands(float64(nCustomers)), mixSeedOrders, mixedBuilders, chunks)
	err := runCount(ctx, e.out, "seed transactions", chunks, mixedBuilders, func(ctx context.Context, chunk int) error {
		rng := rand.New(rand.NewPCG(uint64(chunk), 13))
		var aggs []domain.Aggregate
		byID := map[string]*domain.Product{}
		for i := chunk * nProducts / chunks; i < (chunk+1)*nProducts/chunks; i++ {
			id, sku, price := uuid.Must(uuid.NewV7()).String(), fmt.Sprintf("MIX-%06d", i+1), int64(100+rng.IntN(10_000))
			p, err := domain.CreateProduct(id, sku, fmt.Sprintf("Mix product %06d", i+1),
				"Seeded by orderflow-bench for the realistic mix.", price, "EUR", int64(e.cfg.ProductStock))
			if err != nil {
				return err
			}
			byID[id] = p
			aggs, products[chunk] = append(aggs, p), append(products[chunk], id)
			skus[chunk], prices[chunk] = append(skus[chunk], sku), append(prices[chunk], price)
		}
		for i := chunk * nCustomers / chunks; i < (chunk+1)*nCustomers/chunks; i++ {
			id := uuid.Must(uuid.NewV7()).String()
			c, err := domain.RegisterCustomer(id, fmt.Sprintf("mix%06d@bench.example", i+1), fmt.Sprintf("Mix Customer %d", i+1))
			if err != nil {
				return err
			}
			aggs, customers[chunk] = append(aggs, c), append(customers[chunk], id)
		}
		ps := products[chunk]
		for _, c := range customers[chunk] {
			for range mixSeedOrders {
				lines := []domain.LineRequest{}
				for _, i := range rng.Perm(len(ps))[:min(1+rng.IntN(3), len(ps))] {
					lines = append(lines, domain.LineRequest{ProductID: ps[i], Quantity: 1})
				}
				o, err := domain.PlaceOrder(uuid.Must(uuid.NewV7()).String(), c, lines, byID)
				if err != nil {
					return err
				}
				aggs = append(aggs, o)
			}
		}
		for _, a := range aggs {
			events[chunk] += len(a.Changes())
		}
		return store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
			_, err := tx.Save(ctx, aggs...)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	sd := &mixSeed{products: slices.Concat(products...), customers: slices.Concat(customers...), skus: slices.Concat(skus...),
		prices: slices.Concat(prices...), took: time.Since(start), stale: newStaleCheck()}
	sd.orders = len(sd.customers) * mixSeedOrders
	for _, n := range events {
		sd.events += n
	}
	return sd, nil
}
