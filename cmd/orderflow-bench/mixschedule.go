package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// mixSchedule draws the requests of d at rate. The seed, not the mode,
// decides them: the cached and the uncached API get the very same requests
// in the same order.
func mixSchedule(seed uint64, rate float64, d time.Duration, sd *mixSeed) []mixOp {
	return newMixSchedule(rand.New(rand.NewPCG(seed, 11)), max(int(rate*d.Seconds()), 1), sd.products, sd.customers)
}

// mixKind is one kind of request of the mix.
type mixKind int

const (
	mixProduct       mixKind = iota // GET /api/v1/products/{id}: cached details, live stock
	mixProductSKU                   // GET /api/v1/products/by-sku/{sku}
	mixPageOne                      // GET /api/v1/products
	mixPublic                       // GET /public/products
	mixProfile                      // GET /api/v1/customers/{id}
	mixOrders                       // GET /api/v1/customers/{id}/orders
	mixPlaceOrder                   // POST /api/v1/orders
	mixProfileUpdate                // PATCH /api/v1/customers/{id}
	mixPriceChange                  // PUT /api/v1/products/{id}/price
	mixRestock                      // POST /api/v1/products/{id}/stock
	mixKinds
)

// mixKindSpec is a kind's share of the mix (per 10,000 requests) and what it reads.
type mixKindSpec struct {
	name   string
	weight int
	write  bool
	// family is the cache family the read goes through ("" for writes).
	family string
}

// mixSpecs is the blend: 99 % reads, weighted as a shop's traffic is
// (product pages first, by id or by a SKU from a search or a scanner, then
// what customers look at), and 1 % writes,
// mostly orders; price changes are the rarest since each one evicts page one
// and the public catalogue for everyone.
func mixSpecs() [mixKinds]mixKindSpec {
	return [mixKinds]mixKindSpec{
		mixProduct:       {name: "product details", weight: 3_500, family: "product"},
		mixProductSKU:    {name: "product by SKU", weight: 500, family: "product_sku"},
		mixPageOne:       {name: "page one", weight: 1_000, family: "product_list"},
		mixPublic:        {name: "public catalogue", weight: 1_500, family: "output"},
		mixProfile:       {name: "customer profile", weight: 1_500, family: "customer"},
		mixOrders:        {name: "customer orders", weight: 1_900, family: "customer_orders"},
		mixPlaceOrder:    {name: "place order", weight: 60, write: true},
		mixProfileUpdate: {name: "profile update", weight: 20, write: true},
		mixPriceChange:   {name: "price change", weight: 10, write: true},
		mixRestock:       {name: "restock", weight: 10, write: true},
	}
}

// mixBlend describes the blend for the log and the report.
func mixBlend() string {
	var reads, writes []string
	for _, s := range mixSpecs() {
		part := fmt.Sprintf("%s %g %%", s.name, float64(s.weight)/100)
		if s.write {
			writes = append(writes, part)
		} else {
			reads = append(reads, part)
		}
	}
	return "reads: " + strings.Join(reads, ", ") + "; writes: " + strings.Join(writes, ", ")
}

// mixOp is one scheduled request: indexes into the seeded products and customers.
type mixOp struct {
	kind     mixKind
	product  int
	customer int
	lines    []int // products of an order
	value    int64 // restock quantity
}

// newMixSchedule draws n requests: kinds by weight, products and customers
// by Zipf (s = 1.1) over a shuffled ranking, so the popular ones are spread
// over the catalogue rather than being the first created.
func newMixSchedule(rng *rand.Rand, n int, products, customers []string) []mixOp {
	specs := mixSpecs()
	total := 0
	for _, s := range specs {
		total += s.weight
	}
	productRank, customerRank := rng.Perm(len(products)), rng.Perm(len(customers))
	zp := rand.NewZipf(rng, 1.1, 1, uint64(len(products)-1))
	zc := rand.NewZipf(rng, 1.1, 1, uint64(len(customers)-1))
	product := func() int { return productRank[zp.Uint64()] }
	customer := func() int { return customerRank[zc.Uint64()] }
	ops := make([]mixOp, n)
	for i := range ops {
		pick := rng.IntN(total)
		k := mixKind(0)
		for ; pick >= specs[k].weight; k++ {
			pick -= specs[k].weight
		}
		op := mixOp{kind: k, product: product(), customer: customer()}
		switch k {
		case mixPlaceOrder:
			op.lines = []int{op.product}
			for range rng.IntN(3) {
				if p := product(); !slices.Contains(op.lines, p) {
					op.lines = append(op.lines, p)
				}
			}
		case mixRestock:
			op.value = int64(1 + rng.IntN(100))
		}
		ops[i] = op
	}
	return ops
}
