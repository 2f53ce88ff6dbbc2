package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orderflow/orderflow/app"
)

// querier is what a pool and a transaction share, so reads run on either.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// reads implements app.ReadModel over the read tables.
type reads struct {
	q querier
}

const productColumns = `id::text, sku, name, description, price_cents, currency, stock_level, version, created_at, updated_at`

func scanProduct(row pgx.Row) (app.Product, error) {
	var p app.Product
	var stock int64
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &stock, &p.Version, &p.CreatedAt, &p.UpdatedAt)
	p.StockLevel = &stock
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// Product returns one product with its stock level.
func (r reads) Product(ctx context.Context, id string) (app.Product, error) {
	p, err := scanProduct(r.q.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
	return p, notFound(err, "product", id)
}

// ProductBySKU returns one product by SKU, compared case-insensitively.
func (r reads) ProductBySKU(ctx context.Context, sku string) (app.Product, error) {
	p, err := scanProduct(r.q.QueryRow(ctx, `SELECT `+productColumns+` FROM products WHERE lower(sku) = lower($1)`, sku))
	return p, notFound(err, "product", sku)
}

// ListProducts returns one page of products ordered by name, then id. Search
// is a case-insensitive substring of the name or SKU; strpos needs no
// escaping of LIKE wildcards.
func (r reads) ListProducts(ctx context.Context, q app.ListProducts) (app.ProductPage, error) {
	page := app.ProductPage{Items: []app.ProductListItem{}, Page: q.Page, PageSize: q.PageSize}
	const filter = `($1 = '' OR strpos(lower(name), lower($1)) > 0 OR strpos(lower(sku), lower($1)) > 0)`
	if err := r.q.QueryRow(ctx, `SELECT count(*) FROM products WHERE `+filter, q.Search).Scan(&page.TotalCount); err != nil {
		return page, readFailed("products", err)
	}
	offset := int64(q.Page-1) * int64(q.PageSize)
	if offset >= page.TotalCount {
		return page, nil
	}
	rows, err := r.q.Query(ctx, `SELECT id::text, sku, name, description, price_cents, currency, details_version, created_at, updated_at
		FROM products WHERE `+filter+` ORDER BY name COLLATE "C", id LIMIT $2 OFFSET $3`, q.Search, q.PageSize, offset)
	if err != nil {
		return page, readFailed("products", err)
	}
	page.Items, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.ProductListItem, error) {
		var p app.ProductListItem
		err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Version, &p.CreatedAt, &p.UpdatedAt)
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		return p, err
	})
	if err != nil {
		return page, readFailed("products", err)
	}
	return page, nil
}

// Customer returns one customer's profile.
func (r reads) Customer(ctx context.Context, id string) (app.Customer, error) {
	var c app.Customer
	err := r.q.QueryRow(ctx, `SELECT id::text, email, name, version, created_at, updated_at FROM customers WHERE id = $1`, id).
		Scan(&c.ID, &c.Email, &c.Name, &c.Version, &c.CreatedAt, &c.UpdatedAt)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, notFound(err, "customer", id)
}

// Order returns one order with its lines, in one round trip.
func (r reads) Order(ctx context.Context, id string) (app.Order, error) {
	rows, err := r.q.Query(ctx, `
		SELECT o.id::text, o.customer_id::text, o.status, o.total_cents, o.currency, o.version, o.placed_at, o.updated_at,
		       l.product_id::text, l.sku, l.name, l.quantity, l.unit_price_cents, l.line_total_cents
		  FROM orders o JOIN order_lines l ON l.order_id = o.id
		 WHERE o.id = $1 ORDER BY l.line_no`, id)
	if err != nil {
		return app.Order{}, readFailed("order", err)
	}
	defer rows.Close()
	var o app.Order
	for rows.Next() {
		var l app.OrderLine
		if err := rows.Scan(&o.ID, &o.CustomerID, &o.Status, &o.TotalCents, &o.Currency, &o.Version, &o.PlacedAt, &o.UpdatedAt,
			&l.ProductID, &l.SKU, &l.Name, &l.Quantity, &l.UnitPriceCents, &l.LineTotalCents); err != nil {
			return app.Order{}, readFailed("order", err)
		}
		o.Lines = append(o.Lines, l)
	}
	if err := rows.Err(); err != nil {
		return app.Order{}, readFailed("order", err)
	}
	if o.ID == "" {
		return app.Order{}, &app.NotFoundError{Kind: "order", ID: id}
	}
	o.PlacedAt, o.UpdatedAt = o.PlacedAt.UTC(), o.UpdatedAt.UTC()
	return o, nil
}

// CustomerOrders returns a customer's newest order summaries, newest first;
// an unknown customer is not found rather than an empty list.
func (r reads) CustomerOrders(ctx context.Context, customerID string, limit int) (app.CustomerOrders, error) {
	rows, err := r.q.Query(ctx, `
		SELECT o.id::text, o.status, o.total_cents, o.currency, o.item_count, o.placed_at
		  FROM customers c
		  LEFT JOIN LATERAL (
		       SELECT * FROM orders WHERE customer_id = c.id ORDER BY placed_at DESC, id DESC LIMIT $2) o ON true
		 WHERE c.id = $1
		 ORDER BY o.placed_at DESC, o.id DESC`, customerID, limit)
	if err != nil {
		return app.CustomerOrders{}, readFailed("customer orders", err)
	}
	defer rows.Close()
	out := app.CustomerOrders{Items: []app.OrderSummary{}}
	customerFound := false
	for rows.Next() {
		customerFound = true
		var (
			id, status, currency *string
			total, count         *int64
			placedAt             *time.Time
		)
		if err := rows.Scan(&id, &status, &total, &currency, &count, &placedAt); err != nil {
			return app.CustomerOrders{}, readFailed("customer orders", err)
		}
		if id == nil {
			continue
		}
		out.Items = append(out.Items, app.OrderSummary{
			ID: *id, Status: *status, TotalCents: *total, Currency: *currency, ItemCount: *count, PlacedAt: placedAt.UTC(),
		})
	}
	if err := rows.Err(); err != nil {
		return app.CustomerOrders{}, readFailed("customer orders", err)
	}
	if !customerFound {
		return app.CustomerOrders{}, &app.NotFoundError{Kind: "customer", ID: customerID}
	}
	return out, nil
}

func notFound(err error, kind, id string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return &app.NotFoundError{Kind: kind, ID: id}
	}
	if err != nil {
		return readFailed(kind, err)
	}
	return nil
}

// ProductStock reads a product's live stock level and version.
func (r reads) ProductStock(ctx context.Context, id string) (app.StockLevel, error) {
	var s app.StockLevel
	err := r.q.QueryRow(ctx, `SELECT stock_level, version FROM products WHERE id = $1`, id).Scan(&s.Level, &s.Version)
	return s, notFound(err, "product", id)
}

// CatalogVersion reads the catalogue's version.
func (r reads) CatalogVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := r.q.QueryRow(ctx, `SELECT version FROM catalog_version`).Scan(&v); err != nil {
		return 0, readFailed("catalog version", err)
	}
	return v, nil
}

// CustomerOrdersVersion reads the version of a customer's order summaries.
func (r reads) CustomerOrdersVersion(ctx context.Context, customerID string) (int64, error) {
	var v int64
	err := r.q.QueryRow(ctx, `SELECT orders_version FROM customers WHERE id = $1`, customerID).Scan(&v)
	return v, notFound(err, "customer", customerID)
}

// readFailed wraps a read error; one that comes from not reaching
// PostgreSQL also matches app.ErrUnavailable, so callers can serve stale
// cached values or answer 503.
func readFailed(what string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("read %s: %w: %w", what, app.ErrUnavailable, err)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

// unreachable tells failures to reach PostgreSQL (refused or broken
// connections, timeouts, a server shutting down) from query errors.
func unreachable(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		// 57P01-03: admin shutdown, crash shutdown, cannot connect now; class 08: connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P0") || strings.HasPrefix(pgErr.Code, "08")
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		// A pooled connection whose server died under it (make faults: a
		// killed PostgreSQL answered 500 here instead of 503).
		errors.Is(err, pgconn.ErrConnClosed):
		return true
	}
	return false
}

// OrderCustomer names the customer who placed an order.
func (r reads) OrderCustomer(ctx context.Context, orderID string) (string, error) {
	var id string
	err := r.q.QueryRow(ctx, `SELECT customer_id::text FROM orders WHERE id = $1`, orderID).Scan(&id)
	return id, notFound(err, "order", orderID)
}
