package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/orderflow/orderflow/app"
	"github.com/orderflow/orderflow/app/effects"
	"github.com/orderflow/orderflow/domain"
)

// project queues the read-table changes one event makes. It runs in the
// appending transaction, and again over the whole log when the read tables
// are rebuilt, so the two can never disagree.
//
// products.updated_at and details_version follow details and price only: stock moves are live
// data, not a change of the product's description. The composite versions
// that fence the composite cached read models move as the effects table
// says: an event that changes the catalogue bumps the catalogue version,
// one that changes a customer's order summaries bumps their orders_version.
//
// When w is not nil it receives the composite versions the batch bumps.
func project(b *pgx.Batch, r app.RecordedEvent, w *app.Written) {
	rows(b, r)
	fx := effects.Of(r.Event.EventName())
	if fx.Has(effects.Catalogue) {
		bumpCatalog(b, w)
	}
	if fx.Has(effects.CustomerOrders) {
		if e, ok := r.Event.(domain.OrderPlaced); ok {
			bumpCustomerOrders(b, w, `UPDATE customers SET orders_version = orders_version + 1 WHERE id = $1
				RETURNING id::text, orders_version`, e.CustomerID)
		} else {
			bumpCustomerOrders(b, w, `UPDATE customers SET orders_version = orders_version + 1
				WHERE id = (SELECT customer_id FROM orders WHERE id = $1) RETURNING id::text, orders_version`, r.AggregateID)
		}
	}
}

// rows queues the changes of the event's own rows.
func rows(b *pgx.Batch, r app.RecordedEvent) {
	id, v, at := r.AggregateID, r.Version, r.OccurredAt
	switch e := r.Event.(type) {
	case domain.ProductCreated:
		b.Queue(`INSERT INTO products (id, sku, name, description, price_cents, currency, stock_level, version, details_version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $9)`, id, e.SKU, e.Name, e.Description, e.Price.Amount, e.Price.Currency, e.InitialStock, v, at)
	case domain.ProductDetailsChanged:
		b.Queue(`UPDATE products SET name = $2, description = $3, version = $4, details_version = $4, updated_at = $5 WHERE id = $1`, id, e.Name, e.Description, v, at)
	case domain.ProductPriceChanged:
		b.Queue(`UPDATE products SET price_cents = $2, version = $3, details_version = $3, updated_at = $4 WHERE id = $1`, id, e.PriceCents, v, at)
	case domain.StockAdded:
		b.Queue(`UPDATE products SET stock_level = stock_level + $2, version = $3 WHERE id = $1`, id, e.Quantity, v)
	case domain.StockReserved:
		b.Queue(`UPDATE products SET stock_level = stock_level - $2, version = $3 WHERE id = $1`, id, e.Quantity, v)
	case domain.StockReleased:
		b.Queue(`UPDATE products SET stock_level = stock_level + $2, version = $3 WHERE id = $1`, id, e.Quantity, v)
	case domain.CustomerRegistered:
		b.Queue(`INSERT INTO customers (id, email, name, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`, id, e.Email, e.Name, v, at)
	case domain.CustomerProfileUpdated:
		b.Queue(`UPDATE customers SET email = $2, name = $3, version = $4, updated_at = $5 WHERE id = $1`, id, e.Email, e.Name, v, at)
	case domain.OrderPlaced:
		state := domain.OrderState{Lines: e.Lines}
		b.Queue(`INSERT INTO orders (id, customer_id, status, total_cents, currency, item_count, version, placed_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`, id, e.CustomerID, domain.OrderPlacedStatus, state.TotalCents(), e.Currency, state.ItemCount(), v, at)
		var (
			products, skus, names    []string
			quantities, prices, sums []int64
		)
		for _, l := range e.Lines {
			products, skus, names = append(products, l.ProductID), append(skus, l.SKU), append(names, l.Name)
			quantities, prices, sums = append(quantities, l.Quantity), append(prices, l.UnitPriceCents), append(sums, l.TotalCents())
		}
		b.Queue(`INSERT INTO order_lines (order_id, line_no, product_id, sku, name, quantity, unit_price_cents, line_total_cents)
			SELECT $1, l.n, l.product_id, l.sku, l.name, l.quantity, l.unit_price_cents, l.line_total_cents
			  FROM unnest($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::bigint[])
			       WITH ORDINALITY AS l(product_id, sku, name, quantity, unit_price_cents, line_total_cents, n)`,
			id, products, skus, names, quantities, prices, sums)
	case domain.OrderPaid:
		setOrderStatus(b, id, domain.OrderPaidStatus, v, at)
	case domain.OrderShipped:
		setOrderStatus(b, id, domain.OrderShippedStatus, v, at)
	case domain.OrderCancelled:
		setOrderStatus(b, id, domain.OrderCancelledStatus, v, at)
	}
}

func bumpCatalog(b *pgx.Batch, w *app.Written) {
	q := b.Queue(`UPDATE catalog_version SET version = version + 1 RETURNING version`)
	if w != nil {
		q.QueryRow(func(row pgx.Row) error { return row.Scan(&w.CatalogVersion) })
	}
}

func bumpCustomerOrders(b *pgx.Batch, w *app.Written, sql string, args ...any) {
	q := b.Queue(sql, args...)
	if w != nil {
		q.QueryRow(func(row pgx.Row) error {
			var id string
			var version int64
			if err := row.Scan(&id, &version); err != nil {
				return err
			}
			if w.CustomerOrdersVersions == nil {
				w.CustomerOrdersVersions = map[string]int64{}
			}
			w.CustomerOrdersVersions[id] = version
			return nil
		})
	}
}

func setOrderStatus(b *pgx.Batch, id string, status domain.OrderStatus, v int64, at time.Time) {
	b.Queue(`UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1`, id, status, v, at)
}
