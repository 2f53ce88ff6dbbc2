package golden_test

// What a build reads from a log: the aggregates, the queries' answers and
// the cached projections. The generator records them when it writes a
// golden log; the test reads them again from the loaded log, with today's
// build, and compares.

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orderflow/orderflow/adapters/postgres"
	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/cache"
	"github.com/orderflow/orderflow/app/query"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/internal/golden"
)

// The expectation files of a golden log directory.
const (
	aggregatesFile  = "aggregates.json"
	readModelsFile  = "readmodels.json"
	projectionsFile = "projections.json"
)

// streamIDs are the log's stream ids of one aggregate type, sorted.
func streamIDs(l golden.Log, aggregateType string) []string {
	var ids []string
	for _, e := range l.Events {
		if e.StreamType == aggregateType && e.Version == 1 {
			ids = append(ids, e.StreamID)
		}
	}
	slices.Sort(ids)
	return ids
}

// aggregateRecord is an aggregate as the store loads it: its version and
// its state as the build's domain marshals it (the form of a snapshot).
type aggregateRecord struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Version int64           `json:"version"`
	State   json.RawMessage `json:"state"`
}

// loadAggregates loads every aggregate of the log through the store, as a
// command does (snapshot, then the events after it).
func loadAggregates(t *testing.T, ctx context.Context, store *postgres.Store, l golden.Log) []aggregateRecord {
	t.Helper()
	var out []aggregateRecord
	add := func(typ, id string, version int64, state any) {
		data, err := json.Marshal(state)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, aggregateRecord{Type: typ, ID: id, Version: version, State: data})
	}
	err := store.Update(ctx, func(ctx context.Context, tx app.Tx) error {
		ids := streamIDs(l, domain.ProductAggregate)
		products, err := tx.LoadProducts(ctx, ids...)
		if err != nil {
			return err
		}
		for _, id := range ids {
			add(domain.ProductAggregate, id, products[id].Version(), products[id].State())
		}
		for _, id := range streamIDs(l, domain.CustomerAggregate) {
			c, err := tx.LoadCustomer(ctx, id)
			if err != nil {
				return err
			}
			add(domain.CustomerAggregate, id, c.Version(), c.State())
		}
		for _, id := range streamIDs(l, domain.OrderAggregate) {
			o, err := tx.LoadOrder(ctx, id)
			if err != nil {
				return err
			}
			add(domain.OrderAggregate, id, o.Version(), o.State())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("load aggregates: %v", err)
	}
	return out
}

// readModels are the queries' answers over the whole log.
type readModels struct {
	// Products by id, with live stock, as the product query answers.
	Products []app.Product `json:"products"`
	// ProductsBySKU are the same found by their SKU in lower case.
	ProductsBySKU map[string]app.Product `json:"productsBySku"`
	Pages         []pageRead             `json:"pages"`
	Customers     []app.Customer         `json:"customers"`
	Orders        []app.Order            `json:"orders"`
	// CustomerOrders are every customer's order summaries, by customer id.
	CustomerOrders map[string]app.CustomerOrders `json:"customerOrders"`
	// The composite versions that fence the composite cached read models.
	CatalogVersion         int64            `json:"catalogVersion"`
	CustomerOrdersVersions map[string]int64 `json:"customerOrdersVersions"`
}

// pageRead is one page of the product list and the query that asked for it.
type pageRead struct {
	Query app.ListProducts `json:"query"`
	Page  app.ProductPage  `json:"page"`
}

// pageQueries are the list pages recorded: page one (the cached one), the
// page after it, a search, and a small page in the middle.
func pageQueries() []app.ListProducts {
	return []app.ListProducts{
		{Page: 1, PageSize: app.DefaultPageSize},
		{Page: 2, PageSize: app.DefaultPageSize},
		{Page: 1, PageSize: app.DefaultPageSize, Search: "anvil"},
		{Page: 3, PageSize: 5},
	}
}

// readAll asks every query about every aggregate of the log. a must read
// the read tables directly (no cache), so that it answers what they hold.
func readAll(t *testing.T, ctx context.Context, a *app.Application, reads app.ReadModel, l golden.Log) readModels {
	t.Helper()
	m := readModels{
		ProductsBySKU:          map[string]app.Product{},
		CustomerOrders:         map[string]app.CustomerOrders{},
		CustomerOrdersVersions: map[string]int64{},
	}
	check := func(what, id string, err error) {
		if err != nil {
			t.Fatalf("read %s %s: %v", what, id, err)
		}
	}
	for _, id := range streamIDs(l, domain.ProductAggregate) {
		p, _, err := a.Queries.Product.ByID(ctx, id)
		check("product", id, err)
		m.Products = append(m.Products, p)
		bySKU, _, err := a.Queries.Product.BySKU(ctx, p.SKU)
		check("product by SKU", p.SKU, err)
		m.ProductsBySKU[cache.ProductSKUKey(p.SKU).Name] = bySKU
	}
	for _, q := range pageQueries() {
		v, _, err := a.Queries.ListProducts.Handle(ctx, q)
		check("product page", q.Search, err)
		page, err := v.Value()
		check("product page", q.Search, err)
		m.Pages = append(m.Pages, pageRead{Query: q, Page: page})
	}
	for _, id := range streamIDs(l, domain.CustomerAggregate) {
		v, _, err := a.Queries.Customer.Handle(ctx, id)
		check("customer", id, err)
		c, err := v.Value()
		check("customer", id, err)
		m.Customers = append(m.Customers, c)
		ov, _, err := a.Queries.CustomerOrders.Handle(ctx, id)
		check("customer orders", id, err)
		orders, err := ov.Value()
		check("customer orders", id, err)
		m.CustomerOrders[id] = orders
		m.CustomerOrdersVersions[id], err = reads.CustomerOrdersVersion(ctx, id)
		check("customer orders version", id, err)
	}
	for _, id := range streamIDs(l, domain.OrderAggregate) {
		o, err := a.Queries.Order.Handle(ctx, id)
		check("order", id, err)
		m.Orders = append(m.Orders, o)
	}
	var err error
	m.CatalogVersion, err = reads.CatalogVersion(ctx)
	check("catalogue version", "", err)
	return m
}

// projection is a cached read model: the value a query caches and the
// version that fences it.
type projection struct {
	Version int64           `json:"version"`
	Value   json.RawMessage `json:"value"`
}

// projectionsOf loads, with the queries' own loaders, every cached read
// model that the projectors keep for the log, by cache key: each product's
// details by id and by SKU, page one of the list, each customer's profile,
// and the order summaries of each customer who has orders.
func projectionsOf(t *testing.T, ctx context.Context, reads app.ReadModel, l golden.Log) map[string]projection {
	t.Helper()
	out := map[string]projection{}
	add := func(key cache.Key, v any, version int64, err error) {
		if err != nil {
			t.Fatalf("load %s: %v", key.Name, err)
		}
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[key.Name] = projection{Version: version, Value: data}
	}
	for _, id := range streamIDs(l, domain.ProductAggregate) {
		p, version, err := query.LoadProductDetails(reads, id)(ctx)
		add(cache.ProductKey(id), p, version, err)
		bySKU, version, err := query.LoadProductDetailsBySKU(reads, p.SKU)(ctx)
		add(cache.ProductSKUKey(p.SKU), bySKU, version, err)
	}
	page, version, err := query.LoadProductList(reads)(ctx)
	add(cache.ProductListKey(), page, version, err)
	for _, id := range streamIDs(l, domain.CustomerAggregate) {
		c, version, err := query.LoadCustomer(reads, id)(ctx)
		add(cache.CustomerKey(id), c, version, err)
		if v, err := reads.CustomerOrdersVersion(ctx, id); err != nil || v == 0 {
			if err != nil {
				t.Fatal(err)
			}
			continue // no orders: nothing projected
		}
		orders, version, err := query.LoadCustomerOrders(reads, id)(ctx)
		add(cache.CustomerOrdersKey(id), orders, version, err)
	}
	return out
}

func readJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func writeJSON(t *testing.T, dir, name string, v any) {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// canonical decodes JSON into generic values, so that two encodings of one
// value compare equal whatever their key order or spacing.
func canonical(t *testing.T, what string, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}
